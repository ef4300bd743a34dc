// The /api/v1/policy endpoints: read, replace (database mode), refuse in file mode, check.

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

namespace keel::api {
namespace {

using nlohmann::json;

constexpr const char* kPolicy = R"({"acls": [{"action": "accept", "src": ["alice@"], "dst": ["alice@:*"]}]})";

class PolicyApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("keel_policy_api_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    store_ = store::SqliteStore::Open((dir_ / "db.sqlite").string()).value();
    tailnet_ = std::make_unique<tailnet::Tailnet>(tailnet::Settings{}, *store_, clock_,
                                                  GetLogger("tailnet"));
    ASSERT_TRUE(tailnet_->Load());
    ASSERT_TRUE(tailnet_->CreateUser("alice"));
    api_ = std::make_unique<AdminApi>(*tailnet_, pool_, clock_, GetLogger("api"));
  }
  void TearDown() override {
    api_.reset();
    tailnet_.reset();
    store_.reset();
    pool_.join();
    std::filesystem::remove_all(dir_);
  }
  std::pair<int, json> Call(std::string method, std::string path, std::string body = "") {
    http::Request req;
    req.method = std::move(method);
    req.target = path;
    req.path = path;
    req.body = std::move(body);
    auto f = boost::asio::co_spawn(io_, api_->Handle(std::move(req)), boost::asio::use_future);
    while (f.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
      io_.restart();
      io_.run_for(std::chrono::milliseconds(10));
    }
    http::Response r = f.get();
    return {r.status, json::parse(r.body)};
  }

  std::filesystem::path dir_;
  RealClock clock_;
  boost::asio::io_context io_;
  boost::asio::thread_pool pool_{2};
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<tailnet::Tailnet> tailnet_;
  std::unique_ptr<AdminApi> api_;
};

TEST_F(PolicyApiTest, GetSetCheckInDatabaseMode) {
  auto [s0, b0] = Call("GET", "/api/v1/policy");
  EXPECT_EQ(s0, 200);
  EXPECT_EQ(b0["policy"], "");
  auto [s1, b1] = Call("PUT", "/api/v1/policy", json{{"policy", kPolicy}}.dump());
  EXPECT_EQ(s1, 200) << b1.dump();
  EXPECT_NE(tailnet_->snapshot()->policy, nullptr);
  auto [s2, b2] = Call("GET", "/api/v1/policy");
  EXPECT_EQ(b2["policy"], kPolicy);
  EXPECT_TRUE(b2["updated_at"].is_string());
  auto bad = json{{"policy", R"({"acls": [{"action": "accept", "src": ["group:x"], "dst": ["*:*"]}]})"}}.dump();
  auto [s3, b3] = Call("PUT", "/api/v1/policy", bad);
  EXPECT_EQ(s3, 400);
  EXPECT_FALSE(b3["error"].get<std::string>().empty());
  EXPECT_EQ(Call("GET", "/api/v1/policy").second["policy"], kPolicy);  // old one stays
  EXPECT_EQ(Call("POST", "/api/v1/policy/check", bad).first, 400);
  EXPECT_EQ(Call("POST", "/api/v1/policy/check", json{{"policy", kPolicy}}.dump()).first, 200);
  EXPECT_EQ(Call("PUT", "/api/v1/policy", "{}").first, 400);
}

TEST_F(PolicyApiTest, FileModeRefusesPut) {
  api_->SetPolicyFileMode("/etc/keel/policy.hujson");
  auto [s, b] = Call("PUT", "/api/v1/policy", json{{"policy", kPolicy}}.dump());
  EXPECT_EQ(s, 409);
  EXPECT_NE(b["error"].get<std::string>().find("/etc/keel/policy.hujson"), std::string::npos);
  EXPECT_EQ(tailnet_->snapshot()->policy, nullptr);
  EXPECT_EQ(Call("POST", "/api/v1/policy/check", json{{"policy", kPolicy}}.dump()).first, 200);
}

}  // namespace
}  // namespace keel::api
