#pragma once
// The AppTest fixture: an App config keeping all state in a per-process temp directory,
// every listener on a free loopback port. Shared by the app tests.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "app/app.h"
#include "config/config.h"

namespace keel::app {

class AppTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("keel_app_test_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    auto c = config::ParseConfig(
        "listen_addr: 127.0.0.1:0\nmetrics_listen_addr: 127.0.0.1:0\n"
        "unix_socket: " + (dir_ / "run" / "keel.sock").string() + "\n"
        "private_key_path: " + (dir_ / "private.key").string() + "\n"
        "noise:\n  private_key_path: " + (dir_ / "noise.key").string() + "\n"
        "database:\n  sqlite:\n    path: " + (dir_ / "db" / "keel.sqlite").string() + "\n"
        "derp:\n  server:\n    private_key_path: " + (dir_ / "derp" / "derp.key").string() + "\n"
        "    listen_addr: 127.0.0.1:0\n    stun_listen_addr: 127.0.0.1:0\n");
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

}  // namespace keel::app
