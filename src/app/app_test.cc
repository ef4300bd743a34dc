#include "app/app_test_fixture.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <fstream>

#include "crypto/x25519.h"
#include "derp/stun.h"
#include "derp/test_client.h"

namespace keel::app {
namespace {

namespace bhttp = boost::beast::http;
using boost::asio::ip::tcp;

bhttp::response<bhttp::string_body> GetHealth(uint16_t port, const char* path = "/health") {
  boost::asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  bhttp::request<bhttp::string_body> req(bhttp::verb::get, path, 11);
  req.set(bhttp::field::host, "localhost");
  bhttp::write(socket, req);
  boost::beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(socket, buffer, res);
  return res;
}

TEST_F(AppTest, StartsServesHealthAndStops) {
  auto app = App::Create(config_, TestOptions());
  ASSERT_TRUE(app) << app.error().message;
  EXPECT_NE((*app)->http_port(), 0);
  EXPECT_TRUE(std::filesystem::exists(dir_ / "noise.key"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "private.key"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "db" / "keel.sqlite"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "run" / "keel.sock"));
  (*app)->Start();

  auto res = GetHealth((*app)->http_port());
  EXPECT_EQ(res.result_int(), 200);
  // Headscale's health document, with the database checked.
  EXPECT_EQ(res.body(), "{\"status\":\"pass\"}\n");
  EXPECT_EQ(res[boost::beast::http::field::content_type], "application/health+json; charset=utf-8");
  // Prometheus metrics on their own listener, every series there from the start.
  ASSERT_NE((*app)->metrics_port(), 0);
  auto metrics = GetHealth((*app)->metrics_port(), "/metrics");
  EXPECT_EQ(metrics.result_int(), 200);
  for (const char* line : {"keel_nodes{state=\"registered\"} 0", "keel_map_streams 0",
                           "keel_registrations_total{outcome=\"authorized\"}",
                           "keel_noise_handshakes_total{result=\"failed\"}",
                           "keel_store_transaction_seconds_count", "keel_policy_compile_seconds_count",
                           "keel_derp_clients 0", "keel_stun_requests_total"}) {
    EXPECT_NE(metrics.body().find(line), std::string::npos) << line;
  }

  (*app)->Stop();
  (*app)->Wait();
  EXPECT_FALSE(std::filesystem::exists(dir_ / "run" / "keel.sock"));

  // A second start reuses the keys and the database.
  std::string noise_before;
  std::getline(std::ifstream(dir_ / "noise.key"), noise_before);
  app->reset();
  auto again = App::Create(config_, TestOptions());
  ASSERT_TRUE(again) << again.error().message;
  std::string noise_after;
  std::getline(std::ifstream(dir_ / "noise.key"), noise_after);
  EXPECT_EQ(noise_before, noise_after);
}

TEST_F(AppTest, DestructorStopsARunningApp) {
  auto app = App::Create(config_, TestOptions());
  ASSERT_TRUE(app) << app.error().message;
  (*app)->Start();
  EXPECT_EQ(GetHealth((*app)->http_port()).result_int(), 200);
}

TEST_F(AppTest, RefusesGarbageKeyFile) {
  std::filesystem::create_directories(dir_);
  std::ofstream(dir_ / "noise.key") << "not a key\n";
  auto app = App::Create(config_, TestOptions());
  ASSERT_FALSE(app);
  EXPECT_NE(app.error().message.find("noise.private_key_path"), std::string::npos);
}

TEST_F(AppTest, RefusesSameKeyTwice) {
  std::filesystem::create_directories(dir_);
  std::string text = crypto::GeneratePrivateKey().ToText();
  std::ofstream(dir_ / "noise.key") << text;
  std::ofstream(dir_ / "private.key") << text;
  auto app = App::Create(config_, TestOptions());
  ASSERT_FALSE(app);
  EXPECT_NE(app.error().message.find("must differ"), std::string::npos);
}

TEST_F(AppTest, RefusesPortInUse) {
  auto first = App::Create(config_, TestOptions());
  ASSERT_TRUE(first) << first.error().message;
  config::Config second_config = config_;
  second_config.listen_addr.port = (*first)->http_port();
  second_config.unix_socket = (dir_ / "other.sock").string();
  second_config.database.sqlite.path = (dir_ / "other.sqlite").string();
  auto second = App::Create(second_config, TestOptions());
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("listen_addr"), std::string::npos);
}

TEST_F(AppTest, SecondKeelOnTheSameDatabaseRefusesToStart) {
  auto first = App::Create(config_, TestOptions());
  ASSERT_TRUE(first) << first.error().message;
  (*first)->Start();
  config::Config second_config = config_;  // other ports and socket, the same database
  second_config.listen_addr.port = 0;
  second_config.unix_socket = (dir_ / "other.sock").string();
  auto second = App::Create(second_config, TestOptions());
  ASSERT_FALSE(second);
  const std::string& message = second.error().message;
  EXPECT_NE(message.find("another keel (pid " + std::to_string(::getpid()) + ") is serving the database"),
            std::string::npos) << message;
  EXPECT_NE(message.find("keel.sqlite"), std::string::npos) << message;
  EXPECT_EQ(GetHealth((*first)->http_port()).result_int(), 200);  // the first keeps serving
  first->reset();
  EXPECT_TRUE(App::Create(second_config, TestOptions())) << "the lock goes with the first keel";
}

TEST_F(AppTest, EmbeddedDerpIsOnByDefault) {
  auto app = App::Create(config_, TestOptions());
  ASSERT_TRUE(app) << app.error().message;
  App& a = **app;
  ASSERT_NE(a.derp_port(), 0);
  ASSERT_NE(a.stun_port(), 0);
  auto key_path = dir_ / "derp" / "derp.key";
  ASSERT_TRUE(std::filesystem::exists(key_path));
  EXPECT_EQ(std::filesystem::status(key_path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::string derp_key, noise_key;
  std::getline(std::ifstream(key_path), derp_key);
  std::getline(std::ifstream(dir_ / "noise.key"), noise_key);
  EXPECT_NE(derp_key, noise_key);

  const auto& region = a.derp_map()["Regions"]["999"];
  EXPECT_EQ(region["RegionCode"], "keel");
  const auto& node = region["Nodes"][0];
  EXPECT_EQ(node["DERPPort"], a.derp_port());
  EXPECT_EQ(node["STUNPort"], a.stun_port());
  EXPECT_EQ(node["IPv4"], "127.0.0.1");
  EXPECT_EQ(node["IPv6"], "none");
  EXPECT_EQ(node["HostName"], "127.0.0.1");
  EXPECT_TRUE(node["CertName"].get<std::string>().starts_with("sha256-raw:"));
  a.Start();

  // An unregistered node key is refused.
  boost::asio::ssl::context tls(boost::asio::ssl::context::tls_client);
  tls.set_verify_mode(boost::asio::ssl::verify_none);
  auto server_pub = crypto::PublicFromPrivate(crypto::PrivateKey::Parse(derp_key).value());
  derp::testing::TestClient stranger(a.derp_port(), &tls);
  EXPECT_FALSE(stranger.Connect(server_pub));

  // STUN answers on the advertised port.
  boost::asio::io_context io;
  boost::asio::ip::udp::socket udp(io, boost::asio::ip::udp::v4());
  derp::StunTxId tx{};
  tx[0] = 7;
  auto loopback = boost::asio::ip::make_address("127.0.0.1");
  udp.send_to(boost::asio::buffer(derp::BuildStunBindingRequest(tx)),
              boost::asio::ip::udp::endpoint(loopback, a.stun_port()));
  uint8_t reply[512];
  size_t n = udp.receive(boost::asio::buffer(reply));
  EXPECT_GT(n, 20u);
  EXPECT_TRUE(std::equal(tx.begin(), tx.end(), reply + 8));
  a.Stop();
  a.Wait();
}

TEST_F(AppTest, EmbeddedDerpWithoutVerificationAdmitsAnyone) {
  config_.derp.server.verify_clients = false;
  auto app = App::Create(config_, TestOptions());
  ASSERT_TRUE(app) << app.error().message;
  (*app)->Start();
  std::string derp_key;
  std::getline(std::ifstream(dir_ / "derp" / "derp.key"), derp_key);
  auto server_pub = crypto::PublicFromPrivate(crypto::PrivateKey::Parse(derp_key).value());
  boost::asio::ssl::context tls(boost::asio::ssl::context::tls_client);
  tls.set_verify_mode(boost::asio::ssl::verify_none);
  derp::testing::TestClient a((*app)->derp_port(), &tls);
  ASSERT_TRUE(a.Connect(server_pub));
  derp::testing::TestClient b((*app)->derp_port(), &tls);
  ASSERT_TRUE(b.Connect(server_pub, /*fast_start=*/true));
  ASSERT_TRUE(a.Send(b.public_key(), Bytes{1, 2, 3}));
  auto f = b.ReadNonKeepAlive();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type, 0x05);
}

TEST_F(AppTest, DerpMapMergesFilesAndEmbeddedRegion) {
  std::filesystem::create_directories(dir_);
  auto map_path = dir_ / "derp.yaml";
  std::ofstream(map_path) << "regions:\n"
                             "  1:\n    regionid: 1\n    regioncode: one\n    regionname: One\n"
                             "    nodes:\n      - name: 1a\n        regionid: 1\n"
                             "        hostname: derp1.example.com\n        derpport: 443\n"
                             "  999:\n    regionid: 999\n    regioncode: old\n    regionname: Old\n"
                             "    nodes:\n      - name: x\n        regionid: 999\n"
                             "        hostname: old.example.com\n";
  config_.derp.paths = {map_path.string()};
  {
    auto app = App::Create(config_, TestOptions());
    ASSERT_TRUE(app) << app.error().message;
    const auto& regions = (*app)->derp_map()["Regions"];
    EXPECT_EQ(regions.size(), 2u);
    EXPECT_TRUE(regions.contains("1"));
    EXPECT_EQ(regions["999"]["RegionCode"], "keel");
  }
  config_.derp.server.drop_other_regions = true;
  {
    auto app = App::Create(config_, TestOptions());
    ASSERT_TRUE(app) << app.error().message;
    EXPECT_EQ((*app)->derp_map()["Regions"].size(), 1u);
  }
  config_.derp.server.drop_other_regions = false;
  config_.derp.server.enabled = false;
  auto app = App::Create(config_, TestOptions());
  ASSERT_TRUE(app) << app.error().message;
  EXPECT_EQ((*app)->derp_port(), 0);
  EXPECT_EQ((*app)->derp_map()["Regions"].size(), 2u);
  EXPECT_EQ((*app)->derp_map()["Regions"]["999"]["RegionCode"], "old");
}

TEST_F(AppTest, ReloadDerpMapPicksUpChangedFilesAndKeepsOldOnError) {
  std::filesystem::create_directories(dir_);
  auto map_path = dir_ / "derp.yaml";
  auto write_region = [&](const std::string& code) {
    std::ofstream(map_path) << "regions:\n  1:\n    regionid: 1\n    regioncode: " << code
                            << "\n    regionname: One\n    nodes:\n      - name: 1a\n"
                               "        regionid: 1\n        hostname: derp1.example.com\n";
  };
  write_region("one");
  config_.derp.paths = {map_path.string()};
  auto app = App::Create(config_, TestOptions());
  ASSERT_TRUE(app) << app.error().message;
  EXPECT_EQ((*app)->derp_map()["Regions"]["1"]["RegionCode"], "one");
  write_region("uno");
  ASSERT_TRUE((*app)->ReloadDerpMap());
  EXPECT_EQ((*app)->derp_map()["Regions"]["1"]["RegionCode"], "uno");
  EXPECT_EQ((*app)->derp_map()["Regions"]["999"]["RegionCode"], "keel");
  std::ofstream(map_path) << "regions: [not, a, map";
  EXPECT_FALSE((*app)->ReloadDerpMap());
  EXPECT_EQ((*app)->derp_map()["Regions"]["1"]["RegionCode"], "uno");
}

TEST_F(AppTest, RefusesDerpKeyEqualToNoiseKey) {
  std::filesystem::create_directories(dir_ / "derp");
  std::string text = crypto::GeneratePrivateKey().ToText();
  std::ofstream(dir_ / "noise.key") << text;
  std::ofstream(dir_ / "derp" / "derp.key") << text;
  auto app = App::Create(config_, TestOptions());
  ASSERT_FALSE(app);
  EXPECT_NE(app.error().message.find("derp.server.private_key_path"), std::string::npos);
}

TEST_F(AppTest, MeshKeyFromFile) {
  std::filesystem::create_directories(dir_);
  config_.derp.server.mesh_key_path = (dir_ / "mesh.key").string();
  std::ofstream(dir_ / "mesh.key") << "  not-a-mesh-key\n";
  auto bad = App::Create(config_, TestOptions());
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("derp.server.mesh_key_path"), std::string::npos)
      << bad.error().message;
  std::ofstream(dir_ / "mesh.key", std::ios::trunc) << std::string(64, 'a') << "\n";
  auto good = App::Create(config_, TestOptions());
  ASSERT_TRUE(good) << good.error().message;
  good->reset();  // one keel per database
  config_.derp.server.mesh_key_path = (dir_ / "missing.key").string();
  auto missing = App::Create(config_, TestOptions());
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("missing.key"), std::string::npos)
      << missing.error().message;
}

}  // namespace
}  // namespace keel::app
