// Policy compile time and per-node filter time for tailnets of 100, 1,000 and 10,000 nodes
// with a realistic policy: 20 groups, 30 tags, 200 ACL rules (users, groups, tags, hosts);
// and what one member joining costs: the recompile, and the sessions' views it touched.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "policy/compiler.h"
#include "realistic_policy.h"

namespace keel::policy {
namespace {

struct Fixture {
  std::shared_ptr<const Policy> policy;
  std::vector<PolicyUser> users;
  std::vector<PolicyNode> nodes;
};

Fixture Make(int n) {
  Fixture f;
  int users = std::max(1, n / 5);
  for (int u = 0; u < users; ++u) f.users.push_back({uint64_t(u + 1), "u" + std::to_string(u), "u" + std::to_string(u) + "@x.com", {}});
  for (int i = 0; i < n; ++i) {
    PolicyNode node;
    node.id = i + 1;
    node.hostname = "n" + std::to_string(i);
    node.ipv4 = Ip4(i);
    char v6[64];
    std::snprintf(v6, sizeof v6, "fd7a:115c:a1e0::%x", i + 1);
    node.ipv6 = v6;
    if (i % 4 == 0) node.tags = {"tag:t" + std::to_string(i % 30)};
    else node.user = f.users[i % users];
    f.nodes.push_back(std::move(node));
  }
  f.policy = std::make_shared<const Policy>(ParsePolicy(PolicyText(users)).value());
  return f;
}

void BM_Compile(benchmark::State& state) {
  Fixture f = Make(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto cp = CompiledPolicy::Compile(f.policy, f.users, f.nodes);
    benchmark::DoNotOptimize(cp);
  }
}
BENCHMARK(BM_Compile)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

// Cost of one per-node output, cycling through the nodes of a compiled tailnet.
template <class Fn>
void PerNode(benchmark::State& state, Fn fn) {
  Fixture f = Make(static_cast<int>(state.range(0)));
  auto cp = CompiledPolicy::Compile(f.policy, f.users, f.nodes).value();
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(fn(*cp, i));
    i = (i + 7) % cp->NodeCount();
  }
}

void BM_NodeFilter(benchmark::State& state) {
  PerNode(state, [](const CompiledPolicy& cp, size_t i) { return cp.PacketFilter(i); });
}
BENCHMARK(BM_NodeFilter)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

void BM_NodePeers(benchmark::State& state) {
  PerNode(state, [](const CompiledPolicy& cp, size_t i) { return cp.Peers(i); });
}
BENCHMARK(BM_NodePeers)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

// One member joins a tailnet of n nodes (user u0, so group g0 and the rules that name it).
struct Join {
  Fixture f;
  std::shared_ptr<const CompiledPolicy> before;
  std::vector<PolicyNode> after;
};

Join MakeJoin(int n) {
  Join j{Make(n), nullptr, {}};
  j.before = CompiledPolicy::Compile(j.f.policy, j.f.users, j.f.nodes).value();
  j.after = j.f.nodes;
  PolicyNode joiner;
  joiner.id = n + 1;
  joiner.hostname = "joiner";
  joiner.ipv4 = Ip4(n);
  joiner.user = j.f.users[0];
  j.after.push_back(std::move(joiner));
  return j;
}

// The compile after the join: rules the join does not concern are kept from the compile
// before, and the nodes whose outputs it touched are worked out.
void BM_JoinRecompile(benchmark::State& state) {
  Join j = MakeJoin(static_cast<int>(state.range(0)));
  size_t touched = 0, kept = 0;
  for (auto _ : state) {
    auto cp = CompiledPolicy::Recompile(*j.before, j.f.users, j.after).value();
    touched = cp->TouchedCount();
    kept = cp->KeptRuleCount();
  }
  state.counters["touched"] = static_cast<double>(touched);
  state.counters["kept_rules"] = static_cast<double>(kept);
}
BENCHMARK(BM_JoinRecompile)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

// What every session then does to bring its view up to date: recompute peers, filter and SSH
// policy if the compile touched it (`all`: every session recomputes, regardless).
void JoinViews(benchmark::State& state, bool all) {
  Join j = MakeJoin(static_cast<int>(state.range(0)));
  auto after = CompiledPolicy::Recompile(*j.before, j.f.users, j.after).value();
  size_t recomputed = 0;
  for (auto _ : state) {
    recomputed = 0;
    for (size_t i = 0; i < after->NodeCount(); ++i) {
      if (!all && after->ViewUnchangedSince(i, *j.before)) continue;
      ++recomputed;
      benchmark::DoNotOptimize(after->Peers(i));
      benchmark::DoNotOptimize(after->PacketFilter(i).dump());
      benchmark::DoNotOptimize(after->SshPolicy(i));
    }
  }
  state.counters["recomputed"] = static_cast<double>(recomputed);
}
void BM_JoinViewsTouched(benchmark::State& state) { JoinViews(state, false); }
void BM_JoinViewsEvery(benchmark::State& state) { JoinViews(state, true); }
BENCHMARK(BM_JoinViewsTouched)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_JoinViewsEvery)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace keel::policy
