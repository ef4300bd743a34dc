#pragma once
// Shared fixture for the tailnet tests: a Tailnet over a SQLite file in a per-test temporary
// directory, on a clock the test moves by hand. Reopen() builds a fresh store and Tailnet over
// the same file, as after a restart. Test-only; single-threaded.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "base/clock.h"
#include "base/log.h"
#include "store/sqlite_store.h"
#include "tailnet/tailnet.h"

namespace keel::tailnet {

class FakeClock final : public Clock {
 public:
  SystemTime Now() const override { return now_; }
  void Advance(std::chrono::nanoseconds d) { now_ += d; }

 private:
  SystemTime now_ = SystemTime(std::chrono::seconds(1'800'000'000));
};

class TailnetFixture : public ::testing::Test {
 protected:
  // Subclasses adjust settings_ before calling this.
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("keel_tailnet_" + std::to_string(getpid()) + "_" + info->test_suite_name() + "_" +
            info->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    Reopen();
  }
  void TearDown() override {
    tn_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Reopen() {
    tn_.reset();
    store_.reset();
    store_ = store::SqliteStore::Open((dir_ / "keel.db").string()).value();
    auto log = GetLogger("tailnet-test");
    log->set_level(spdlog::level::warn);  // 1000-node tests would flood the output
    tn_ = std::make_unique<Tailnet>(settings_, *store_, clock_, log);
    ASSERT_TRUE(tn_->Load());
  }

  std::filesystem::path dir_;
  Settings settings_;
  FakeClock clock_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<Tailnet> tn_;
};

}  // namespace keel::tailnet
