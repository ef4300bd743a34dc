#include "control/map_builder.h"

#include <gtest/gtest.h>

namespace keel::control {
namespace {

using nlohmann::json;
using tailnet::ChangeKind;

crypto::Key32 Filled(uint8_t b) {
  crypto::Key32 k;
  k.fill(b);
  return k;
}

std::shared_ptr<model::Node> MakeNode(model::NodeId id, model::UserId user, const std::string& name) {
  auto n = std::make_shared<model::Node>();
  n->id = id;
  n->user_id = user;
  n->given_name = name;
  n->hostname = name;
  n->node_key = crypto::NodePublic(Filled(static_cast<uint8_t>(id)));
  n->machine_key = crypto::MachinePublic(Filled(static_cast<uint8_t>(0x40 + id)));
  n->disco_key = crypto::DiscoPublic(Filled(static_cast<uint8_t>(0x80 + id)));
  n->ipv4 = boost::asio::ip::make_address_v4("100.64.0." + std::to_string(id));
  n->ipv6 = boost::asio::ip::make_address_v6("fd7a:115c:a1e0::" + std::to_string(id));
  n->endpoints = {"198.51.100." + std::to_string(id) + ":41641"};
  n->home_derp = 900;
  n->hostinfo_json = R"({"OS":"linux","Hostname":")" + name + R"("})";
  n->created = std::chrono::system_clock::from_time_t(1787392800);
  n->online = true;
  n->version = 1;
  n->cap_version = 145;
  return n;
}

class MapBuilderTest : public ::testing::Test {
 protected:
  MapBuilderTest() {
    config.domain = "hs.example.com";
    config.base_domain = "keel.internal";
    config.dns.nameservers = {"1.1.1.1"};
    config.derp_map = json::parse(R"({"Regions":{"900":{"RegionID":900,"RegionCode":"own","Nodes":[{"Name":"900a","RegionID":900,"HostName":"127.0.0.1"}]}}})");
    static_fields = RenderStaticFields(config);
    snap.users[1] = model::User{1, "alice", "Alice", "alice@example.com", {}, "", "", "", {}};
    snap.users[2] = model::User{2, "bob", "", "", {}, "", "", "", {}};
    snap.nodes[1] = MakeNode(1, 1, "laptop");
    snap.nodes[2] = MakeNode(2, 2, "nas");
    snap.nodes[3] = MakeNode(3, 1, "phone");
  }
  MapInputs Inputs(model::NodeId self) {
    return MapInputs{snap, self, std::chrono::system_clock::from_time_t(1787400000), config,
                     static_fields, cache};
  }

