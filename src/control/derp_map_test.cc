#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "control/server.h"

namespace keel::control {
namespace {

using nlohmann::json;

std::string WriteTemp(const std::string& name, const std::string& text) {
  auto path = std::filesystem::temp_directory_path() / ("keel_control_" + name);
  std::ofstream(path) << text;
  return path.string();
}

TEST(DerpMapFileTest, LoadsHeadscaleYaml) {
  auto path = WriteTemp("derp.yaml", R"(# Headscale's example format
regions:
  900:
    regionid: 900
    regioncode: custom
    regionname: My Region
    nodes:
      - name: 900a
        regionid: 900
        hostname: myderp.example.com
        ipv4: 123.123.123.123
        ipv6: "2604:a880:400:d1::828:b001"
        stunport: 0
        stunonly: false
        derpport: 0
)");
  auto m = LoadDerpMapFile(path);
  ASSERT_TRUE(m) << m.error().message;
  const json& node = (*m)["Regions"]["900"]["Nodes"][0];
  EXPECT_EQ((*m)["Regions"]["900"]["RegionName"], "My Region");
  EXPECT_EQ(node["HostName"], "myderp.example.com");
  EXPECT_EQ(node["IPv6"], "2604:a880:400:d1::828:b001");
  EXPECT_EQ(node["STUNPort"], 0);
  EXPECT_EQ(node["STUNOnly"], false);
}

TEST(DerpMapFileTest, LoadsJson) {
  auto path = WriteTemp("derp.json", R"({"Regions":{"1":{"RegionID":1,"RegionCode":"a",
      "Nodes":[{"Name":"1a","HostName":"h","DERPPort":8443}]}}})");
  auto m = LoadDerpMapFile(path);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ((*m)["Regions"]["1"]["Nodes"][0]["DERPPort"], 8443);
}

TEST(DerpMapFileTest, BadFiles) {
  auto missing = LoadDerpMapFile("/nonexistent/derp.yaml");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("/nonexistent/derp.yaml"), std::string::npos);
  auto syntax = LoadDerpMapFile(WriteTemp("bad1.yaml", "regions: [\n  - {"));
  ASSERT_FALSE(syntax);
  auto wrong = LoadDerpMapFile(WriteTemp("bad2.yaml", "regions:\n  900:\n    nodes:\n      - name: a\n"));
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("hostname is required"), std::string::npos) << wrong.error().message;
}

TEST(DerpMapFileTest, MergeLaterWins) {
  json base = json::parse(R"({"Regions":{"1":{"RegionCode":"a"},"2":{"RegionCode":"b"}}})");
  MergeDerpMaps(base, json::parse(R"({"Regions":{"2":{"RegionCode":"c"},"3":{"RegionCode":"d"}},"omitDefaultRegions":true})"));
  EXPECT_EQ(base["Regions"]["1"]["RegionCode"], "a");
  EXPECT_EQ(base["Regions"]["2"]["RegionCode"], "c");
  EXPECT_EQ(base["Regions"]["3"]["RegionCode"], "d");
  EXPECT_EQ(base["omitDefaultRegions"], true);
  json empty;
  MergeDerpMaps(empty, base);
  EXPECT_EQ(empty["Regions"].size(), 3u);
}

TEST(DerpMapFileTest, NullRegionDropsIt) {
  json base = json::parse(R"({"Regions":{"1":{"RegionCode":"a"},"2":{"RegionCode":"b"}}})");
  auto map = LoadDerpMapFile(WriteTemp("drop.yaml", "regions:\n  1: null\n  7: ~\n"));
  ASSERT_TRUE(map) << map.error().message;
  MergeDerpMaps(base, *map);
  EXPECT_FALSE(base["Regions"].contains("1"));
  EXPECT_FALSE(base["Regions"].contains("7"));
  EXPECT_EQ(base["Regions"]["2"]["RegionCode"], "b");
  EXPECT_FALSE(LoadDerpMapFile(WriteTemp("dropbad.yaml", "regions:\n  one: null\n")));
}

}  // namespace
}  // namespace keel::control
