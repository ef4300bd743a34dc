#include "base/bytes.h"

#include <gtest/gtest.h>

namespace keel {
namespace {

TEST(Hex, RoundTripsAndRejectsJunk) {
  Bytes b{0x00, 0xab, 0xff};
  EXPECT_EQ(HexEncode(b), "00abff");
  EXPECT_EQ(*HexDecode("00ABff"), b);
  EXPECT_FALSE(HexDecode("0"));
  EXPECT_FALSE(HexDecode("zz"));
}

TEST(Base64, UrlAlphabetWithoutPadding) {
  const Bytes raw = {0xfb, 0xff, 0xbf, 0x01};
  EXPECT_EQ(Base64UrlEncode(raw), "-_-_AQ");
  EXPECT_EQ(*Base64UrlDecode("-_-_AQ"), raw);
  EXPECT_EQ(AsChars(*Base64UrlDecode("YWJj")), "abc");
  EXPECT_FALSE(Base64UrlDecode("YWI="));   // padding is not part of base64url
  EXPECT_FALSE(Base64UrlDecode("+/+/AQ"));  // nor is the standard alphabet
  EXPECT_FALSE(Base64UrlDecode("YWJjZ"));   // 4n+1 characters encode nothing
}

TEST(Base64, StrictPaddingAndAlphabet) {
  EXPECT_EQ(Base64Encode(AsBytes("ab")), "YWI=");
  EXPECT_EQ(AsChars(*Base64Decode("YWI=")), "ab");
  EXPECT_EQ(AsChars(*Base64Decode("YWJj")), "abc");
  EXPECT_EQ(Base64Decode("")->size(), 0u);
  EXPECT_FALSE(Base64Decode("YWI"));
  EXPECT_FALSE(Base64Decode("Y=Jj"));
  EXPECT_FALSE(Base64Decode("YW!="));
}

}  // namespace
}  // namespace keel
