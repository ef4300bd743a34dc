// ControlServer in-process: a real http::Server on 127.0.0.1:0, a real Tailnet over an
// in-memory SQLite store, and test clients speaking /key, /ts2021, Noise and HTTP/2.

#include "control/server.h"

// GCC 12 reports a false mismatched-new-delete on coroutine lambdas (asio's frame allocator).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "base/log.h"
#include "control/test_client.h"
#include "crypto/x25519.h"
#include "store/sqlite_store.h"

namespace keel::control {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using nlohmann::json;
using testing::H2Client;

// ASSERT_* returns, which a coroutine may not; this ends the coroutine instead.
#define CO_ASSERT(cond)                          \
  do {                                           \
    if (!(cond)) {                               \
      ADD_FAILURE() << "assertion failed: " #cond; \
      co_return;                                 \
    }                                            \
  } while (0)

std::string RegisterBody(const crypto::NodePublic& key, const std::string& auth, const std::string& host,
                         int version = 145) {
  json j = {{"Version", version}, {"NodeKey", key.ToText()}, {"Auth", {{"AuthKey", auth}}},
            {"Expiry", "0001-01-01T00:00:00Z"}, {"Hostinfo", {{"Hostname", host}, {"OS", "linux"}}}};
  return j.dump();
}

std::string MapBody(const crypto::NodePublic& key, bool stream) {
  json j = {{"Version", 145}, {"NodeKey", key.ToText()}, {"DiscoKey", "discokey:" + std::string(63, '0') + "7"},
            {"Compress", "zstd"}, {"KeepAlive", true}, {"Stream", stream}, {"OmitPeers", !stream},
            {"Endpoints", {"198.51.100.7:41641"}},
            {"Hostinfo", {{"Hostname", "laptop"}, {"NetInfo", {{"PreferredDERP", 900}}}}}};
  return j.dump();
}

class ControlServerTest : public ::testing::Test {
 protected:
  ControlServerTest() {
    store_ = store::SqliteStore::Open(":memory:").value();
    tailnet_ = std::make_unique<tailnet::Tailnet>(tailnet::Settings{}, *store_, clock_, GetLogger("tailnet"));
    tailnet_->Load().value();
    tailnet_->CreateUser("alice", "Alice", "alice@example.com").value();
    auth_key_ = tailnet_->CreatePreAuthKey("alice", true, false, ZeroTime()).value().secret_text;
    Settings s;
    s.derp_map = json::parse(R"({"Regions":{"900":{"RegionID":900,"RegionCode":"own","Nodes":[]}}})");
    keys_.noise = crypto::GeneratePrivateKey();
    keys_.legacy = crypto::GeneratePrivateKey();
    control_ = std::make_unique<ControlServer>(s, keys_, *tailnet_, pool_, io_.get_executor(), GetLogger("control"));
    control_->RegisterRoutes(router_);
    server_ = std::make_unique<http::Server>(io_.get_executor(), router_, http::ServerSettings{}, GetLogger("http"));
    port_ = server_->ListenTcp("127.0.0.1", 0).value();
  }
  ~ControlServerTest() override {
    control_->Shutdown();
    server_->Stop();
    pool_.join();
  }

