#include "app/app.h"

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

namespace keel::app {
namespace {

namespace bhttp = boost::beast::http;
using boost::asio::ip::tcp;

class AppTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("keel_app_test_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    auto c = config::ParseConfig(
        "listen_addr: 127.0.0.1:0\n"
        "unix_socket: " + (dir_ / "run" / "keel.sock").string() + "\n"
        "private_key_path: " + (dir_ / "private.key").string() + "\n"
        "noise:\n  private_key_path: " + (dir_ / "noise.key").string() + "\n"
        "database:\n  sqlite:\n    path: " + (dir_ / "db" / "keel.sqlite").string() + "\n");
    ASSERT_TRUE(c) << c.error().message;
    config_ = *c;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static Options TestOptions() {
    Options o;
    o.handle_signals = false;
    o.shutdown_deadline = std::chrono::seconds(5);
    return o;
  }

  std::filesystem::path dir_;
  config::Config config_;
};

bhttp::response<bhttp::string_body> GetHealth(uint16_t port) {
  boost::asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  bhttp::request<bhttp::string_body> req(bhttp::verb::get, "/health", 11);
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
  EXPECT_EQ(res.body(), "ok");

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
  auto second = App::Create(second_config, TestOptions());
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("listen_addr"), std::string::npos);
}

}  // namespace
}  // namespace keel::app
