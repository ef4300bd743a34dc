#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <random>

#include "policy/compiler.h"

namespace keel::policy {
namespace {

// Exercises every way one node's outputs can depend on another: groups and tags on both sides,
// autogroup:self in ACLs and SSH, a host range and a prefix (wide filter entries), grant
// companions, SSH check with localpart, nodeAttrs, and subnet and exit routes approved by
// autoApprovers (a `*` source carries every approved route).
constexpr const char* kPolicy = R"({
  "groups": {"group:g0": ["u0@x.com", "u1@x.com"], "group:g1": ["u2@x.com", "u3@x.com"]},
  "tagOwners": {"tag:t0": [], "tag:t1": [], "tag:t2": []},
  "hosts": {"lan": "100.64.0.0/30"},
  "acls": [
    {"action": "accept", "src": ["group:g0"], "dst": ["tag:t0:22,80"]},
    {"action": "accept", "src": ["group:g1", "tag:t1"], "dst": ["group:g0:443"]},
    {"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:*"]},
    {"action": "accept", "src": ["tag:t2"], "dst": ["lan:*"]},
    {"action": "accept", "src": ["u4@x.com"], "dst": ["100.64.0.8/29:53"]},
    {"action": "accept", "src": ["*"], "dst": ["10.0.1.0/24:8080", "autogroup:internet:443"]},
  ],
  "autoApprovers": {"routes": {"10.0.0.0/16": ["group:g1"]}, "exitNode": ["tag:t2"]},
  "grants": [{"src": ["group:g1"], "dst": ["tag:t1"], "app": {"tailscale.com/cap/drive": [{"shares": ["*"]}]}}],
  "ssh": [
    {"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self"], "users": ["autogroup:nonroot"]},
    {"action": "check", "src": ["group:g0"], "dst": ["tag:t0"], "users": ["root", "localpart:*@x.com"]},
  ],
  "nodeAttrs": [{"target": ["group:g1"], "attr": ["funnel"]}],
})";

struct Outputs {
  std::string filter, ssh, caps;
  std::vector<uint64_t> peers;
  bool operator==(const Outputs&) const = default;
};

std::map<uint64_t, Outputs> AllOutputs(const CompiledPolicy& cp, const std::vector<PolicyNode>& nodes) {
  std::map<uint64_t, Outputs> out;
  for (const auto& n : nodes) {
    size_t i = *cp.IndexOf(n.id);
    auto peers = cp.Peers(i);
    std::sort(peers.begin(), peers.end());
    out[n.id] = {cp.PacketFilter(i).dump(), cp.SshPolicy(i).dump(), cp.CapMap(i).dump(), peers};
  }
  return out;
}

// A small tailnet on 100.64.0.1-30 (so neighbours merge into ranges) that mutates at random.
class Tailnet {
 public:
  explicit Tailnet(unsigned seed) : rng_(seed) {
    for (int u = 0; u < 6; ++u) users_.push_back({uint64_t(u + 1), "u" + std::to_string(u), "u" + std::to_string(u) + "@x.com", {}});
    for (int i = 0; i < 12; ++i) Add();
  }
  const std::vector<PolicyUser>& users() const { return users_; }
  std::vector<PolicyNode> nodes() const {
    std::vector<PolicyNode> out;
    for (const auto& [id, n] : nodes_) out.push_back(n);
    return out;
  }
  void Mutate() {
    int what = Pick(6);
    if (what == 0 || nodes_.size() < 4) return Add();
    auto it = std::next(nodes_.begin(), Pick(static_cast<int>(nodes_.size())));
    PolicyNode& n = it->second;
    switch (what) {
      case 1: nodes_.erase(it); return;
      case 2: Identity(n); return;
      case 3: n.ipv4 = FreeIp(); return;
      case 4: Routes(n); return;
      default: n.hostname += "x"; return;  // not an input of any output but the node's own
    }
  }

 private:
  int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  void Identity(PolicyNode& n) {
    n.tags.clear();
    n.user.reset();
    if (Pick(3) == 0) n.tags = {"tag:t" + std::to_string(Pick(3))};
    else n.user = users_[Pick(static_cast<int>(users_.size()))];
  }
  void Routes(PolicyNode& n) {
    n.routable_ips.clear();
    if (Pick(2) == 0) n.routable_ips.push_back("10.0." + std::to_string(Pick(3)) + ".0/24");
    if (Pick(3) == 0) n.routable_ips.push_back("0.0.0.0/0");
  }
  std::string FreeIp() {
    for (;;) {
      std::string ip = "100.64.0." + std::to_string(1 + Pick(30));
      if (std::none_of(nodes_.begin(), nodes_.end(), [&](const auto& e) { return e.second.ipv4 == ip; })) return ip;
    }
  }
  void Add() {
    if (nodes_.size() >= 28) return;
    PolicyNode n;
    n.id = next_id_++;
    n.hostname = "n" + std::to_string(n.id);
    n.ipv4 = FreeIp();
    n.ipv6 = "fd7a:115c:a1e0::" + std::to_string(n.id);
    Identity(n);
    if (Pick(3) == 0) Routes(n);
    nodes_[n.id] = n;
  }
  std::mt19937 rng_;
  std::vector<PolicyUser> users_;
  std::map<uint64_t, PolicyNode> nodes_;
  uint64_t next_id_ = 1;
};

