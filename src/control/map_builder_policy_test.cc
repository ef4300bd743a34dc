// Map building under a policy: visible peers, per-node filters and SSH policy, and deltas that
// follow a recompiled policy.

#include <gtest/gtest.h>

#include "control/map_builder.h"

namespace keel::control {
namespace {

using nlohmann::json;
using tailnet::ChangeKind;

constexpr const char* kAliceToBob = R"({
  "acls": [{"action": "accept", "src": ["alice@"], "dst": ["bob@:22"]}],
  "ssh": [{"action": "accept", "src": ["alice@"], "dst": ["bob@"], "users": ["root"]}],
})";
constexpr const char* kCarolToBob = R"({
  "acls": [{"action": "accept", "src": ["carol@"], "dst": ["bob@:80"]}],
})";

std::shared_ptr<model::Node> MakeNode(model::NodeId id, model::UserId user, const std::string& name) {
  auto n = std::make_shared<model::Node>();
  crypto::Key32 k;
  k.fill(static_cast<uint8_t>(id));
  n->id = id;
  n->user_id = user;
  n->given_name = n->hostname = name;
  n->node_key = crypto::NodePublic(k);
  n->machine_key = crypto::MachinePublic(k);
  n->disco_key = crypto::DiscoPublic(k);
  n->ipv4 = boost::asio::ip::make_address_v4("100.64.0." + std::to_string(id));
  n->ipv6 = boost::asio::ip::make_address_v6("fd7a:115c:a1e0::" + std::to_string(id));
  n->online = true;
  n->version = 1;
  return n;
}

class MapPolicyTest : public ::testing::Test {
 protected:
  MapPolicyTest() {
    static_fields = RenderStaticFields(config);
    snap.users[1] = model::User{1, "alice", "", "", {}, "", "", "", {}};
    snap.users[2] = model::User{2, "bob", "", "", {}, "", "", "", {}};
    snap.users[3] = model::User{3, "carol", "", "", {}, "", "", "", {}};
    snap.nodes[1] = MakeNode(1, 1, "a1");
    snap.nodes[2] = MakeNode(2, 2, "b1");
    snap.nodes[3] = MakeNode(3, 1, "a2");
    snap.nodes[4] = MakeNode(4, 3, "c1");
  }
  std::vector<policy::PolicyUser> PolicyUsers() const {
    std::vector<policy::PolicyUser> users;
    for (const auto& [id, u] : snap.users) users.push_back({id, u.name, u.email, {}});
    return users;
  }
  std::vector<policy::PolicyNode> PolicyNodes() const {
    auto users = PolicyUsers();
    std::vector<policy::PolicyNode> nodes;
    for (const auto& [id, n] : snap.nodes) {
      nodes.push_back({id, n->given_name, users[n->user_id - 1], {}, n->ipv4->to_string(),
                       n->ipv6->to_string(), {}, {}});
    }
    return nodes;
  }
  void SetPolicy(const char* text) {
    auto p = policy::ParsePolicy(text);
    ASSERT_TRUE(p) << p.error().message;
    auto cp = policy::CompiledPolicy::Compile(std::make_shared<const policy::Policy>(std::move(*p)),
                                              PolicyUsers(), PolicyNodes());
    ASSERT_TRUE(cp) << cp.error().message;
    snap.policy = *cp;
  }
  // The same policy compiled again after a tailnet change, as Tailnet does.
  void Recompile() {
    auto cp = policy::CompiledPolicy::Recompile(*snap.policy, PolicyUsers(), PolicyNodes());
    ASSERT_TRUE(cp) << cp.error().message;
    snap.policy = *cp;
  }
  static PendingChanges Pending(const tailnet::Changes& changes) {
    PendingChanges p;
    p.Merge(changes);
    return p;
  }
  MapInputs Inputs(model::NodeId self, PeerView* view) {
    return MapInputs{snap, self, std::chrono::system_clock::from_time_t(1787400000), config,
                     static_fields, cache, view};
  }
  json Full(model::NodeId self, PeerView* view = nullptr) {
    auto text = BuildFullMap(Inputs(self, view));
    EXPECT_TRUE(text);
    return text ? json::parse(*text) : json();
  }
  static std::vector<uint64_t> PeerIds(const json& m) {
    std::vector<uint64_t> ids;
    if (m.contains("Peers")) {
      for (const auto& p : m["Peers"]) ids.push_back(p["ID"].get<uint64_t>());
    }
    return ids;
  }

