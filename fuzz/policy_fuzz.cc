// Fuzzes the policy pipeline end to end: the HuJSON reader, ParsePolicy's validation, and the
// compiler against a small tailnet, then every per-node output and a Recompile after a node
// leaves. An admin can upload any policy text (PUT /api/v1/policy), so none of it may crash.
//
// Input: kTopologyBytes bytes that choose the tailnet (users, their groups, nodes with owners
// or tags, advertised and approved routes), then the policy text. The names come from the
// golden scenarios (testdata/policy-golden), so their policies resolve against it.
#include <fuzzer/FuzzedDataProvider.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "json_mutator.h"
#include "policy/compiler.h"
#include "policy/hujson.h"
#include "policy/policy.h"
#include "policy_keys.h"

namespace {

using keel::policy::CompiledPolicy;
using keel::policy::PolicyNode;
using keel::policy::PolicyUser;

constexpr size_t kTopologyBytes = 16;
constexpr size_t kMaxNodes = 8;

const keel::fuzz::JsonMutatorOptions kMutator{
    .header_size = kTopologyBytes, .hujson = true, .keys = keel::fuzz::kPolicyKeys};

struct Tailnet {
  std::vector<PolicyUser> users;
  std::vector<PolicyNode> nodes;
};

template <class T, size_t N>
std::vector<std::string> Subset(FuzzedDataProvider& fdp, const T (&items)[N]) {
  static_assert(N <= 8);
  auto bits = fdp.ConsumeIntegral<uint8_t>();
  std::vector<std::string> out;
  for (size_t i = 0; i < N; ++i) {
    if (bits & (1u << i)) out.emplace_back(items[i]);
  }
  return out;
}

Tailnet MakeTailnet(const uint8_t* data) {
  static constexpr const char* kUsers[][2] = {{"odin", "odin@example.com"},
                                              {"thor", "thor@example.org"},
                                              {"freya", "freya@example.com"},
                                              {"loki", "loki@example.net"}};
  static constexpr const char* kGroups[] = {"group:admins", "group:developers"};
  static constexpr const char* kTags[] = {"tag:server", "tag:exit", "tag:router", "tag:prod",
                                          "tag:client"};
  static constexpr const char* kRoutes[] = {"10.33.0.0/16", "0.0.0.0/0", "::/0",
                                            "192.168.1.0/24", "fd00::/64"};
  FuzzedDataProvider fdp(data, kTopologyBytes);
  Tailnet t;
  size_t user_count = fdp.ConsumeIntegralInRange<size_t>(1, std::size(kUsers));
  for (size_t i = 0; i < user_count; ++i) {
    t.users.push_back({.id = i + 1, .name = kUsers[i][0], .email = kUsers[i][1],
                       .groups = Subset(fdp, kGroups)});
  }
  size_t node_count = fdp.ConsumeIntegralInRange<size_t>(0, kMaxNodes);
  for (size_t i = 0; i < node_count; ++i) {
    PolicyNode n;
    n.id = 100 + i;
    n.hostname = "node" + std::to_string(i);
    n.tags = Subset(fdp, kTags);
    if (n.tags.empty()) n.user = t.users[fdp.ConsumeIntegralInRange<size_t>(0, user_count - 1)];
    n.ipv4 = "100.64.0." + std::to_string(i + 1);
    n.ipv6 = "fd7a:115c:a1e0::" + std::to_string(i + 1);
    n.routable_ips = Subset(fdp, kRoutes);
    for (const auto& r : n.routable_ips) {
      if (fdp.ConsumeBool()) n.approved_routes.push_back(r);
    }
    t.nodes.push_back(std::move(n));
  }
  return t;
}

// Asks the compile for everything a node receives, as a map session would.
void ReadEveryOutput(const CompiledPolicy& compiled, const Tailnet& t) {
  for (size_t i = 0; i < compiled.NodeCount(); ++i) {
    compiled.PacketFilter(i).dump();
    compiled.SshPolicy(i).dump();
    compiled.CapMap(i).dump();
    compiled.Peers(i);
    compiled.ApprovedRoutes(i);
  }
  compiled.SshCheckPeriodSeconds();
  for (const auto& u : t.users) compiled.UserOwnsTag(u.id, "tag:server");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kTopologyBytes) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + kTopologyBytes, size - kTopologyBytes);
  // The HuJSON reader on its own, then the parser that uses it.
  (void)keel::policy::ParseHuJson(text);
  auto parsed = keel::policy::ParsePolicy(text);
  if (!parsed) return 0;
  auto policy = std::make_shared<const keel::policy::Policy>(std::move(*parsed));
  Tailnet t = MakeTailnet(data);
  auto compiled = CompiledPolicy::Compile(policy, t.users, t.nodes);
  if (!compiled) return 0;
  ReadEveryOutput(**compiled, t);
  // A node leaves: the same policy against the smaller tailnet, continuing the line.
  if (!t.nodes.empty()) {
    t.nodes.pop_back();
    auto next = CompiledPolicy::Recompile(**compiled, t.users, t.nodes);
    if (next) {
      ReadEveryOutput(**next, t);
      for (size_t i = 0; i < (*next)->NodeCount(); ++i) (*next)->ViewUnchangedSince(i, **compiled);
    }
  }
  return 0;
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned seed) {
  return keel::fuzz::MutateJsonInput(data, size, max_size, seed, kMutator);
}
