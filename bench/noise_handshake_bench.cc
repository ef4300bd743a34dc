// Server-side TS2021 handshake cost (RespondToInitiation) against its floor: five X25519
// operations (two DH with the control key, two with the server ephemeral, one public-key
// derivation). Prints handshakes/s and that rate as a fraction of (X25519 ops/s) / 5, both per
// CPU-second of one thread.

#include <benchmark/benchmark.h>

#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include "crypto/x25519.h"
#include "noise/handshake.h"

namespace {

using keel::crypto::GeneratePrivateKey;
using keel::crypto::Key32;
using keel::crypto::MachinePublic;
using keel::crypto::PrivateKey;
using keel::crypto::PublicFromPrivate;

double g_handshakes_per_second = 0;
double g_x25519_per_second = 0;

void BM_X25519(benchmark::State& state) {
  PrivateKey priv = GeneratePrivateKey();
  Key32 peer = PublicFromPrivate(GeneratePrivateKey());
  for (auto _ : state) {
    auto shared = keel::crypto::X25519(priv, peer);
    benchmark::DoNotOptimize(shared);
  }
  state.counters["ops/s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                               benchmark::Counter::kIsRate);
}
BENCHMARK(BM_X25519);

// One X25519 operation as the handshake performs it: the private key already loaded. The
// one-shot BM_X25519 above also derives the public key on load (about one more fixed-base op).
void BM_X25519Loaded(benchmark::State& state) {
  keel::crypto::X25519Private priv(GeneratePrivateKey());
  Key32 peer = PublicFromPrivate(GeneratePrivateKey());
  for (auto _ : state) {
    auto shared = priv.Dh(peer);
    benchmark::DoNotOptimize(shared);
  }
  state.counters["ops/s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                               benchmark::Counter::kIsRate);
}
BENCHMARK(BM_X25519Loaded);

void BM_RespondToInitiation(benchmark::State& state) {
  PrivateKey control = GeneratePrivateKey();
  MachinePublic control_pub(PublicFromPrivate(control));
  PrivateKey machine = GeneratePrivateKey();
  // Fresh client initiations and server ephemerals made outside the timed loop.
  constexpr size_t kPool = 256;
  std::vector<std::array<uint8_t, keel::noise::kInitiationSize>> initiations;
  std::vector<PrivateKey> ephemerals;
  for (size_t i = 0; i < kPool; ++i) {
    keel::noise::ClientHandshake client(machine, control_pub, 145, GeneratePrivateKey());
    initiations.push_back(client.initiation());
    ephemerals.push_back(GeneratePrivateKey());
  }
  size_t i = 0;
  for (auto _ : state) {
    auto hs = keel::noise::RespondToInitiation(initiations[i % kPool], control,
                                               ephemerals[i % kPool]);
    if (!hs) state.SkipWithError("handshake failed");
    benchmark::DoNotOptimize(hs);
    ++i;
  }
  state.counters["handshakes/s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_RespondToInitiation);

// Collects the rates of the runs above to print the summary line.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& run : runs) {
      // CPU time: the shared 2-core machine makes wall time mostly a measure of the neighbours.
      double seconds = run.cpu_accumulated_time;
      if (seconds <= 0 || run.iterations == 0) continue;
      double rate = static_cast<double>(run.iterations) / seconds;
      std::string name = run.benchmark_name();
      if (name == "BM_X25519Loaded") g_x25519_per_second = rate;
      if (name == "BM_RespondToInitiation") g_handshakes_per_second = rate;
    }
    ConsoleReporter::ReportRuns(runs);
  }
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  if (g_handshakes_per_second > 0 && g_x25519_per_second > 0) {
    double floor = g_x25519_per_second / 5;
    std::printf("server handshakes/s: %.0f; X25519 ops/s: %.0f; ratio to (X25519 ops/s)/5: %.2f\n",
                g_handshakes_per_second, g_x25519_per_second, g_handshakes_per_second / floor);
  }
  return 0;
}
