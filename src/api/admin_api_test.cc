#include "api/admin_api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/api_test_fixture.h"
#include "api/openapi_doc.h"
#include "crypto/x25519.h"
#include "tailnet/auth_requests.h"

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
  EXPECT_EQ(StatusFor(Errc::kUnauthenticated), 401);
  EXPECT_EQ(StatusFor(Errc::kNotFound), 404);
  EXPECT_EQ(StatusFor(Errc::kAlreadyExists), 409);
  EXPECT_EQ(StatusFor(Errc::kFailedPrecondition), 409);
  EXPECT_EQ(StatusFor(Errc::kInternal), 500);
}

TEST(ErrorResponseTest, IsAProblemWithGrpcGatewaysFieldsToo) {
  auto r = ErrorResponse(MakeError(Errc::kNotFound, "nope"));
  EXPECT_EQ(r.status, 404);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].second, "application/problem+json");
  EXPECT_EQ(json::parse(r.body), (json{{"type", "about:blank"}, {"title", "Not Found"},
                                       {"status", 404}, {"detail", "nope"}, {"code", 5},
                                       {"message", "nope"}}));
}

TEST_F(AdminApiTest, Users) {
  auto r = Call("POST", "/api/v1/user",
                R"({"name":"alice","email":"alice@example.com","displayName":"Alice"})");
  ASSERT_EQ(r.status, 200) << r.body;
  const json& u = r.body["user"];
  EXPECT_EQ(u["id"], "1");  // uint64 as a string, as protobuf's JSON mapping writes it
  EXPECT_EQ(u["name"], "alice");
  EXPECT_EQ(u["displayName"], "Alice");
  EXPECT_EQ(u["email"], "alice@example.com");
  EXPECT_TRUE(u["createdAt"].is_string());
  for (const char* f : {"providerId", "provider", "profilePicUrl"}) EXPECT_EQ(u[f], "") << f;

  EXPECT_EQ(Call("POST", "/api/v1/user", R"({"name":"alice"})").status, 409);
  EXPECT_EQ(Call("POST", "/api/v1/user", R"({"email":"x@y"})").status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/user", R"({"name":5})").status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/user", "not json").status, 400);
  EXPECT_EQ(Call("PUT", "/api/v1/user").status, 405);
  EXPECT_EQ(last_content_type_, "application/problem+json");
  ASSERT_EQ(Call("POST", "/api/v1/user", R"({"name":"bob"})").status, 200);

  r = Call("GET", "/api/v1/user");
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.body["users"].size(), 2u);
  EXPECT_EQ(Call("GET", "/api/v1/user?name=bob").body["users"].size(), 1u);
  EXPECT_EQ(Call("GET", "/api/v1/user?id=1").body["users"][0]["name"], "alice");
  EXPECT_EQ(Call("GET", "/api/v1/user?email=nobody@x").body["users"].size(), 0u);

  r = Call("POST", "/api/v1/user/2/rename/robert");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body["user"]["name"], "robert");
  EXPECT_EQ(Call("POST", "/api/v1/user/9/rename/x").status, 404);

  // Headscale deletes by id; a name is taken too.
  r = Call("DELETE", "/api/v1/user/1");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, json::object());
  EXPECT_EQ(Call("DELETE", "/api/v1/user/robert").status, 200);
  r = Call("DELETE", "/api/v1/user/alice");
  EXPECT_EQ(r.status, 404);
  EXPECT_TRUE(r.body["detail"].is_string());
  EXPECT_EQ(Call("GET", "/api/v1/user").body["users"].size(), 0u);
  EXPECT_EQ(Call("GET", "/api/v1/nothing").status, 404);
}

