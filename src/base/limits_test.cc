#include "base/limits.h"

#include <gtest/gtest.h>

#include "base/log.h"

namespace keel {
namespace {

using namespace std::chrono_literals;

TEST(TokenBucketTest, AllowsTheBurstThenRefillsAtTheRate) {
  auto t0 = TokenBucket::Clock::time_point{} + 1h;
  TokenBucket bucket(10, 3, t0);
  EXPECT_TRUE(bucket.Full(t0));
  EXPECT_TRUE(bucket.Take(t0));
  EXPECT_TRUE(bucket.Take(t0));
  EXPECT_TRUE(bucket.Take(t0));
  EXPECT_FALSE(bucket.Take(t0));
  EXPECT_FALSE(bucket.Take(t0 + 50ms));   // half a token
  EXPECT_TRUE(bucket.Take(t0 + 150ms));   // 1.5 tokens earned since t0
  EXPECT_FALSE(bucket.Full(t0 + 150ms));
  EXPECT_TRUE(bucket.Full(t0 + 1h));      // never more than the burst
  EXPECT_TRUE(bucket.Take(t0 + 1h));
  EXPECT_TRUE(bucket.Take(t0 + 1h));
  EXPECT_TRUE(bucket.Take(t0 + 1h));
  EXPECT_FALSE(bucket.Take(t0 + 1h));
}

TEST(LimitTrippedTest, CountsEveryTrip) {
  double before = LimitTrips("limits_test");
  for (int i = 0; i < 5; ++i) LimitTripped("limits_test", *GetLogger("limits_test"), "tripped");
  EXPECT_EQ(LimitTrips("limits_test"), before + 5);
}

}  // namespace
}  // namespace keel
