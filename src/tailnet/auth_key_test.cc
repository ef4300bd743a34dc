#include "tailnet/auth_key.h"

#include <gtest/gtest.h>

namespace keel::tailnet {
namespace {

TEST(AuthKey, GenerateParseHash) {
  auto k = GenerateAuthKey();
  ASSERT_TRUE(k);
  EXPECT_EQ(k->prefix.size(), 12u);
  EXPECT_TRUE(k->text.starts_with("keel-auth-" + k->prefix + "-"));
  auto parts = ParseAuthKey(k->text);
  ASSERT_TRUE(parts);
  EXPECT_EQ(parts->prefix, k->prefix);
  EXPECT_EQ(parts->secret.size(), 48u);
  EXPECT_EQ(k->secret_hash.size(), 64u);
  EXPECT_EQ(k->text.find(k->secret_hash), std::string::npos);
  EXPECT_TRUE(AuthKeySecretMatches(parts->secret, k->secret_hash));
  std::string wrong = parts->secret;
  wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
  EXPECT_FALSE(AuthKeySecretMatches(wrong, k->secret_hash));
  EXPECT_NE(GenerateAuthKey()->text, k->text);
}

}  // namespace
}  // namespace keel::tailnet

namespace keel::tailnet {
namespace {

TEST(AuthKey, RejectsMalformed) {
  std::string good = "keel-auth-0123456789ab-" + std::string(48, 'c');
  EXPECT_TRUE(ParseAuthKey(good));
  EXPECT_FALSE(ParseAuthKey(""));
  EXPECT_FALSE(ParseAuthKey("hskey-auth-0123456789ab-" + std::string(48, 'c')));
  EXPECT_FALSE(ParseAuthKey("keel-auth-0123456789ab-" + std::string(47, 'c')));
  EXPECT_FALSE(ParseAuthKey("keel-auth-0123456789ab_" + std::string(48, 'c')));
  EXPECT_FALSE(ParseAuthKey("keel-auth-0123456789AB-" + std::string(48, 'c')));
  EXPECT_FALSE(ParseAuthKey("keel-auth-0123456789ab-" + std::string(48, 'z')));
}

}  // namespace
}  // namespace keel::tailnet
