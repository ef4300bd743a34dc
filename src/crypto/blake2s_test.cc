#include "crypto/blake2s.h"

#include <gtest/gtest.h>

#include "crypto/test_helpers.h"

namespace keel::crypto {
namespace {

using testing::HexKey;

TEST(Blake2s, Rfc7693Vector) {
  EXPECT_EQ(Blake2s(AsBytes("abc")),
            HexKey("508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982"));
  // Parts are hashed as their concatenation.
  EXPECT_EQ(Blake2s({AsBytes("a"), AsBytes(""), AsBytes("bc")}), Blake2s(AsBytes("abc")));
}

// Expected values from Python's hmac + hashlib.blake2s.
TEST(Blake2s, Hmac) {
  EXPECT_EQ(HmacBlake2s(AsBytes("key"), {AsBytes("The quick "), AsBytes("brown fox")}),
            HexKey("8717096fc5e7ac53d11d990acd4380c9ddd7bd8da5d8b5bc29855e6c98a866a4"));
}

TEST(Blake2s, NoiseHkdf) {
  Key32 ck;
  for (size_t i = 0; i < ck.size(); ++i) ck[i] = static_cast<uint8_t>(i);
  auto [o1, o2] = NoiseHkdf(ck, AsBytes("input key material"));
  EXPECT_EQ(o1, HexKey("93e2a65883e34ac95485f5d0aa4b09163a4e944dab8cf9406d3a138e362851c6"));
  EXPECT_EQ(o2, HexKey("dd6fae42afdb2a41170f44dc5b885ec4cfd17c8dd324d38b390c548630dd0a83"));
}

}  // namespace
}  // namespace keel::crypto
