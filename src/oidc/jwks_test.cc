#include "oidc/jwks.h"

#include <gtest/gtest.h>

#include "base/bytes.h"
#include "oidc/test_signer.h"

namespace keel::oidc {
namespace {

using json = nlohmann::json;

const json kPayload = {{"sub", "alice"}, {"iss", "https://idp"}};

TEST(KeySet, VerifiesRsaAndEcSignatures) {
  auto rsa = TestSigner::Rsa("r1");
  auto ec = TestSigner::Ec("e1");
  auto set = KeySet::Parse(json{{"keys", {rsa.PublicJwk(), ec.PublicJwk()}}}.dump());
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_EQ(set->size(), 2u);
  for (const auto* signer : {&rsa, &ec}) {
    auto payload = set->Verify(signer->Sign(kPayload));
    ASSERT_TRUE(payload) << payload.error().message;
    EXPECT_EQ((*payload)["sub"], "alice");
  }
}

TEST(KeySet, RefusesTamperedTokensAndForeignKeys) {
  auto signer = TestSigner::Rsa("k");
  auto set = KeySet::Parse(signer.Jwks());
  ASSERT_TRUE(set);
  std::string token = signer.Sign(kPayload);
  // Another payload under the same signature.
  size_t a = token.find('.'), b = token.rfind('.');
  std::string forged = token.substr(0, a + 1) +
                       Base64UrlEncode(AsBytes(json{{"sub", "mallory"}}.dump())) + token.substr(b);
  EXPECT_EQ(set->Verify(forged).error().code, Errc::kPermissionDenied);
  // Signed by a key with the same kid that the provider never published.
  auto impostor = TestSigner::Rsa("k");
  EXPECT_EQ(set->Verify(impostor.Sign(kPayload)).error().code, Errc::kPermissionDenied);
  // An unknown kid: the caller refetches the provider's keys.
  EXPECT_EQ(set->Verify(TestSigner::Rsa("other").Sign(kPayload)).error().code, Errc::kNotFound);
}

TEST(KeySet, RefusesNoneHmacAndAlgorithmConfusion) {
  auto signer = TestSigner::Rsa("k");
  auto set = KeySet::Parse(signer.Jwks());
  ASSERT_TRUE(set);
  std::string body = Base64UrlEncode(AsBytes(kPayload.dump()));
  for (const char* alg : {"none", "HS256"}) {
    std::string header = Base64UrlEncode(AsBytes(json{{"alg", alg}, {"kid", "k"}}.dump()));
    auto r = set->Verify(header + "." + body + ".");
    ASSERT_FALSE(r) << alg;
    EXPECT_EQ(r.error().code, Errc::kPermissionDenied) << alg;
  }
  // An ES256 header on an RSA key's kid never selects that key.
  EXPECT_FALSE(set->Verify(signer.Sign(kPayload, {{"alg", "ES256"}})));
  // The provider's advertised algorithms bound what is accepted.
  EXPECT_EQ(set->Verify(signer.Sign(kPayload), {"ES256"}).error().code, Errc::kPermissionDenied);
  EXPECT_TRUE(set->Verify(signer.Sign(kPayload), {"RS256"}));
}

TEST(KeySet, RefusesMalformedInput) {
  auto signer = TestSigner::Rsa("k");
  auto set = KeySet::Parse(signer.Jwks());
  ASSERT_TRUE(set);
  for (std::string bad : {"", "a.b", "a.b.c.d", "!!.e30.", "e30.e30.x", "bnVsbA.e30.AA"}) {
    auto r = set->Verify(bad);
    ASSERT_FALSE(r) << bad;
  }
  for (std::string jwks : {"", "[]", "{\"keys\": 1}", "{\"keys\": [{\"kty\": \"oct\", \"k\": \"AA\"}]}",
                           "{\"keys\": [{\"kty\": \"RSA\", \"n\": \"AQAB\", \"e\": \"AQAB\"}]}"}) {
    EXPECT_FALSE(KeySet::Parse(jwks)) << jwks;
  }
}

}  // namespace
}  // namespace keel::oidc
