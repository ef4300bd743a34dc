// What a burst of joins costs a tailnet with a policy: N nodes register one after another, as
// fast as the store takes them, into a tailnet whose policy (bench/realistic_policy.h) must be
// recompiled for every new node. Run twice per size: recompiling inside every join (gap
// factor 0) and with keel's default coalescing (tailnet::Settings::recompile_gap_factor).
// Prints wall and CPU time for the burst, the number of compiles, and how long after the last
// join the published policy covered it. Uses a real SQLite file under $TMPDIR.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include "base/clock.h"
#include "base/log.h"
#include "policy/compiler.h"
#include "realistic_policy.h"
#include "store/sqlite_store.h"
#include "tailnet/tailnet.h"

namespace keel {
namespace {

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

crypto::Key32 KeyFor(int n, uint8_t kind) {
  crypto::Key32 k{};
  for (int b = 0; b < 4; ++b) k[b] = static_cast<uint8_t>(n >> (8 * b));
  k[31] = kind;
  return k;
}

struct Result {
  double wall_s = 0;
  double cpu_s = 0;
  uint64_t compiles = 0;
  double catch_up_ms = 0;
};

Result Burst(int nodes, bool coalesce) {
  auto dir = std::filesystem::temp_directory_path() /
             ("keel_join_burst_" + std::to_string(getpid()) + "_" + std::to_string(nodes));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  RealClock clock;
  auto store = store::SqliteStore::Open((dir / "keel.db").string()).value();
  tailnet::Settings settings;
  if (!coalesce) settings.recompile_gap_factor = 0;
  auto log = GetLogger("bench");
  log->set_level(spdlog::level::warn);
  Result r;
  {
    tailnet::Tailnet tn(settings, *store, clock, log);
    if (!tn.Load()) std::abort();
    int users = std::max(1, nodes / 5);
    std::vector<std::string> keys;
    for (int u = 0; u < users; ++u) {
      std::string name = "u" + std::to_string(u);
      if (!tn.CreateUser(name, "", name + "@x.com")) std::abort();
      keys.push_back(tn.CreatePreAuthKey(name, true, false, ZeroTime()).value().secret_text);
    }
    if (!tn.SetPolicy(policy::PolicyText(users), tailnet::PolicySource::kDatabase)) std::abort();
    uint64_t compiles_before = tn.policy_compiles();
    double cpu0 = CpuSeconds();
    auto t0 = std::chrono::steady_clock::now();
    model::NodeId last = 0;
    for (int i = 0; i < nodes; ++i) {
      tailnet::RegisterInput in;
      in.machine_key = crypto::MachinePublic(KeyFor(i, 1));
      in.node_key = crypto::NodePublic(KeyFor(i, 2));
      in.auth_key = keys[i % users];
      in.hostname = "n" + std::to_string(i);
      auto out = tn.Register(in);
      if (!out || !out->node) std::abort();
      last = out->node->id;
    }
    auto t1 = std::chrono::steady_clock::now();
    while (!tn.snapshot()->policy->IndexOf(last)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    auto t2 = std::chrono::steady_clock::now();
    r.wall_s = std::chrono::duration<double>(t1 - t0).count();
    r.cpu_s = CpuSeconds() - cpu0;
    r.compiles = tn.policy_compiles() - compiles_before;
    r.catch_up_ms = std::chrono::duration<double, std::milli>(t2 - t1).count();
  }
  std::filesystem::remove_all(dir);
  return r;
}

}  // namespace
}  // namespace keel

int main(int argc, char** argv) {
  std::vector<int> sizes = {500, 2000};
  if (argc > 1) {
    sizes.clear();
    for (int i = 1; i < argc; ++i) sizes.push_back(std::atoi(argv[i]));
  }
  std::printf("Join burst into a tailnet with a 200-rule policy (SQLite store)\n");
  std::printf("%6s | %-22s | %8s %8s %9s %12s\n", "nodes", "recompile", "wall s", "CPU s",
              "compiles", "catch-up ms");
  for (int n : sizes) {
    for (bool coalesce : {false, true}) {
      auto r = keel::Burst(n, coalesce);
      std::printf("%6d | %-22s | %8.2f %8.2f %9llu %12.1f\n", n,
                  coalesce ? "coalesced (default)" : "in every join", r.wall_s, r.cpu_s,
                  static_cast<unsigned long long>(r.compiles), r.catch_up_ms);
      std::fflush(stdout);
    }
  }
  return 0;
}
