// policy.path at start: a good file is applied, a bad one stops the start with its reason.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "app/app.h"
#include "config/config.h"

namespace keel::app {
namespace {

config::Config TestConfig(const std::filesystem::path& dir, const std::string& policy_path) {
  auto c = config::ParseConfig(
      "listen_addr: 127.0.0.1:0\nmetrics_listen_addr: 127.0.0.1:0\n"
      "unix_socket: " + (dir / "keel.sock").string() + "\n"
      "private_key_path: " + (dir / "private.key").string() + "\n"
      "noise:\n  private_key_path: " + (dir / "noise.key").string() + "\n"
      "database:\n  sqlite:\n    path: " + (dir / "keel.sqlite").string() + "\n"
      "derp:\n  server:\n    enabled: false\n"
      "policy:\n  path: " + policy_path + "\n");
  EXPECT_TRUE(c) << c.error().message;
  return *c;
}

TEST(AppPolicy, BadPolicyFileRefusesStartGoodOneStarts) {
  auto dir = std::filesystem::temp_directory_path() / ("keel_app_policy_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto path = (dir / "policy.hujson").string();
  Options o;
  o.handle_signals = false;
  std::ofstream(path) << R"({"acls": [{"action": "accept", "src": ["group:missing"], "dst": ["*:*"]}]})";
  auto bad = App::Create(TestConfig(dir, path), o);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("policy.path"), std::string::npos) << bad.error().message;
  std::ofstream(path) << R"({"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]})";
  auto good = App::Create(TestConfig(dir, path), o);
  ASSERT_TRUE(good) << good.error().message;
  good->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace keel::app