TEST_F(AdminApiTest, PreAuthKeys) {
  ASSERT_EQ(Call("POST", "/api/v1/user", R"({"name":"bob"})").status, 200);
  auto r = Call("POST", "/api/v1/preauthkey",
                R"({"user":"1","reusable":true,"expiration":"2200-01-01T00:00:00Z"})");
  ASSERT_EQ(r.status, 200) << r.body;
  const json& k = r.body["preAuthKey"];
  std::string key = k["key"];
  EXPECT_TRUE(key.starts_with("keel-auth-") && !key.ends_with("***")) << key;
  EXPECT_EQ(k["user"]["name"], "bob");
  EXPECT_EQ(k["reusable"], true);
  EXPECT_EQ(k["used"], false);
  EXPECT_EQ(k["expiration"], "2200-01-01T00:00:00Z");
  EXPECT_EQ(k["aclTags"], json::array());
  std::string id = k["id"];

  // A user name is taken where Headscale wants an id; a number is too.
  EXPECT_EQ(Call("POST", "/api/v1/preauthkey", R"({"user":"bob"})").status, 200);
  EXPECT_EQ(Call("POST", "/api/v1/preauthkey", R"({"user":1})").status, 200);
  EXPECT_EQ(Call("POST", "/api/v1/preauthkey", R"({"user":"nobody"})").status, 404);
  EXPECT_EQ(Call("POST", "/api/v1/preauthkey", R"({"reusable":true})").status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/preauthkey", R"({"user":"bob","expiration":"soon"})").status,
            400);
  EXPECT_EQ(Call("POST", "/api/v1/preauthkey", R"({"user":"bob","aclTags":"tag:x"})").status,
            400);

  r = Call("GET", "/api/v1/preauthkey");
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.body["preAuthKeys"].size(), 3u);
  // The secret is shown only at creation.
  EXPECT_TRUE(r.body["preAuthKeys"][0]["key"].get<std::string>().ends_with("-***"));
  EXPECT_EQ(Call("GET", "/api/v1/preauthkey?user=bob").body["preAuthKeys"].size(), 3u);
  EXPECT_EQ(Call("GET", "/api/v1/preauthkey?user=nobody").status, 404);

  EXPECT_EQ(Call("POST", "/api/v1/preauthkey/expire", json{{"id", id}}.dump()).status, 200);
  r = Call("GET", "/api/v1/preauthkey");
  EXPECT_LE(ParseTime(r.body["preAuthKeys"][0]["expiration"].get<std::string>()).value(),
            clock_.Now());
  EXPECT_EQ(Call("POST", "/api/v1/preauthkey/expire", R"({"id":"99"})").status, 404);
  EXPECT_EQ(Call("POST", "/api/v1/preauthkey/expire", R"({"key":"keel-auth-nope"})").status,
            404);
  EXPECT_EQ(Call("POST", "/api/v1/preauthkey/expire", "{}").status, 400);
  EXPECT_EQ(Call("DELETE", "/api/v1/preauthkey?id=" + id).status, 200);
  EXPECT_EQ(Call("DELETE", "/api/v1/preauthkey?id=" + id).status, 404);
}

