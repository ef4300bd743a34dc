#pragma once
// Prometheus metrics (prometheus-cpp): one process-wide registry that every module adds its
// counters and histograms to, and the text exposition `/metrics` serves. A module declares a
// metric once (a function-local static) and updates it from any thread; updates are atomic.
// Values that already live elsewhere (node counts, relay statistics) are read at scrape time
// through a Collectable instead of being copied on every change.

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace keel::metrics {

// The registry every module registers with; lives for the whole process.
prometheus::Registry& Registry();

// Prometheus text format of Registry() and of `extra` (read now).
std::string Render(const std::vector<std::shared_ptr<prometheus::Collectable>>& extra = {});

// Buckets for durations in seconds, from 100 µs to 10 s.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets();

// Observes into `histogram`, when it goes out of scope, the seconds since it was made.
class ScopedTimer {
 public:
  explicit ScopedTimer(prometheus::Histogram& histogram) : histogram_(histogram) {}
  ~ScopedTimer() {
    histogram_.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  }
  ScopedTimer(const ScopedTimer&) = delete;
  ScopedTimer& operator=(const ScopedTimer&) = delete;

 private:
  prometheus::Histogram& histogram_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace keel::metrics
