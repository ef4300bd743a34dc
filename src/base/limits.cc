#include "base/limits.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <string>

#include "base/metrics.h"

namespace keel {
namespace {

constexpr auto kLogEvery = std::chrono::seconds(10);

prometheus::Counter& Trips(std::string_view limit) {
  static auto& family = prometheus::BuildCounter()
                            .Name("keel_limit_trips_total")
                            .Help("Requests or connections refused or ended by a resource limit")
                            .Register(metrics::Registry());
  return family.Add({{"limit", std::string(limit)}});
}

struct LogState {
  std::chrono::steady_clock::time_point last{};
  uint64_t skipped = 0;
};

}  // namespace

bool TokenBucket::Take(Clock::time_point now) {
  double elapsed = std::chrono::duration<double>(now - updated_).count();
  tokens_ = std::min(burst_, tokens_ + std::max(0.0, elapsed) * rate_);
  updated_ = now;
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

bool TokenBucket::Full(Clock::time_point now) const {
  double elapsed = std::chrono::duration<double>(now - updated_).count();
  return tokens_ + std::max(0.0, elapsed) * rate_ >= burst_;
}

void LimitTripped(std::string_view limit, spdlog::logger& log, std::string_view detail) {
  Trips(limit).Increment();
  static std::mutex mu;
  static std::map<std::string, LogState, std::less<>> states;
  auto now = std::chrono::steady_clock::now();
  uint64_t skipped = 0;
  {
    std::lock_guard lock(mu);
    auto it = states.try_emplace(std::string(limit)).first;
    if (it->second.last != std::chrono::steady_clock::time_point{} && now - it->second.last < kLogEvery) {
      ++it->second.skipped;
      return;
    }
    it->second.last = now;
    skipped = std::exchange(it->second.skipped, 0);
  }
  if (skipped > 0) {
    log.warn("limit {}: {} ({} more since the last report)", limit, detail, skipped);
  } else {
    log.warn("limit {}: {}", limit, detail);
  }
}

double LimitTrips(std::string_view limit) { return Trips(limit).Value(); }

}  // namespace keel
