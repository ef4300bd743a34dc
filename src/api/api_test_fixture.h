#pragma once
// Test-only: the fixture the admin API tests share. A Tailnet on a fresh SQLite store in a
// temporary directory, an AdminApi over it, and Call(), which runs one request to completion
// on the test's thread (blocking Tailnet calls go to a 2-thread pool).

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "api/admin_api.h"
#include "base/log.h"
#include "store/sqlite_store.h"

namespace keel::api::testing {

struct Reply {
  int status;
  nlohmann::json body;
};

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("keel_api_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    store_ = store::SqliteStore::Open((dir_ / "db.sqlite").string()).value();
    tailnet_ = std::make_unique<tailnet::Tailnet>(tailnet::Settings{}, *store_, clock_,
                                                  GetLogger("tailnet"));
    ASSERT_TRUE(tailnet_->Load());
    api_ = std::make_unique<AdminApi>(*tailnet_, pool_, clock_, GetLogger("api"));
  }
  void TearDown() override {
    api_.reset();
    tailnet_.reset();
    store_.reset();
    pool_.join();
    std::filesystem::remove_all(dir_);
  }

  // `target` may carry a query string ("/api/v1/preauthkey?user=bob").
  Reply Call(std::string method, std::string target, std::string body = "") {
    http::Request req;
    req.method = std::move(method);
    req.target = target;
    size_t q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos) req.query = target.substr(q + 1);
    req.body = std::move(body);
    auto f = boost::asio::co_spawn(io_, api_->Handle(std::move(req)), boost::asio::use_future);
    while (f.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
      io_.restart();
      io_.run_for(std::chrono::milliseconds(10));
    }
    http::Response r = f.get();
    return {r.status, nlohmann::json::parse(r.body)};
  }

  std::filesystem::path dir_;
  RealClock clock_;
  boost::asio::io_context io_;
  boost::asio::thread_pool pool_{2};
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<tailnet::Tailnet> tailnet_;
  std::unique_ptr<AdminApi> api_;
};

}  // namespace keel::api::testing
