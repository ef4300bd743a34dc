#include "crypto/x25519.h"

#include <gtest/gtest.h>

#include "crypto/test_helpers.h"

namespace keel::crypto {
namespace {

using testing::HexKey;

// RFC 7748 §6.1.
const char kAlicePriv[] = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
const char kAlicePub[] = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
const char kBobPriv[] = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
const char kBobPub[] = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
const char kShared[] = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

TEST(X25519, Rfc7748Vector) {
  PrivateKey alice(HexKey(kAlicePriv)), bob(HexKey(kBobPriv));
  EXPECT_EQ(PublicFromPrivate(alice), HexKey(kAlicePub));
  EXPECT_EQ(PublicFromPrivate(bob), HexKey(kBobPub));
  auto s1 = X25519(alice, HexKey(kBobPub));
  auto s2 = X25519(bob, HexKey(kAlicePub));
  ASSERT_TRUE(s1);
  ASSERT_TRUE(s2);
  EXPECT_EQ(*s1, HexKey(kShared));
  EXPECT_EQ(*s2, HexKey(kShared));

  X25519Private loaded(alice);
  EXPECT_EQ(loaded.public_key(), HexKey(kAlicePub));
  EXPECT_EQ(loaded.Dh(HexKey(kBobPub)).value(), HexKey(kShared));
}

TEST(X25519, RejectsLowOrderPoints) {
  PrivateKey alice(HexKey(kAlicePriv));
  EXPECT_FALSE(X25519(alice, Key32{}));
  Key32 one{};
  one[0] = 1;  // u = 1 is a point of order 4: the shared secret is zero
  EXPECT_FALSE(X25519(alice, one));
}

TEST(X25519, GeneratedKeysAgree) {
  PrivateKey a = GeneratePrivateKey(), b = GeneratePrivateKey();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.raw()[0] & 7, 0);
  EXPECT_EQ(a.raw()[31] & 0xc0, 0x40);
  EXPECT_EQ(X25519(a, PublicFromPrivate(b)).value(), X25519(b, PublicFromPrivate(a)).value());
}

}  // namespace
}  // namespace keel::crypto
