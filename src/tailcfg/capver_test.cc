#include "tailcfg/capver.h"

#include <gtest/gtest.h>

namespace keel::tailcfg {
namespace {

TEST(CapVerTest, Releases) {
  EXPECT_EQ(ReleaseForCapVer(113), "v1.80");
  EXPECT_EQ(ReleaseForCapVer(114), "v1.80");
  EXPECT_EQ(ReleaseForCapVer(88), "v1.62");
  EXPECT_EQ(ReleaseForCapVer(95), "v1.66");
  EXPECT_EQ(ReleaseForCapVer(106), "v1.74-v1.76");  // v1.76.6 reports 106 too
  EXPECT_EQ(ReleaseForCapVer(60), "v1.38");
  EXPECT_EQ(ReleaseForCapVer(141), "v1.100");
  EXPECT_EQ(ReleaseForCapVer(142), "v1.102");
  EXPECT_EQ(ReleaseForCapVer(20), "");
  EXPECT_EQ(ReleaseForCapVer(143), "");  // newer than any release in the table
}

TEST(CapVerTest, TooOldMessage) {
  EXPECT_EQ(TooOldMessage(60, 88),
            "keel: client capability version 60 (Tailscale v1.38) is too old; this server needs "
            ">= 88 (v1.62); please upgrade Tailscale");
  EXPECT_EQ(TooOldMessage(20, 113),
            "keel: client capability version 20 is too old; this server needs >= 113 (v1.80); "
            "please upgrade Tailscale");
}

}  // namespace
}  // namespace keel::tailcfg