  MapConfig config;
  std::string static_fields;
  tailnet::Snapshot snap;
  PeerCache cache{""};
};

TEST_F(MapPolicyTest, NoPolicyAllowsAllAndShowsEveryone) {
  json m = Full(1);
  EXPECT_EQ(PeerIds(m), (std::vector<uint64_t>{2, 3, 4}));
  EXPECT_EQ(m["PacketFilters"]["base"][0]["SrcIPs"][0], "*");
  EXPECT_FALSE(m.contains("SSHPolicy"));
}

TEST_F(MapPolicyTest, FullMapFollowsPolicy) {
  SetPolicy(kAliceToBob);
  json a1 = Full(1);
  EXPECT_EQ(PeerIds(a1), std::vector<uint64_t>{2});
  EXPECT_EQ(a1["PacketFilters"], json::parse(R"({"base":[]})"));  // deny all, sent as []
  EXPECT_FALSE(a1.contains("SSHPolicy"));
  json b1 = Full(2);
  EXPECT_EQ(PeerIds(b1), (std::vector<uint64_t>{1, 3}));
  ASSERT_EQ(b1["PacketFilters"]["base"].size(), 1u);
  EXPECT_EQ(b1["PacketFilters"]["base"][0]["DstPorts"][0]["Ports"]["First"], 22);
  ASSERT_TRUE(b1.contains("SSHPolicy"));
  EXPECT_FALSE(b1["SSHPolicy"]["rules"].empty());
  EXPECT_EQ(b1["UserProfiles"].size(), 2u);
  json c1 = Full(4);
  EXPECT_TRUE(PeerIds(c1).empty());
  EXPECT_FALSE(c1.contains("Peers"));
  EXPECT_FALSE(c1.contains("PeersRemoved"));
  EXPECT_EQ(c1["UserProfiles"].size(), 1u);
}

TEST_F(MapPolicyTest, DeltasOnlyReachViewersThatMaySee) {
  SetPolicy(kAliceToBob);
  PeerView carol, alice;
  Full(4, &carol);
  Full(1, &alice);
  PendingChanges p = Pending({{ChangeKind::kNodeUpdated, 2}, {ChangeKind::kNodePatched, 3}});
  EXPECT_TRUE(BuildDelta(Inputs(4, &carol), p).json.empty());
  json d = json::parse(BuildDelta(Inputs(1, &alice), p).json);
  ASSERT_EQ(d["PeersChanged"].size(), 1u);
  EXPECT_EQ(d["PeersChanged"][0]["ID"], 2);
  EXPECT_FALSE(d.contains("PeersChangedPatch"));  // node 3 is invisible to node 1
  EXPECT_FALSE(d.contains("PacketFilters"));
}

TEST_F(MapPolicyTest, RecompiledPolicyShowsAndHidesPeers) {
  SetPolicy(kAliceToBob);
  PeerView carol, bob;
  Full(4, &carol);
  Full(2, &bob);
  SetPolicy(kCarolToBob);  // as after a recompile: same kind of change, new compile
  PendingChanges p = Pending({{ChangeKind::kNodePatched, 2}});
  json dc = json::parse(BuildDelta(Inputs(4, &carol), p).json);
  ASSERT_EQ(dc["PeersChanged"].size(), 1u);  // bob became visible: sent in full
  EXPECT_EQ(dc["PeersChanged"][0]["ID"], 2);
  EXPECT_FALSE(dc.contains("PeersChangedPatch"));
  EXPECT_FALSE(dc.contains("PacketFilters"));  // still []
  json db = json::parse(BuildDelta(Inputs(2, &bob), p).json);
  EXPECT_EQ(db["PeersRemoved"], json::parse("[1,3]"));
  EXPECT_EQ(db["PeersChanged"][0]["ID"], 4);
  EXPECT_EQ(db["PacketFilters"]["base"][0]["DstPorts"][0]["Ports"]["First"], 80);
  EXPECT_EQ(db["SSHPolicy"], json::parse(R"({"rules":[]})"));

  // A node removed from the tailnet is announced only to those who saw it.
  snap.nodes.erase(4);
  SetPolicy(kCarolToBob);
  PendingChanges r = Pending({{ChangeKind::kNodeRemoved, 4}});
  json dr = json::parse(BuildDelta(Inputs(2, &bob), r).json);
  EXPECT_EQ(dr["PeersRemoved"], json::parse("[4]"));
}