  MapConfig config;
  std::string static_fields;
  tailnet::Snapshot snap;
  PeerCache cache{"keel.internal"};
};

TEST_F(MapBuilderTest, FullMapContent) {
  auto text = BuildFullMap(Inputs(1));
  ASSERT_TRUE(text) << text.error().message;
  json m = json::parse(*text);
  EXPECT_EQ(m["ControlTime"], "2026-08-22T12:00:00Z");
  EXPECT_EQ(m["Node"]["ID"], 1);
  EXPECT_EQ(m["Node"]["Name"], "laptop.keel.internal.");
  EXPECT_EQ(m["Node"]["MachineAuthorized"], true);
  EXPECT_EQ(m["Node"]["Addresses"], json::parse(R"(["100.64.0.1/32","fd7a:115c:a1e0::1/128"])"));
  EXPECT_EQ(m["Node"]["AllowedIPs"], m["Node"]["Addresses"]);
  EXPECT_TRUE(m["Node"]["CapMap"].contains("https://tailscale.com/cap/ssh"));
  EXPECT_EQ(m["DERPMap"]["Regions"]["900"]["RegionCode"], "own");
  EXPECT_EQ(m["Domain"], "hs.example.com");
  EXPECT_EQ(m["CollectServices"], false);
  EXPECT_EQ(m["Debug"]["DisableLogTail"], true);
  EXPECT_EQ(m["DNSConfig"]["Proxied"], true);
  EXPECT_EQ(m["DNSConfig"]["Domains"], json::parse(R"(["keel.internal"])"));
  EXPECT_EQ(m["DNSConfig"]["Resolvers"][0]["Addr"], "1.1.1.1");
  EXPECT_EQ(m["DNSConfig"]["Routes"]["100.100.in-addr.arpa"], json::array());
  EXPECT_EQ(m["DNSConfig"]["Routes"]["0.e.1.a.c.5.1.1.a.7.d.f.ip6.arpa"], json::array());
  EXPECT_EQ(m["PacketFilters"]["base"][0]["SrcIPs"][0], "*");
  ASSERT_EQ(m["UserProfiles"].size(), 2u);
  EXPECT_EQ(m["UserProfiles"][0]["LoginName"], "alice@example.com");
  EXPECT_EQ(m["UserProfiles"][1]["LoginName"], "bob");
  EXPECT_EQ(m["UserProfiles"][1]["DisplayName"], "bob");
  ASSERT_EQ(m["Peers"].size(), 2u);
  const json& nas = m["Peers"][0];
  EXPECT_EQ(nas["ID"], 2);
  EXPECT_EQ(nas["StableID"], "2");
  EXPECT_EQ(nas["Name"], "nas.keel.internal.");
  EXPECT_EQ(nas["DiscoKey"], crypto::DiscoPublic(Filled(0x82)).ToText());
  EXPECT_EQ(nas["HomeDERP"], 900);
  EXPECT_EQ(nas["DERP"], "127.3.3.40:900");
  EXPECT_EQ(nas["Hostinfo"]["Hostname"], "nas");
  EXPECT_EQ(nas["Online"], true);
  EXPECT_FALSE(nas.contains("LastSeen"));
  EXPECT_FALSE(nas.contains("CapMap"));
  EXPECT_EQ(m["Peers"][1]["ID"], 3);
}

TEST_F(MapBuilderTest, MissingSelfFails) { EXPECT_FALSE(BuildFullMap(Inputs(9))); }

TEST_F(MapBuilderTest, CachedFragmentsAreReused) {
  ASSERT_TRUE(BuildFullMap(Inputs(1)));
  EXPECT_EQ(cache.renders(), 2u);
  ASSERT_TRUE(BuildFullMap(Inputs(2)));  // node 1 is new in the cache, node 3 is reused
  ASSERT_TRUE(BuildFullMap(Inputs(3)));
  EXPECT_EQ(cache.renders(), 3u);
  auto changed = std::make_shared<model::Node>(*snap.nodes[3]);
  changed->version = 2;
  changed->hostinfo_json = R"({"OS":"ios"})";
  snap.nodes[3] = changed;
  auto text = BuildFullMap(Inputs(1));
  EXPECT_EQ(cache.renders(), 4u);
  EXPECT_EQ(json::parse(*text)["Peers"][1]["Hostinfo"]["OS"], "ios");
}

TEST_F(MapBuilderTest, DeltaForAddedAndRemoved) {
  PendingChanges p;
  p.Merge({{ChangeKind::kNodeAdded, 3}, {ChangeKind::kNodeRemoved, 7}});
  snap.nodes.erase(7);
  Delta d = BuildDelta(Inputs(1), p);
  ASSERT_FALSE(d.self_removed);
  json m = json::parse(d.json);
  ASSERT_EQ(m["PeersChanged"].size(), 1u);
  EXPECT_EQ(m["PeersChanged"][0]["ID"], 3);
  EXPECT_EQ(m["PeersChanged"][0]["Name"], "phone.keel.internal.");
  EXPECT_EQ(m["PeersRemoved"], json::parse("[7]"));
  EXPECT_EQ(m["UserProfiles"][0]["ID"], 1);
  EXPECT_FALSE(m.contains("Node"));
  EXPECT_FALSE(m.contains("Peers"));
}

TEST_F(MapBuilderTest, TaggedNodesBelongToTaggedDevices) {
  auto nas_node = MakeNode(2, 2, "nas");
  nas_node->tags = {"tag:server"};
  snap.nodes[2] = nas_node;
  json full = json::parse(BuildFullMap(Inputs(1)).value());
  json nas;
  for (const auto& p : full["Peers"]) {
    if (p["ID"] == 2) nas = p;
  }
  EXPECT_EQ(nas["User"], model::kTaggedDevicesUserId);
  std::map<uint64_t, std::string> profiles;
  for (const auto& u : full["UserProfiles"]) profiles[u["ID"]] = u["LoginName"];
  EXPECT_EQ(profiles, (std::map<uint64_t, std::string>{{1, "alice@example.com"},
                                                       {model::kTaggedDevicesUserId, "tagged-devices"}}));
  // Its own map says the same of itself.
  json self = json::parse(BuildFullMap(Inputs(2)).value());
  EXPECT_EQ(self["Node"]["User"], model::kTaggedDevicesUserId);
}

TEST_F(MapBuilderTest, DeltaPatchesAndOnline) {
  auto n2 = std::make_shared<model::Node>(*snap.nodes[2]);
  n2->online = false;
  n2->last_seen = std::chrono::system_clock::from_time_t(1787392900);
  n2->endpoints = {"203.0.113.1:1"};
  snap.nodes[2] = n2;
  PendingChanges p;
  p.Merge({{ChangeKind::kNodePatched, 2}, {ChangeKind::kNodeOffline, 2}, {ChangeKind::kNodeOnline, 3}});
  json m = json::parse(BuildDelta(Inputs(1), p).json);
  ASSERT_EQ(m["PeersChangedPatch"].size(), 2u);
  const json& a = m["PeersChangedPatch"][0];
  EXPECT_EQ(a["NodeID"], 2);
  EXPECT_EQ(a["Endpoints"], json::parse(R"(["203.0.113.1:1"])"));
  EXPECT_EQ(a["DERPRegion"], 900);
  EXPECT_EQ(a["Key"], n2->node_key.ToText());
  EXPECT_EQ(a["DiscoKey"], n2->disco_key.ToText());
  EXPECT_EQ(a["KeyExpiry"], "0001-01-01T00:00:00Z");
  EXPECT_EQ(a["Online"], false);
  EXPECT_EQ(a["LastSeen"], "2026-08-22T10:01:40Z");
  EXPECT_EQ(m["PeersChangedPatch"][1], json::parse(R"({"NodeID":3,"Online":true})"));
  EXPECT_FALSE(m.contains("PeersChanged"));
}

TEST_F(MapBuilderTest, PatchesRenderedOncePerNodeVersion) {
  PendingChanges p;
  p.Merge({{ChangeKind::kNodePatched, 2}});
  json from1 = json::parse(BuildDelta(Inputs(1), p).json);
  auto n2 = std::make_shared<model::Node>(*snap.nodes[2]);
  n2->endpoints = {"203.0.113.9:9"};  // same version: the cached entry is what viewers get
  snap.nodes[2] = n2;
  json from3 = json::parse(BuildDelta(Inputs(3), p).json);
  EXPECT_EQ(from3["PeersChangedPatch"], from1["PeersChangedPatch"]);
  EXPECT_EQ(from3["PeersChangedPatch"][0]["Endpoints"], json::parse(R"(["198.51.100.2:41641"])"));
  n2->version = 2;
  json bumped = json::parse(BuildDelta(Inputs(3), p).json);
  EXPECT_EQ(bumped["PeersChangedPatch"][0]["Endpoints"], json::parse(R"(["203.0.113.9:9"])"));
  PendingChanges online;
  online.Merge({{ChangeKind::kNodeOnline, 2}});
  EXPECT_EQ(json::parse(BuildDelta(Inputs(1), online).json)["PeersChangedPatch"][0],
            json::parse(R"({"NodeID":2,"Online":true})"));
}

TEST_F(MapBuilderTest, DeltaSelfUpdateAndRemoval) {
  PendingChanges p;
  p.Merge({{ChangeKind::kNodeUpdated, 1}, {ChangeKind::kNodeOnline, 1}});
  json m = json::parse(BuildDelta(Inputs(1), p).json);
  EXPECT_EQ(m["Node"]["ID"], 1);
  EXPECT_TRUE(m["Node"].contains("CapMap"));
  EXPECT_FALSE(m.contains("PeersChangedPatch"));

  PendingChanges only_online;
  only_online.Merge({{ChangeKind::kNodeOnline, 1}});
  EXPECT_EQ(BuildDelta(Inputs(1), only_online).json, "");

  PendingChanges removed;
  removed.Merge({{ChangeKind::kNodeUpdated, 2}, {ChangeKind::kNodeRemoved, 1}});
  EXPECT_TRUE(BuildDelta(Inputs(1), removed).self_removed);
}

TEST_F(MapBuilderTest, PendingMergesAndFull) {
  PendingChanges p;
  EXPECT_TRUE(p.empty());
  p.Merge({{ChangeKind::kNodePatched, 2}, {ChangeKind::kNodeUpdated, 2}, {ChangeKind::kNodeOnline, 2}});
  EXPECT_EQ(p.nodes().at(2), PendingChanges::kChanged | PendingChanges::kPatched | PendingChanges::kOnline);
  p.Merge({{ChangeKind::kNodeRemoved, 2}});
  EXPECT_EQ(p.nodes().at(2), PendingChanges::kRemoved);
  p.Merge({{ChangeKind::kFull, 0}});
  EXPECT_TRUE(p.full());
  p.Clear();
  EXPECT_TRUE(p.empty());
}

TEST(AppendRawMemberTest, Splices) {
  std::string a = "{}";
  AppendRawMember(a, "P", "[1]");
  EXPECT_EQ(a, R"({"P":[1]})");
  std::string b = R"({"x":1})";
  AppendRawMember(b, "P", "[]");
  EXPECT_EQ(b, R"({"x":1,"P":[]})");
}

}  // namespace
}  // namespace keel::control