TEST_F(AdminApiTest, Nodes) {
  ASSERT_TRUE(tailnet_->CreateUser("carol"));
  model::NodeId id = AddNode("carol", "laptop");
  AddNode("carol", "phone");

  auto r = Call("GET", "/api/v1/node");
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.body["nodes"].size(), 2u);
  const json& n = r.body["nodes"][0];
  EXPECT_EQ(n["id"], std::to_string(id));
  EXPECT_EQ(n["name"], "laptop");
  EXPECT_EQ(n["givenName"], "laptop");
  EXPECT_EQ(n["user"]["name"], "carol");
  EXPECT_EQ(n["ipAddresses"].size(), 2u);
  EXPECT_EQ(n["online"], false);
  EXPECT_EQ(n["registerMethod"], "REGISTER_METHOD_AUTH_KEY");
  EXPECT_TRUE(n["preAuthKey"]["key"].get<std::string>().ends_with("-***"));
  EXPECT_TRUE(n["lastSeen"].is_null() || n["lastSeen"].is_string());
  EXPECT_TRUE(n["machineKey"].get<std::string>().starts_with("mkey:"));
  EXPECT_TRUE(n["nodeKey"].get<std::string>().starts_with("nodekey:"));
  EXPECT_TRUE(n["discoKey"].get<std::string>().starts_with("discokey:"));
  for (const char* f : {"approvedRoutes", "availableRoutes", "subnetRoutes", "tags"}) {
    EXPECT_EQ(n[f], json::array()) << f;
  }
  EXPECT_EQ(Call("GET", "/api/v1/node?user=carol").body["nodes"].size(), 2u);
  EXPECT_EQ(Call("GET", "/api/v1/node?user=nobody").status, 404);

  std::string base = "/api/v1/node/" + std::to_string(id);
  r = Call("GET", base);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["node"]["givenName"], "laptop");
  r = Call("POST", base + "/rename/work-laptop");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body["node"]["givenName"], "work-laptop");
  EXPECT_EQ(Call("POST", base + "/rename/phone").status, 409);
  EXPECT_EQ(Call("POST", base + "/rename/Not_A_Label!").status, 400);

  // Headscale's query form, then the body form; disableExpiry clears the expiry.
  r = Call("POST", base + "/expire?expiry=2200-01-01T00:00:00Z");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body["node"]["expiry"], "2200-01-01T00:00:00Z");
  r = Call("POST", base + "/expire?disableExpiry=true");
  EXPECT_TRUE(r.body["node"]["expiry"].is_null());
  r = Call("POST", base + "/expire");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_LE(ParseTime(r.body["node"]["expiry"].get<std::string>()).value(), clock_.Now());
  EXPECT_EQ(Call("POST", base + "/expire?expiry=tomorrow").status, 400);

  EXPECT_EQ(Call("POST", "/api/v1/node/backfillips").status, 400);  // not confirmed
  r = Call("POST", "/api/v1/node/backfillips?confirmed=true");
  EXPECT_EQ(r.body, (json{{"changes", json::array()}}));
  EXPECT_EQ(Call("POST", "/api/v1/node/register?user=carol&key=x").status, 404);  // no login x

  EXPECT_EQ(Call("DELETE", "/api/v1/user/carol").status, 409);  // still owns nodes
  EXPECT_EQ(Call("PUT", base).status, 405);
  EXPECT_EQ(Call("DELETE", "/api/v1/node/abc").status, 400);
  EXPECT_EQ(Call("DELETE", base).status, 200);
  EXPECT_EQ(Call("DELETE", base).status, 404);
  EXPECT_EQ(Call("GET", base).status, 404);
  EXPECT_EQ(Call("POST", base + "/expire").status, 404);
  EXPECT_EQ(Call("GET", "/api/v1/node").body["nodes"].size(), 1u);
}

TEST_F(AdminApiTest, InteractiveLogins) {
  tailnet::AuthRequests auth(clock_, std::chrono::seconds(60));
  api_->SetAuthRequests(auth);
  ASSERT_EQ(Call("POST", "/api/v1/user", R"({"name":"alice"})").status, 200);
  auto waiting = [&](const std::string& hostname) {
    tailnet::RegisterInput in;
    in.machine_key = crypto::MachinePublic(crypto::PublicFromPrivate(crypto::GeneratePrivateKey()));
    in.node_key = crypto::NodePublic(crypto::PublicFromPrivate(crypto::GeneratePrivateKey()));
    in.hostname = hostname;
    in.hostinfo_json = json{{"Hostname", hostname}}.dump();
    return auth.CreateRegistration(in).id;
  };

  std::string id = waiting("laptop");
  auto r = Call("POST", "/api/v1/auth/register", json{{"authId", id}, {"user", "alice"}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body["node"]["givenName"], "laptop");
  EXPECT_EQ(r.body["node"]["user"]["name"], "alice");
  EXPECT_EQ(auth.Find(id)->verdict, tailnet::AuthRequests::Verdict::kApproved);
  r = Call("POST", "/api/v1/auth/register", json{{"authId", id}, {"user", "alice"}}.dump());
  EXPECT_EQ(r.status, 409) << r.body;  // decided already
  EXPECT_EQ(tailnet_->snapshot()->nodes.size(), 1u);

  // Bad requests leave the login waiting.
  std::string next = waiting("phone");
  EXPECT_EQ(Call("POST", "/api/v1/auth/register", json{{"authId", next}}.dump()).status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/auth/register", json{{"user", "alice"}}.dump()).status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/auth/register", "{").status, 400);
  EXPECT_EQ(
      Call("POST", "/api/v1/auth/register", json{{"authId", next}, {"user", "nobody"}}.dump()).status,
      404);
  EXPECT_EQ(Call("GET", "/api/v1/auth/register").status, 405);
  // A login needs a user: approve is for SSH checks.
  EXPECT_EQ(Call("POST", "/api/v1/auth/approve", json{{"authId", next}}.dump()).status, 400);
  EXPECT_EQ(auth.Find(next)->verdict, tailnet::AuthRequests::Verdict::kPending);
  // The older spelling, by user id.
  r = Call("POST", "/api/v1/node/register?user=1&key=" + next);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body["node"]["givenName"], "phone");

  // Rejecting tells the waiting client why.
  std::string refused = waiting("tablet");
  ASSERT_EQ(Call("POST", "/api/v1/auth/reject", json{{"authId", refused}}.dump()).status, 200);
  EXPECT_EQ(auth.Find(refused)->verdict, tailnet::AuthRequests::Verdict::kRejected);
  EXPECT_EQ(auth.Find(refused)->reason, "keel: an admin rejected this login");
  EXPECT_EQ(tailnet_->snapshot()->nodes.size(), 2u);
}

