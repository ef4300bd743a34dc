#include "tailcfg/derp_map.h"

#include <gtest/gtest.h>

namespace keel::tailcfg {
namespace {

using nlohmann::json;

TEST(DerpMapTest, NormalizesHeadscaleKeys) {
  // As the YAML loader hands it over: every scalar is a string.
  json in = json::parse(R"({"regions":{"900":{"regionid":"900","regioncode":"own",
      "regionname":"Own DERP","nodes":[{"name":"900a","hostname":"derp.example.com",
      "ipv4":"203.0.113.10","stunport":"3478","stunonly":"false","derpport":"443",
      "canport80":"true"}]}}})");
  auto out = NormalizeDerpMap(in);
  ASSERT_TRUE(out) << out.error().message;
  json want = json::parse(R"({"Regions":{"900":{"RegionID":900,"RegionCode":"own",
      "RegionName":"Own DERP","Nodes":[{"Name":"900a","RegionID":900,"HostName":"derp.example.com",
      "IPv4":"203.0.113.10","STUNPort":3478,"STUNOnly":false,"DERPPort":443,"CanPort80":true}]}}})");
  EXPECT_EQ(*out, want);
}

TEST(DerpMapTest, AcceptsGoNamesAndTypedJson) {
  json in = json::parse(R"({"Regions":{"1":{"RegionID":1,"RegionCode":"a","Nodes":[
      {"Name":"1a","HostName":"h","STUNPort":-1}]}},"OmitDefaultRegions":true})");
  auto out = NormalizeDerpMap(in);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ((*out)["Regions"]["1"]["Nodes"][0]["RegionID"], 1);
  EXPECT_EQ((*out)["Regions"]["1"]["Nodes"][0]["STUNPort"], -1);
  EXPECT_EQ((*out)["omitDefaultRegions"], true);
}

TEST(DerpMapTest, RejectsBadInput) {
  for (const char* text : {
           R"([])",
           R"({"regions":{"x":{"nodes":[]}}})",
           R"({"regions":{"900":{"regionid":901}}})",
           R"({"regions":{"900":{"nodes":[{"name":"a"}]}}})",
           R"({"regions":{"900":{"nodes":[{"name":"a","hostname":"h","stunport":"abc"}]}}})",
           R"({"regions":{"900":{"regioncodee":"x"}}})",
           R"({"regionz":{}})",
       }) {
    auto out = NormalizeDerpMap(json::parse(text));
    ASSERT_FALSE(out) << text;
    EXPECT_NE(out.error().message.find("DERP map"), std::string::npos);
  }
}

TEST(DerpMapTest, OldClientsGetNoCertPins) {
  auto in = nlohmann::json::parse(R"({"Regions":{"999":{"RegionID":999,"Nodes":[
    {"Name":"own","HostName":"127.0.0.1","CertName":"sha256-raw:abcd"},
    {"Name":"named","HostName":"derp.example.com","CertName":"derp.example.com"}]}}})");
  auto out = WithoutCertPins(in);
  const auto& nodes = out["Regions"]["999"]["Nodes"];
  EXPECT_FALSE(nodes[0].contains("CertName"));
  EXPECT_EQ(nodes[0]["InsecureForTests"], true);
  EXPECT_EQ(nodes[1]["CertName"], "derp.example.com");  // a named certificate is checked as before
  EXPECT_FALSE(nodes[1].contains("InsecureForTests"));
  EXPECT_EQ(WithoutCertPins(nlohmann::json::object()), nlohmann::json::object());
}

TEST(DerpMapTest, RegionsWithoutNodesAreDropped) {
  auto in = nlohmann::json::parse(R"({"Regions":{"1":{"RegionID":1,"Nodes":[]},"2":{"RegionID":2},
    "3":{"RegionID":3,"Nodes":[{"Name":"3a","HostName":"127.0.0.1"}]}}})");
  int dropped = 0;
  auto out = WithoutEmptyRegions(in, &dropped);
  EXPECT_EQ(dropped, 2);
  ASSERT_EQ(out["Regions"].size(), 1u);
  EXPECT_TRUE(out["Regions"].contains("3"));
}

}  // namespace
}  // namespace keel::tailcfg
