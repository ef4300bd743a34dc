#include "tailcfg/capver.h"

#include <gtest/gtest.h>

namespace keel::tailcfg {
namespace {

TEST(CapVerTest, Releases) {
  EXPECT_EQ(ReleaseForCapVer(113), "v1.80");
  EXPECT_EQ(ReleaseForCapVer(114), "v1.80");
  EXPECT_EQ(ReleaseForCapVer(95), "v1.66");
  EXPECT_EQ(ReleaseForCapVer(142), "v1.102");
  EXPECT_EQ(ReleaseForCapVer(40), "");
}

TEST(CapVerTest, TooOldMessage) {
  EXPECT_EQ(TooOldMessage(95, 113),
            "keel: client capability version 95 (Tailscale v1.66) is too old; this server needs "
            ">= 113 (v1.80); please upgrade Tailscale");
  EXPECT_EQ(TooOldMessage(40, 113),
            "keel: client capability version 40 is too old; this server needs >= 113 (v1.80); "
            "please upgrade Tailscale");
}

}  // namespace
}  // namespace keel::tailcfg
