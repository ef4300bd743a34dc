// The /api/v1/policy endpoints: read, replace (database mode), refuse in file mode, check.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/admin_api.h"
#include "api/api_test_fixture.h"

namespace keel::api {
namespace {

using nlohmann::json;

constexpr const char* kPolicy = R"({"acls": [{"action": "accept", "src": ["alice@"], "dst": ["alice@:*"]}]})";

class PolicyApiTest : public testing::ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    ASSERT_TRUE(tailnet_->CreateUser("alice"));
  }
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
  EXPECT_TRUE(b2["updatedAt"].is_string());
  auto bad = json{{"policy", R"({"acls": [{"action": "accept", "src": ["group:x"], "dst": ["*:*"]}]})"}}.dump();
  auto [s3, b3] = Call("PUT", "/api/v1/policy", bad);
  EXPECT_EQ(s3, 400);
  EXPECT_FALSE(b3["detail"].get<std::string>().empty());
  EXPECT_EQ(Call("GET", "/api/v1/policy").body["policy"], kPolicy);  // old one stays
  EXPECT_EQ(Call("POST", "/api/v1/policy/check", bad).status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/policy/check", json{{"policy", kPolicy}}.dump()).status, 200);
  EXPECT_EQ(Call("PUT", "/api/v1/policy", "{}").status, 400);
}

TEST_F(PolicyApiTest, FileModeRefusesPut) {
  api_->SetPolicyFileMode("/etc/keel/policy.hujson");
  auto [s, b] = Call("PUT", "/api/v1/policy", json{{"policy", kPolicy}}.dump());
  EXPECT_EQ(s, 409);
  EXPECT_NE(b["detail"].get<std::string>().find("/etc/keel/policy.hujson"), std::string::npos);
  EXPECT_EQ(tailnet_->snapshot()->policy, nullptr);
  EXPECT_EQ(Call("POST", "/api/v1/policy/check", json{{"policy", kPolicy}}.dump()).status, 200);
}

}  // namespace
}  // namespace keel::api
