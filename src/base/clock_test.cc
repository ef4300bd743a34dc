#include "base/clock.h"

#include <gtest/gtest.h>

namespace keel {
namespace {

TEST(Time, FormatsLikeGo) {
  auto t = ParseTime("2026-08-22T10:00:00Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(FormatTime(*t), "2026-08-22T10:00:00Z");
  EXPECT_EQ(FormatTime(*ParseTime("2026-08-22T10:00:00.1200Z")), "2026-08-22T10:00:00.12Z");
  EXPECT_EQ(FormatTime(*ParseTime("2026-08-22T12:00:00+02:00")), "2026-08-22T10:00:00Z");
}

TEST(Time, ZeroTimeRoundTrips) {
  auto t = ParseTime("0001-01-01T00:00:00Z");
  ASSERT_TRUE(t);
  EXPECT_TRUE(IsZeroTime(*t));
  EXPECT_EQ(FormatTime(ZeroTime()), "0001-01-01T00:00:00Z");
  auto logout = ParseTime("1970-01-01T00:02:03Z");
  ASSERT_TRUE(logout);
  EXPECT_FALSE(IsZeroTime(*logout));
}

TEST(Time, RejectsJunk) {
  EXPECT_FALSE(ParseTime(""));
  EXPECT_FALSE(ParseTime("2026-13-01T00:00:00Z"));
  EXPECT_FALSE(ParseTime("2026-01-01 00:00:00Z"));
  EXPECT_FALSE(ParseTime("2026-01-01T00:00:00"));
}

}  // namespace
}  // namespace keel
