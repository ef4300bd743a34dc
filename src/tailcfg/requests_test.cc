#include "tailcfg/requests.h"

#include <gtest/gtest.h>

namespace keel::tailcfg {
namespace {

const std::string kNodeKey = "nodekey:" + std::string(62, '0') + "ab";
const std::string kDisco = "discokey:" + std::string(63, '0') + "1";

TEST(RegisterRequestTest, DecodesPreAuthRequest) {
  std::string body = R"({"Version":145,"NodeKey":")" + kNodeKey +
                     R"(","OldNodeKey":"nodekey:)" + std::string(64, '0') +
                     R"(","Auth":{"AuthKey":"keel-auth-x"},"Expiry":"0001-01-01T00:00:00Z",
      "Followup":"","Hostinfo":{"Hostname":"build-box","OS":"linux","RequestTags":["tag:a"]},
      "NodeKeySignature":null,"Unknown":{"x":1}})";
  auto req = DecodeRegisterRequest(body);
  ASSERT_TRUE(req) << req.error().message;
  EXPECT_EQ(req->version, 145);
  EXPECT_EQ(req->node_key.ToText(), kNodeKey);
  EXPECT_TRUE(req->old_node_key.IsZero());
  ASSERT_TRUE(req->auth_key);
  EXPECT_EQ(*req->auth_key, "keel-auth-x");
  EXPECT_TRUE(IsZeroTime(req->expiry));
  EXPECT_EQ(req->hostname, "build-box");
  EXPECT_EQ(req->request_tags, std::vector<std::string>{"tag:a"});
  EXPECT_NE(req->hostinfo_json.find("\"OS\":\"linux\""), std::string::npos);
}

TEST(RegisterRequestTest, NoAuthAndLogoutExpiry) {
  auto req = DecodeRegisterRequest(R"({"Version":113,"NodeKey":")" + kNodeKey +
                                   R"(","Expiry":"1970-01-01T00:02:03Z"})");
  ASSERT_TRUE(req);
  EXPECT_FALSE(req->auth_key);
  EXPECT_EQ(req->expiry, std::chrono::system_clock::from_time_t(123));
  EXPECT_EQ(req->hostinfo_json, "{}");
}

TEST(RegisterRequestTest, RejectsJunk) {
  struct Case {
    std::string body;
    std::string expect;  // substring of the error
  };
  std::vector<Case> cases = {
      {"", "malformed JSON"},
      {"{", "malformed JSON"},
      {"[1,2]", "expected a JSON object"},
      {R"({"Version":"145"})", "RegisterRequest.Version: expected an integer"},
      {R"({"Version":1.5})", "RegisterRequest.Version"},
      {R"({"Version":99999999999})", "out of range"},
      {R"({"NodeKey":""})", "RegisterRequest.NodeKey"},
      {R"({"NodeKey":"mkey:)" + std::string(64, '0') + R"("})", "RegisterRequest.NodeKey"},
      {R"({"NodeKey":"nodekey:abc"})", "RegisterRequest.NodeKey"},
      {R"({"NodeKey":12})", "RegisterRequest.NodeKey: expected a key string"},
      {R"({"Auth":"key"})", "RegisterRequest.Auth: expected an object"},
      {R"({"Auth":{"AuthKey":5}})", "RegisterRequest.Auth.AuthKey"},
      {R"({"Expiry":"yesterday"})", "RegisterRequest.Expiry"},
      {R"({"Ephemeral":"true"})", "RegisterRequest.Ephemeral"},
      {R"({"Hostinfo":[]})", "RegisterRequest.Hostinfo"},
      {R"({"Hostinfo":{"RequestTags":[1]}})", "RegisterRequest.Hostinfo.RequestTags"},
  };
  for (const auto& c : cases) {
    auto req = DecodeRegisterRequest(c.body);
    ASSERT_FALSE(req) << c.body;
    EXPECT_EQ(req.error().code, Errc::kInvalidArgument);
    EXPECT_NE(req.error().message.find(c.expect), std::string::npos)
        << c.body << " -> " << req.error().message;
  }
}

TEST(MapRequestTest, DecodesStreamRequest) {
  std::string body = R"({"Version":145,"Compress":"zstd","KeepAlive":true,"NodeKey":")" +
                     kNodeKey + R"(","DiscoKey":")" + kDisco + R"(","Stream":true,
      "Hostinfo":{"OS":"linux","NetInfo":{"PreferredDERP":900}},
      "Endpoints":["198.51.100.7:41641"],"EndpointTypes":[2]})";
  auto req = DecodeMapRequest(body);
  ASSERT_TRUE(req) << req.error().message;
  EXPECT_TRUE(req->stream);
  EXPECT_FALSE(req->omit_peers);
  EXPECT_EQ(req->compress, "zstd");
  EXPECT_EQ(req->disco_key.ToText(), kDisco);
  ASSERT_TRUE(req->endpoints);
  EXPECT_EQ(req->endpoints->size(), 1u);
  EXPECT_EQ(req->preferred_derp, 900);
  ASSERT_TRUE(req->hostinfo_json);
}

TEST(MapRequestTest, AbsentFieldsStayUnset) {
  auto req = DecodeMapRequest(R"({"Version":145,"NodeKey":")" + kNodeKey +
                              R"(","OmitPeers":true,"Endpoints":null,"Hostinfo":{}})");
  ASSERT_TRUE(req);
  EXPECT_FALSE(req->endpoints);
  EXPECT_FALSE(req->preferred_derp);
  EXPECT_TRUE(req->disco_key.IsZero());
  EXPECT_TRUE(req->omit_peers);
}

TEST(MapRequestTest, RejectsJunk) {
  for (std::string body : std::vector<std::string>{R"({"Stream":1})", R"({"Endpoints":"1.2.3.4:5"})",
                           R"({"DiscoKey":"nodekey:)" + std::string(64, '0') + R"("})",
                           R"({"Hostinfo":{"NetInfo":{"PreferredDERP":"1"}}})",
                           std::string("null"), std::string("{\"Version\":145")}) {
    auto req = DecodeMapRequest(body);
    ASSERT_FALSE(req) << body;
    EXPECT_NE(req.error().message.find("MapRequest"), std::string::npos) << req.error().message;
  }
}

}  // namespace
}  // namespace keel::tailcfg