struct Compiled {
  std::shared_ptr<const CompiledPolicy> cp;
  std::map<uint64_t, Outputs> outputs;
};

// A recompile gives every node what a fresh compile gives it, rules it kept included; and
// whenever it says a node's view is unchanged since an earlier compile of its line, the node's
// outputs are exactly what that compile gave it.
TEST(Lineage, UntouchedViewsEqualEarlierOutputs) {
  auto policy = std::make_shared<const Policy>(ParsePolicy(kPolicy).value());
  size_t checked = 0, reused = 0, touched = 0, total = 0, routers = 0, kept = 0, steps = 0;
  for (unsigned seed = 1; seed <= 6; ++seed) {
    Tailnet tn(seed);
    auto first = CompiledPolicy::Compile(policy, tn.users(), tn.nodes());
    ASSERT_TRUE(first) << first.error().message;
    EXPECT_EQ((*first)->TouchedCount(), tn.nodes().size());
    std::deque<Compiled> history{{*first, AllOutputs(**first, tn.nodes())}};
    for (int step = 0; step < 150; ++step) {
      tn.Mutate();
      ++steps;
      auto next = CompiledPolicy::Recompile(*history.back().cp, tn.users(), tn.nodes());
      ASSERT_TRUE(next) << next.error().message;
      Compiled now{*next, AllOutputs(**next, tn.nodes())};
      kept += now.cp->KeptRuleCount();
      // Rules kept from the previous compile give what compiling afresh gives.
      auto fresh = CompiledPolicy::Compile(policy, tn.users(), tn.nodes());
      ASSERT_TRUE(fresh) << fresh.error().message;
      ASSERT_EQ(AllOutputs(**fresh, tn.nodes()), now.outputs) << "seed " << seed << " step " << step;
      for (size_t i = 0; i < now.cp->NodeCount(); ++i) {
        ASSERT_EQ(now.cp->ApprovedRoutes(i), (*fresh)->ApprovedRoutes(i)) << "seed " << seed << " step " << step;
      }
      touched += now.cp->TouchedCount();
      for (size_t i = 0; i < now.cp->NodeCount(); ++i) routers += !now.cp->ApprovedRoutes(i).empty();
      total += now.outputs.size();
      for (const auto& earlier : history) {
        for (const auto& [id, out] : now.outputs) {
          auto before = earlier.outputs.find(id);
          if (before == earlier.outputs.end()) continue;
          ++checked;
          if (!now.cp->ViewUnchangedSince(*now.cp->IndexOf(id), *earlier.cp)) continue;
          ++reused;
          ASSERT_EQ(before->second, out) << "seed " << seed << " step " << step << " node " << id;
        }
      }
      history.push_back(std::move(now));
      if (history.size() > 6) history.pop_front();
    }
  }
  // The check is only meaningful if views are in fact reused, and useful only if a change
  // leaves many nodes untouched.
  EXPECT_GT(reused, checked / 4) << reused << " of " << checked;
  EXPECT_LT(touched, total * 3 / 4) << touched << " of " << total;
  EXPECT_GT(routers, total / 20) << "approved routes are part of what is checked";
  EXPECT_GT(kept, steps) << "recompiles keep rules";
}

TEST(Lineage, OnlyRelatedNodesAreTouched) {
  auto policy = std::make_shared<const Policy>(ParsePolicy(R"({
    "groups": {"group:a": ["u0@x.com"], "group:b": ["u1@x.com"]},
    "acls": [{"action": "accept", "src": ["group:a"], "dst": ["group:a:*"]},
             {"action": "accept", "src": ["group:b"], "dst": ["group:b:*"]}],
  })").value());
  std::vector<PolicyUser> users = {{1, "u0", "u0@x.com", {}}, {2, "u1", "u1@x.com", {}}};
  std::vector<PolicyNode> nodes;
  for (uint64_t i = 1; i <= 6; ++i) {
    nodes.push_back({i, "n" + std::to_string(i), users[i % 2], {}, "100.64.0." + std::to_string(i), "", {}, {}});
  }
  auto first = CompiledPolicy::Compile(policy, users, nodes).value();
  nodes.push_back({7, "n7", users[1], {}, "100.64.0.7", "", {}, {}});  // joins group:b
  auto next = CompiledPolicy::Recompile(*first, users, nodes).value();
  for (const auto& n : nodes) {
    bool same = next->ViewUnchangedSince(*next->IndexOf(n.id), *first);
    EXPECT_EQ(same, n.user->id == 1) << "node " << n.id;
  }
  EXPECT_EQ(next->TouchedCount(), 4u);

  // A view from an unrelated compile, or from another policy, is never taken as current.
  auto other = CompiledPolicy::Compile(policy, users, nodes).value();
  EXPECT_FALSE(next->ViewUnchangedSince(0, *other));
  EXPECT_TRUE(next->ViewUnchangedSince(0, *next));
}

}  // namespace
}  // namespace keel::policy