TEST_F(AdminApiTest, ApiKeysAndBearerAuth) {
  auto r = Call("POST", "/api/v1/apikey", R"({"expiration":"2200-01-01T00:00:00Z"})");
  ASSERT_EQ(r.status, 200) << r.body;
  std::string key = r.body["apiKey"];
  EXPECT_TRUE(key.starts_with("keel-api-")) << key;

  // Over TCP: no header, a wrong key, a malformed one, then the right one.
  EXPECT_EQ(Call("GET", "/api/v1/user", "", "").status, 401);
  EXPECT_EQ(last_content_type_, "application/problem+json");
  std::string wrong = key;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  EXPECT_EQ(Call("GET", "/api/v1/user", "", wrong).status, 401);
  EXPECT_EQ(Call("GET", "/api/v1/user", "", "hskey-api-short").status, 401);
  EXPECT_EQ(Call("GET", "/api/v1/user", "", key).status, 200);

  r = Call("GET", "/api/v1/apikey");
  ASSERT_EQ(r.body["apiKeys"].size(), 1u);
  const json& listed = r.body["apiKeys"][0];
  std::string prefix = listed["prefix"];
  EXPECT_TRUE(prefix.ends_with("-***") && key.starts_with(prefix.substr(0, prefix.size() - 3)));
  EXPECT_EQ(listed["expiration"], "2200-01-01T00:00:00Z");
  EXPECT_TRUE(listed["lastSeen"].is_string());  // the request above used it

  // Expired, it is refused; deleted, it is gone.
  ASSERT_EQ(Call("POST", "/api/v1/apikey/expire", json{{"prefix", prefix}}.dump()).status, 200);
  r = Call("GET", "/api/v1/user", "", key);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body["detail"], "API key expired");
  EXPECT_EQ(Call("POST", "/api/v1/apikey/expire", R"({"prefix":"nope"})").status, 404);
  EXPECT_EQ(Call("POST", "/api/v1/apikey/expire", "{}").status, 400);
  EXPECT_EQ(Call("DELETE", "/api/v1/apikey/" + prefix).status, 200);
  EXPECT_EQ(Call("GET", "/api/v1/apikey").body["apiKeys"].size(), 0u);
  EXPECT_EQ(Call("DELETE", "/api/v1/apikey/" + prefix).status, 404);

  // A key with no expiration; the hash of a key survives a restart (Load).
  key = Call("POST", "/api/v1/apikey", "{}").body["apiKey"];
  ASSERT_TRUE(keys_->Load());
  EXPECT_EQ(Call("GET", "/api/v1/health", "", key).body, (json{{"databaseConnectivity", true}}));
  EXPECT_EQ(Call("POST", "/api/v1/apikey", R"({"expiration":"later"})").status, 400);
}

TEST_F(AdminApiTest, OpenApiDocument) {
  auto r = Call("GET", "/api/v1/openapi.yaml");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(last_content_type_, "application/yaml");
  std::string_view doc = OpenApiYaml();
  EXPECT_TRUE(doc.find("openapi: 3.1.0") != std::string_view::npos);
  for (const char* path : {"/api/v1/user/{oldId}/rename/{newName}:", "/api/v1/preauthkey/expire:",
                           "/api/v1/node/{nodeId}/approve_routes:", "/api/v1/apikey/{prefix}:",
                           "/api/v1/policy/check:", "/api/v1/health:"}) {
    EXPECT_NE(doc.find(path), std::string_view::npos) << path;
  }
}

}  // namespace
}  // namespace keel::api