  // Runs `body` on the I/O thread to completion (or a 20 s deadline).
  void Run(std::function<awaitable<void>()> body) {
    bool finished = false;
    asio::co_spawn(io_, [&]() -> awaitable<void> {
      co_await body();
      finished = true;
      io_.stop();
    }, [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
    io_.run_for(std::chrono::seconds(20));
    EXPECT_TRUE(finished) << "timed out";
  }

  crypto::MachinePublic ControlPublic() { return crypto::MachinePublic(crypto::PublicFromPrivate(keys_.noise)); }

  RealClock clock_;
  asio::io_context io_;
  asio::thread_pool pool_{1};
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<tailnet::Tailnet> tailnet_;
  std::string auth_key_;
  ServerKeys keys_;
  std::unique_ptr<ControlServer> control_;
  http::Router router_;
  std::unique_ptr<http::Server> server_;
  uint16_t port_ = 0;
};

TEST_F(ControlServerTest, KeyEndpoint) {
  Run([&]() -> awaitable<void> {
    auto [status, body] = co_await testing::HttpGet(port_, "/key?v=145");
    EXPECT_EQ(status, 200);
    json j = json::parse(body);
    EXPECT_EQ(j["publicKey"], ControlPublic().ToText());
    EXPECT_NE(j["legacyPublicKey"], j["publicKey"]);
    EXPECT_NE(j["legacyPublicKey"], "mkey:" + std::string(64, '0'));
    EXPECT_EQ((co_await testing::HttpGet(port_, "/key")).first, 400);
    EXPECT_EQ((co_await testing::HttpGet(port_, "/key?v=abc")).first, 400);
    auto old = co_await testing::HttpGet(port_, "/key?v=30");
    EXPECT_EQ(old.first, 400);
    EXPECT_NE(old.second.find("too old"), std::string::npos);
  });
}

TEST_F(ControlServerTest, RegisterAndMapStreamWithPeerDelta) {
  Run([&]() -> awaitable<void> {
    auto machine_a = crypto::GeneratePrivateKey();
    crypto::NodePublic node_a(crypto::PublicFromPrivate(crypto::GeneratePrivateKey()));
    std::string early;
    auto conn_a = co_await testing::DialNoise(port_, machine_a, ControlPublic(), 145, &early);
    CO_ASSERT(conn_a);
    EXPECT_EQ(early.substr(0, 5), "\xff\xff\xffTS");
    EXPECT_NE(early.find("chalpub:"), std::string::npos);
    H2Client a(std::move(conn_a));

    // Junk and refusals first: nothing is stored.
    int32_t junk = a.Post("/machine/register", "{not json");
    int32_t old = a.Post("/machine/register", RegisterBody(node_a, auth_key_, "old", 95));
    int32_t unknown_map = a.Post("/machine/map", MapBody(node_a, false));
    int32_t bad_key = a.Post("/machine/register", RegisterBody(node_a, "keel-auth-nope", "a"));
    co_await a.PumpUntil([&] {
      return a.stream(junk).closed && a.stream(old).closed && a.stream(unknown_map).closed && a.stream(bad_key).closed;
    });
    EXPECT_EQ(a.stream(junk).status, 400);
    EXPECT_EQ(a.stream(old).status, 400);
    EXPECT_NE(a.stream(old).body.find("95 (Tailscale v1.66) is too old"), std::string::npos) << a.stream(old).body;
    EXPECT_EQ(a.stream(unknown_map).status, 404);
    EXPECT_EQ(a.stream(bad_key).status, 200);
    EXPECT_NE(json::parse(a.stream(bad_key).body)["Error"], "");
    EXPECT_TRUE(tailnet_->snapshot()->nodes.empty());

    int32_t reg = a.Post("/machine/register", RegisterBody(node_a, auth_key_, "laptop"));
    co_await a.PumpUntil([&] { return a.stream(reg).closed; });
    CO_ASSERT(a.stream(reg).status == 200);
    json rr = json::parse(a.stream(reg).body);
    EXPECT_EQ(rr["Error"], "");
    EXPECT_EQ(rr["MachineAuthorized"], true);
    EXPECT_EQ(rr["Login"]["LoginName"], "alice@example.com");

    int32_t map = a.Post("/machine/map", MapBody(node_a, true));
    co_await a.PumpUntil([&] { return !testing::DecodeFrames(a.stream(map).body).empty(); });
    auto frames = testing::DecodeFrames(a.stream(map).body);
    CO_ASSERT(a.stream(map).status == 200 && !frames.empty());
    json first = frames[0];
    EXPECT_EQ(first["Node"]["Key"], node_a.ToText());
    EXPECT_EQ(first["Node"]["MachineAuthorized"], true);
    EXPECT_EQ(first["Node"]["Name"], "laptop.keel.internal.");
    EXPECT_EQ(first["DERPMap"]["Regions"]["900"]["RegionCode"], "own");
    EXPECT_FALSE(first.contains("Peers"));

    // A second machine registers; A's stream gets it as PeersChanged.
    auto machine_b = crypto::GeneratePrivateKey();
    crypto::NodePublic node_b(crypto::PublicFromPrivate(crypto::GeneratePrivateKey()));
    auto conn_b = co_await testing::DialNoise(port_, machine_b, ControlPublic(), 145, &early);
    CO_ASSERT(conn_b);
    H2Client b(std::move(conn_b));
    int32_t reg_b = b.Post("/machine/register", RegisterBody(node_b, auth_key_, "nas"));
    co_await b.PumpUntil([&] { return b.stream(reg_b).closed; });
    EXPECT_EQ(json::parse(b.stream(reg_b).body)["MachineAuthorized"], true);

    // B may not poll with A's node key.
    int32_t stolen = b.Post("/machine/map", MapBody(node_a, false));
    co_await b.PumpUntil([&] { return b.stream(stolen).closed; });
    EXPECT_EQ(b.stream(stolen).status, 403);

    auto has_b = [&] {
      for (const auto& f : testing::DecodeFrames(a.stream(map).body)) {
        if (f.contains("PeersChanged") && f["PeersChanged"][0]["Key"] == node_b.ToText()) return true;
      }
      return false;
    };
    EXPECT_TRUE(co_await a.PumpUntil(has_b));
    a.Close();
    b.Close();
  });
}

}  // namespace
}  // namespace keel::control
