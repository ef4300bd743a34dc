#include "api/admin_api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/api_test_fixture.h"
#include "crypto/x25519.h"

namespace keel::api {
namespace {

using nlohmann::json;

class AdminApiTest : public testing::ApiTest {
 protected:
  // Registers a node with a fresh pre-auth key of `user`; returns its id.
  model::NodeId AddNode(const std::string& user, const std::string& hostname) {
    auto key = tailnet_->CreatePreAuthKey(user, false, false, ZeroTime()).value();
    tailnet::RegisterInput in;
    in.machine_key = crypto::MachinePublic(
        crypto::PublicFromPrivate(crypto::GeneratePrivateKey()));
    in.node_key = crypto::NodePublic(crypto::PublicFromPrivate(crypto::GeneratePrivateKey()));
    in.auth_key = key.secret_text;
    in.hostname = hostname;
    in.hostinfo_json = json{{"Hostname", hostname}}.dump();
    auto out = tailnet_->Register(in).value();
    EXPECT_EQ(out.kind, tailnet::RegisterOutcome::Kind::kAuthorized) << out.error;
    return out.node.value().id;
  }
};

TEST(StatusForTest, MapsEveryErrc) {
  EXPECT_EQ(StatusFor(Errc::kInvalidArgument), 400);
  EXPECT_EQ(StatusFor(Errc::kNotFound), 404);
  EXPECT_EQ(StatusFor(Errc::kAlreadyExists), 409);
  EXPECT_EQ(StatusFor(Errc::kFailedPrecondition), 409);
  EXPECT_EQ(StatusFor(Errc::kInternal), 500);
  auto r = ErrorResponse(MakeError(Errc::kNotFound, "nope"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(json::parse(r.body), (json{{"error", "nope"}}));
}

TEST_F(AdminApiTest, Users) {
  auto r = Call("POST", "/api/v1/user", R"({"name":"alice","email":"alice@example.com"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body["name"], "alice");
  EXPECT_EQ(r.body["email"], "alice@example.com");
  EXPECT_TRUE(r.body["created"].is_string());

  EXPECT_EQ(Call("POST", "/api/v1/user", R"({"name":"alice"})").status, 409);
  EXPECT_EQ(Call("POST", "/api/v1/user", R"({"email":"x@y"})").status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/user", R"({"name":5})").status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/user", "not json").status, 400);
  EXPECT_EQ(Call("PUT", "/api/v1/user").status, 405);

  r = Call("GET", "/api/v1/user");
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.body.size(), 1u);
  EXPECT_EQ(r.body[0]["name"], "alice");

  EXPECT_EQ(Call("DELETE", "/api/v1/user/alice").status, 200);
  r = Call("DELETE", "/api/v1/user/alice");
  EXPECT_EQ(r.status, 404);
  EXPECT_TRUE(r.body["error"].is_string());
  EXPECT_EQ(Call("GET", "/api/v1/user").body.size(), 0u);
  EXPECT_EQ(Call("GET", "/api/v1/nothing").status, 404);
}

TEST_F(AdminApiTest, PreAuthKeys) {
  ASSERT_EQ(Call("POST", "/api/v1/user", R"({"name":"bob"})").status, 200);
  auto r = Call("POST", "/api/v1/preauthkey",
                R"({"user":"bob","reusable":true,"expiration":"2200-01-01T00:00:00Z"})");
  ASSERT_EQ(r.status, 200) << r.body;
  std::string key = r.body["key"];
  EXPECT_FALSE(key.empty());
  EXPECT_EQ(r.body["user"], "bob");
  EXPECT_EQ(r.body["reusable"], true);
  EXPECT_EQ(r.body["expiration"], "2200-01-01T00:00:00Z");

  EXPECT_EQ(Call("POST", "/api/v1/preauthkey", R"({"user":"nobody"})").status, 404);
  EXPECT_EQ(Call("POST", "/api/v1/preauthkey", R"({"user":"bob","expiration":"soon"})").status,
            400);
  EXPECT_EQ(Call("POST", "/api/v1/preauthkey", R"({"user":"bob","tags":"tag:x"})").status, 400);

  r = Call("GET", "/api/v1/preauthkey?user=bob");
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.body.size(), 1u);
  EXPECT_EQ(r.body[0]["expired"], false);
  EXPECT_FALSE(r.body[0].contains("key"));  // the secret is shown only at creation
  EXPECT_EQ(Call("GET", "/api/v1/preauthkey?user=nobody").status, 404);

  EXPECT_EQ(Call("POST", "/api/v1/preauthkey/expire", json{{"key", key}}.dump()).status, 200);
  r = Call("GET", "/api/v1/preauthkey");
  ASSERT_EQ(r.body.size(), 1u);
  EXPECT_EQ(r.body[0]["expired"], true);
  EXPECT_EQ(Call("POST", "/api/v1/preauthkey/expire", R"({"key":"keel-auth-nope"})").status,
            404);
}

TEST_F(AdminApiTest, Nodes) {
  ASSERT_TRUE(tailnet_->CreateUser("carol"));
  model::NodeId id = AddNode("carol", "laptop");
  AddNode("carol", "phone");

  auto r = Call("GET", "/api/v1/node");
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.body.size(), 2u);
  const json& n = r.body[0];
  EXPECT_EQ(n["id"], id);
  EXPECT_EQ(n["hostname"], "laptop");
  EXPECT_EQ(n["name"], "laptop");
  EXPECT_EQ(n["user"], "carol");
  EXPECT_EQ(n["ip_addresses"].size(), 2u);
  EXPECT_EQ(n["online"], false);
  EXPECT_TRUE(n["last_seen"].is_null() || n["last_seen"].is_string());
  EXPECT_TRUE(n["machine_key"].get<std::string>().starts_with("mkey:"));
  EXPECT_TRUE(n["node_key"].get<std::string>().starts_with("nodekey:"));

  std::string base = "/api/v1/node/" + std::to_string(id);
  r = Call("POST", base + "/rename/work-laptop");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body["given_name"], "work-laptop");
  EXPECT_EQ(Call("POST", base + "/rename/phone").status, 409);
  EXPECT_EQ(Call("POST", base + "/rename/Not_A_Label!").status, 400);

  r = Call("POST", base + "/expire");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body["expired"], true);
  EXPECT_TRUE(r.body["expiry"].is_string());

  EXPECT_EQ(Call("DELETE", "/api/v1/user/carol").status, 409);  // still owns nodes
  EXPECT_EQ(Call("GET", base).status, 405);
  EXPECT_EQ(Call("DELETE", "/api/v1/node/abc").status, 400);
  EXPECT_EQ(Call("DELETE", base).status, 200);
  EXPECT_EQ(Call("DELETE", base).status, 404);
  EXPECT_EQ(Call("POST", base + "/expire").status, 404);
  EXPECT_EQ(Call("GET", "/api/v1/node").body.size(), 1u);
}

}  // namespace
}  // namespace keel::api
