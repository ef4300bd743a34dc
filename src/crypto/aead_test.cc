#include "crypto/aead.h"

#include <gtest/gtest.h>

#include "crypto/test_helpers.h"

namespace keel::crypto {
namespace {

using testing::Hex;

struct Rfc8439 {
  Key32 key;
  AeadNonce nonce;
  Bytes ad = Hex("50515253c0c1c2c3c4c5c6c7");
  std::string_view plaintext =
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the "
      "future, sunscreen would be it.";
  Bytes sealed = Hex(
      "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da"
      "92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad6759455"
      "85808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116"
      "1ae10b594f09e26a7e902ecbd0600691");
  Rfc8439() {
    for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(0x80 + i);
    Bytes n = Hex("070000004041424344454647");
    std::copy(n.begin(), n.end(), nonce.begin());
  }
};

TEST(Aead, Rfc8439Vector) {
  Rfc8439 v;
  EXPECT_EQ(AeadSeal(v.key, v.nonce, v.ad, AsBytes(v.plaintext)), v.sealed);
  auto opened = AeadOpen(v.key, v.nonce, v.ad, v.sealed);
  ASSERT_TRUE(opened);
  EXPECT_EQ(AsChars(*opened), v.plaintext);
}

TEST(Aead, InPlace) {
  Rfc8439 v;
  Bytes buf(v.plaintext.begin(), v.plaintext.end());
  size_t n = buf.size();
  buf.resize(n + kAeadTagSize);
  AeadSeal(v.key, v.nonce, v.ad, std::span(buf).first(n), buf);
  EXPECT_EQ(buf, v.sealed);
  ASSERT_TRUE(AeadOpen(v.key, v.nonce, v.ad, buf, std::span(buf).first(n)));
  EXPECT_EQ(AsChars(std::span(buf).first(n)), v.plaintext);
}

TEST(Aead, RejectsTampering) {
  Rfc8439 v;
  for (size_t i : {size_t{0}, v.sealed.size() / 2, v.sealed.size() - 1}) {
    Bytes bad = v.sealed;
    bad[i] ^= 1;
    EXPECT_FALSE(AeadOpen(v.key, v.nonce, v.ad, bad));
  }
  Bytes other_ad = v.ad;
  other_ad[0] ^= 1;
  EXPECT_FALSE(AeadOpen(v.key, v.nonce, other_ad, v.sealed));
  AeadNonce other_nonce = v.nonce;
  other_nonce[11] ^= 1;
  EXPECT_FALSE(AeadOpen(v.key, other_nonce, v.ad, v.sealed));
  EXPECT_FALSE(AeadOpen(v.key, v.nonce, v.ad, std::span(v.sealed).first(15)));
}

TEST(Aead, EmptyPlaintextIsJustATag) {
  Key32 key{};
  AeadNonce nonce{};
  Bytes sealed = AeadSeal(key, nonce, {}, {});
  EXPECT_EQ(sealed.size(), kAeadTagSize);
  auto opened = AeadOpen(key, nonce, {}, sealed);
  ASSERT_TRUE(opened);
  EXPECT_TRUE(opened->empty());
}

}  // namespace
}  // namespace keel::crypto