TEST_F(MapPolicyTest, DeferredRecompileAloneBringsTheViewerUpToDate) {
  SetPolicy(kAliceToBob);
  PeerView carol, bob;
  Full(4, &carol);
  Full(2, &bob);
  PendingChanges p = Pending({{ChangeKind::kPolicy, 0}});
  EXPECT_FALSE(p.empty());
  EXPECT_FALSE(p.full());
  EXPECT_TRUE(BuildDelta(Inputs(2, &bob), p).json.empty());  // same compile: nothing to say
  SetPolicy(kCarolToBob);  // the recompile the change announces
  json dc = json::parse(BuildDelta(Inputs(4, &carol), p).json);
  ASSERT_EQ(dc["PeersChanged"].size(), 1u);
  EXPECT_EQ(dc["PeersChanged"][0]["ID"], 2);
  json db = json::parse(BuildDelta(Inputs(2, &bob), p).json);
  EXPECT_EQ(db["PeersRemoved"], json::parse("[1,3]"));
  EXPECT_EQ(db["PacketFilters"]["base"][0]["DstPorts"][0]["Ports"]["First"], 80);
  p.Clear();
  EXPECT_TRUE(p.empty());
}

TEST_F(MapPolicyTest, RecompileRecomputesOnlyTouchedViewers) {
  SetPolicy(R"({"acls": [{"action": "accept", "src": ["alice@"], "dst": ["alice@:*"]},
                         {"action": "accept", "src": ["carol@"], "dst": ["carol@:*"]}]})");
  PeerView alice, carol;
  Full(1, &alice);
  Full(4, &carol);
  ASSERT_EQ(alice.computes, 1u);
  ASSERT_EQ(carol.computes, 1u);
  snap.nodes[5] = MakeNode(5, 3, "c2");  // carol's second device joins
  Recompile();
  PendingChanges p = Pending({{ChangeKind::kNodeAdded, 5}, {ChangeKind::kPolicy, 0}});
  EXPECT_TRUE(BuildDelta(Inputs(1, &alice), p).json.empty());
  EXPECT_EQ(alice.computes, 1u);  // untouched by the change: the view was kept as it was
  EXPECT_EQ(alice.policy, snap.policy);
  json dc = json::parse(BuildDelta(Inputs(4, &carol), p).json);
  EXPECT_EQ(carol.computes, 2u);
  ASSERT_EQ(dc["PeersChanged"].size(), 1u);
  EXPECT_EQ(dc["PeersChanged"][0]["ID"], 5);
  ASSERT_EQ(dc["PacketFilters"]["base"].size(), 1u);
  // Both devices, whose neighbouring addresses merge into one prefix per family.
  EXPECT_EQ(dc["PacketFilters"]["base"][0]["SrcIPs"], json::parse(R"(["100.64.0.4/31","fd7a:115c:a1e0::4/127"])"));

  // A view from another line of compiles (a new policy) is always recomputed.
  SetPolicy(R"({"acls": [{"action": "accept", "src": ["alice@"], "dst": ["alice@:*"]}]})");
  EXPECT_TRUE(BuildDelta(Inputs(1, &alice), p).json.empty());
  EXPECT_EQ(alice.computes, 2u);
}

