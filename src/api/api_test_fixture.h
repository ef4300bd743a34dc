#pragma once
// Test-only: the fixture the admin API tests share. A Tailnet on a fresh SQLite store in a
// temporary directory, its ApiKeys, an AdminApi over both, and Call(), which runs one request to completion
// on the test's thread (blocking Tailnet calls go to a 2-thread pool).

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

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
    keys_ = std::make_unique<ApiKeys>(*store_, clock_);
    ASSERT_TRUE(keys_->Load());
    api_ = std::make_unique<AdminApi>(*tailnet_, *keys_, pool_, clock_, GetLogger("api"));
  }
  void TearDown() override {
    api_.reset();
    keys_.reset();
    tailnet_.reset();
    store_.reset();
    pool_.join();
    std::filesystem::remove_all(dir_);
  }

  // `target` may carry a query string ("/api/v1/preauthkey?user=bob"). With `bearer` the
  // request comes as over TCP: it must carry that API key ("" sends no header).
  Reply Call(std::string method, std::string target, std::string body = "",
             std::optional<std::string> bearer = std::nullopt) {
    http::Request req;
    req.method = std::move(method);
    req.target = target;
    size_t q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos) req.query = target.substr(q + 1);
    req.body = std::move(body);
    if (bearer && !bearer->empty()) req.headers.emplace_back("Authorization", "Bearer " + *bearer);
    auto f = boost::asio::co_spawn(io_, api_->Handle(std::move(req), bearer.has_value()),
                                   boost::asio::use_future);
    while (f.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
      io_.restart();
      io_.run_for(std::chrono::milliseconds(10));
    }
    http::Response r = f.get();
    last_content_type_.clear();
    for (const auto& [name, value] : r.headers) {
      if (name == "Content-Type") last_content_type_ = value;
    }
    return {r.status, nlohmann::json::parse(r.body, nullptr, false)};
  }

  std::filesystem::path dir_;
  RealClock clock_;
  boost::asio::io_context io_;
  boost::asio::thread_pool pool_{2};
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<tailnet::Tailnet> tailnet_;
  std::unique_ptr<ApiKeys> keys_;
  std::unique_ptr<AdminApi> api_;
  std::string last_content_type_;  // of the last Call's response
};

}  // namespace keel::api::testing
