#pragma once
// Resource limits facing the internet: a token bucket for request rates, and the one place a
// tripped limit is reported — counted in keel_limit_trips_total{limit=...} and logged at most
// once per ten seconds per limit, so an abusive client cannot flood the log instead.

#include <chrono>
#include <cstddef>
#include <spdlog/logger.h>
#include <string_view>

namespace keel {

// `burst` tokens at most, refilled at `per_second`; Take spends one when there is one.
class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;
  TokenBucket(double per_second, double burst, Clock::time_point now = Clock::now())
      : rate_(per_second), burst_(burst), tokens_(burst), updated_(now) {}
  bool Take(Clock::time_point now = Clock::now());
  // True when the bucket has refilled completely, so forgetting it changes nothing.
  bool Full(Clock::time_point now = Clock::now()) const;

 private:
  double rate_;
  double burst_;
  double tokens_;
  Clock::time_point updated_;
};

// Holds one place in a count of things in some phase (connections not yet past their first
// request, say) from construction until Release or destruction. One thread.
class CountedSlot {
 public:
  explicit CountedSlot(size_t& count) : count_(count) { ++count_; }
  ~CountedSlot() { Release(); }
  CountedSlot(const CountedSlot&) = delete;
  CountedSlot& operator=(const CountedSlot&) = delete;
  bool held() const { return held_; }
  void Release() {
    if (held_) --count_;
    held_ = false;
  }

 private:
  size_t& count_;
  bool held_ = true;
};

// Counts a trip of `limit` and logs `detail` (with how many trips the log skipped) unless
// this limit was logged in the past ten seconds. Any thread.
void LimitTripped(std::string_view limit, spdlog::logger& log, std::string_view detail);

// Trips of `limit` so far (tests).
double LimitTrips(std::string_view limit);

}  // namespace keel