TEST_F(MapPolicyTest, FullMapToViewerThatSeesNoOneRemovesOldPeers) {
  PeerView carol;
  EXPECT_EQ(PeerIds(Full(4, &carol)), (std::vector<uint64_t>{1, 2, 3}));
  SetPolicy(kAliceToBob);
  json m = Full(4, &carol);  // a client reads an empty Peers as "unchanged"
  EXPECT_FALSE(m.contains("Peers"));
  EXPECT_EQ(m["PeersRemoved"], json::parse("[1,2,3]"));
}

TEST_F(MapPolicyTest, SelfCapMapGetsPolicyAttributes) {
  SetPolicy(R"({"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}],
                "nodeAttrs": [{"target": ["alice@"], "attr": ["keel-test-attr"]}]})");
  json a1 = Full(1);
  EXPECT_TRUE(a1["Node"]["CapMap"].contains("keel-test-attr")) << a1["Node"]["CapMap"].dump();
  EXPECT_TRUE(a1["Node"]["CapMap"].contains("https://tailscale.com/cap/ssh"));
  EXPECT_FALSE(Full(2)["Node"]["CapMap"].contains("keel-test-attr"));
}

// A policy set, changed or removed reaches sessions as a delta against what each was sent.
TEST_F(MapPolicyTest, PolicySetAndRemovedAsDeltas) {
  PeerView alice, carol;
  Full(1, &alice);  // no policy: everyone, allow all
  Full(4, &carol);
  PendingChanges p = Pending({{ChangeKind::kPolicy, 0}});
  SetPolicy(kAliceToBob);
  json da = json::parse(BuildDelta(Inputs(1, &alice), p).json);
  EXPECT_EQ(da["PeersRemoved"], json::parse("[3,4]"));
  EXPECT_EQ(da["PacketFilters"], json::parse(R"({"base":[]})"));
  EXPECT_FALSE(da.contains("PeersChanged"));
  json dc = json::parse(BuildDelta(Inputs(4, &carol), p).json);
  EXPECT_EQ(dc["PeersRemoved"], json::parse("[1,2,3]"));

  snap.policy = nullptr;  // policy removed: everyone again
  dc = json::parse(BuildDelta(Inputs(4, &carol), p).json);
  std::vector<uint64_t> shown;
  for (const auto& n : dc["PeersChanged"]) shown.push_back(n["ID"].get<uint64_t>());
  EXPECT_EQ(shown, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(dc["PacketFilters"]["base"][0]["SrcIPs"][0], "*");
  EXPECT_FALSE(dc.contains("PeersRemoved"));
  EXPECT_EQ(dc["UserProfiles"].size(), 2u);  // alice and bob
}

TEST_F(MapPolicyTest, NewNodeAttributesResendTheSelfNode) {
  constexpr const char* kAll = R"({"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]})";
  SetPolicy(kAll);
  PeerView alice, bob;
  Full(1, &alice);
  Full(2, &bob);
  PendingChanges p = Pending({{ChangeKind::kPolicy, 0}});
  SetPolicy(R"({"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}],
                "nodeAttrs": [{"target": ["alice@"], "attr": ["keel-test-attr"]}]})");
  json da = json::parse(BuildDelta(Inputs(1, &alice), p).json);
  ASSERT_TRUE(da.contains("Node"));
  EXPECT_TRUE(da["Node"]["CapMap"].contains("keel-test-attr"));
  EXPECT_FALSE(da.contains("PacketFilters"));  // the same filter: not resent
  EXPECT_TRUE(BuildDelta(Inputs(2, &bob), p).json.empty());  // nothing changed for bob
}

TEST_F(MapPolicyTest, FullMapClearsSshPolicyTheViewerHad) {
  SetPolicy(kAliceToBob);
  PeerView bob;
  EXPECT_TRUE(Full(2, &bob).contains("SSHPolicy"));
  SetPolicy(kCarolToBob);
  EXPECT_EQ(Full(2, &bob)["SSHPolicy"], json::parse(R"({"rules":[]})"));
  EXPECT_FALSE(Full(2, &bob).contains("SSHPolicy"));
}

}  // namespace
}  // namespace keel::control
