#include "oidc/claims.h"

#include <gtest/gtest.h>

namespace keel::oidc {
namespace {

using json = nlohmann::json;
using std::chrono::seconds;

const SystemTime kNow{seconds(1'800'000'000)};

TokenExpectations Expect() { return {"https://idp.test", "keel", "n0nce", kNow}; }

json Token() {
  return {{"iss", "https://idp.test"}, {"sub", "u1"}, {"aud", "keel"},
          {"exp", 1'800'000'060}, {"iat", 1'799'999'990}, {"nonce", "n0nce"},
          {"email", "alice@example.com"}, {"email_verified", "true"}, {"name", "Alice"},
          {"preferred_username", "alice"}, {"groups", "eng"}};
}

TEST(CheckIdToken, ReadsTheClaimsOfAGoodToken) {
  auto c = CheckIdToken(Token(), Expect());
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->email, "alice@example.com");
  EXPECT_TRUE(c->email_verified);
  EXPECT_EQ(c->groups, std::vector<std::string>{"eng"});
  EXPECT_EQ(c->expires, SystemTime(seconds(1'800'000'060)));
  EXPECT_EQ(ProviderIdentifier(*c), "https://idp.test/u1");
  json array_aud = Token();
  array_aud["aud"] = {"other", "keel"};
  EXPECT_TRUE(CheckIdToken(array_aud, Expect()));
}

TEST(CheckIdToken, RefusesEachBrokenPromise) {
  struct Case {
    const char* key;
    json value;
    const char* says;
  };
  for (const Case& c : std::vector<Case>{
           {"iss", "https://idp.test/", "issuer"},
           {"aud", "someone-else", "audience"},
           {"aud", json::array({"a", "b"}), "audience"},
           {"exp", 1'800'000'000, "expired"},
           {"exp", "soon", "expiry"},
           {"nbf", 1'800'001'000, "not valid yet"},
           {"nonce", "replayed", "nonce"},
           {"nonce", nullptr, "nonce"},
           {"sub", "", "subject"},
       }) {
    json t = Token();
    if (c.value.is_null()) {
      t.erase(c.key);
    } else {
      t[c.key] = c.value;
    }
    auto r = CheckIdToken(t, Expect());
    ASSERT_FALSE(r) << c.key;
    EXPECT_EQ(r.error().code, Errc::kPermissionDenied);
    EXPECT_NE(r.error().message.find(c.says), std::string::npos) << r.error().message;
  }
}

TEST(MergeUserInfo, OverridesOnlyForTheSameSubject) {
  auto c = *CheckIdToken(Token(), Expect());
  MergeUserInfo(c, {{"sub", "someone"}, {"email", "x@y"}});
  EXPECT_EQ(c.email, "alice@example.com");
  MergeUserInfo(c, {{"sub", "u1"}, {"email", "a@new.example"}, {"email_verified", false},
                    {"groups", {"ops", "eng"}}, {"name", ""}});
  EXPECT_EQ(c.email, "a@new.example");
  EXPECT_FALSE(c.email_verified);
  EXPECT_EQ(c.groups, (std::vector<std::string>{"ops", "eng"}));
  EXPECT_EQ(c.name, "Alice");  // an empty value does not erase
}

}  // namespace
}  // namespace keel::oidc
