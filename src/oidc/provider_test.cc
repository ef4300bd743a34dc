#include "oidc/provider.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "oidc/random.h"
#include "oidc/test_provider.h"

namespace keel::oidc {
namespace {

using json = nlohmann::json;

template <class T>
T Await(boost::asio::awaitable<T> task) {
  boost::asio::io_context io;
  std::optional<T> out;
  boost::asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T value) {
    if (e) std::rethrow_exception(e);
    out.emplace(std::move(value));
  });
  io.run();
  return std::move(*out);
}

class ProviderTest : public ::testing::Test {
 protected:
  ProviderSettings Settings() {
    ProviderSettings s;
    s.issuer = idp_.issuer();
    s.client_id = TestProvider::kClientId;
    s.client_secret = TestProvider::kClientSecret;
    s.pkce = true;
    return s;
  }
  std::shared_ptr<Provider> Discovered() {
    auto p = Await(Provider::Discover(Settings()));
    EXPECT_TRUE(p) << p.error().message;
    return *p;
  }
  SystemTime Now() { return std::chrono::time_point_cast<SystemTime::duration>(std::chrono::system_clock::now()); }

  TestProvider idp_;
  const std::string redirect_ = "https://keel.test/oidc/callback";
};

TEST_F(ProviderTest, AuthorizationUrlCarriesStateNonceAndPkce) {
  auto p = Discovered();
  std::string url = p->AuthorizationUrl(redirect_, "st", "nn", "verifier-verifier-verifier-verifier-verif");
  EXPECT_TRUE(url.starts_with(idp_.issuer() + "/auth?response_type=code&client_id=keel&redirect_uri="
                              "https%3A%2F%2Fkeel.test%2Foidc%2Fcallback&scope=openid%20profile%20email"
                              "&state=st&nonce=nn&code_challenge="))
      << url;
  EXPECT_NE(url.find("&code_challenge_method=S256"), std::string::npos);
}

TEST_F(ProviderTest, ExchangesACodeOnceAndVerifiesTheToken) {
  auto p = Discovered();
  std::string verifier = RandomToken();
  std::string code = idp_.IssueCode({{"sub", "alice"}, {"nonce", "n1"}, {"email", "a@x.test"}},
                                    S256Challenge(verifier));
  auto tokens = Await(p->ExchangeCode(code, redirect_, verifier));
  ASSERT_TRUE(tokens) << tokens.error().message;
  EXPECT_NE(idp_.last_token_request().find("code_verifier=" + verifier), std::string::npos);
  auto claims = Await(p->VerifyIdToken(tokens->id_token, "n1", Now()));
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_EQ(claims->email, "a@x.test");
  // The same code again: the provider refuses it.
  auto replay = Await(p->ExchangeCode(code, redirect_, verifier));
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().code, Errc::kPermissionDenied);
  EXPECT_NE(replay.error().message.find("invalid_grant"), std::string::npos);
  // Another login's nonce.
  EXPECT_FALSE(Await(p->VerifyIdToken(tokens->id_token, "n2", Now())));
}

TEST_F(ProviderTest, AWrongVerifierIsRefused) {
  auto p = Discovered();
  std::string code = idp_.IssueCode({{"sub", "alice"}, {"nonce", "n"}}, S256Challenge(RandomToken()));
  EXPECT_EQ(Await(p->ExchangeCode(code, redirect_, RandomToken())).error().code, Errc::kPermissionDenied);
}

TEST_F(ProviderTest, RefetchesKeysOnceAfterARotation) {
  auto p = Discovered();
  int fetched = idp_.jwks_fetches();
  idp_.RotateKey("test-key-2");
  auto tokens = Await(p->ExchangeCode(idp_.IssueCode({{"sub", "a"}, {"nonce", "n"}}), redirect_, ""));
  ASSERT_TRUE(tokens);
  auto claims = Await(p->VerifyIdToken(tokens->id_token, "n", Now()));
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_EQ(idp_.jwks_fetches(), fetched + 1);
  // Tokens naming keys nobody published do not make keel fetch the keys each time.
  idp_.RotateKey("test-key-3");
  for (int i = 0; i < 3; ++i) {
    tokens = Await(p->ExchangeCode(idp_.IssueCode({{"sub", "a"}, {"nonce", "n"}}), redirect_, ""));
    ASSERT_TRUE(tokens);
    EXPECT_FALSE(Await(p->VerifyIdToken(tokens->id_token, "n", Now())));
  }
  EXPECT_EQ(idp_.jwks_fetches(), fetched + 1);
}

TEST_F(ProviderTest, UserInfoNeedsTheAccessToken) {
  auto p = Discovered();
  idp_.SetUserInfo({{"sub", "a"}, {"groups", {"eng"}}});
  auto tokens = Await(p->ExchangeCode(idp_.IssueCode({{"sub", "a"}, {"nonce", "n"}}), redirect_, ""));
  ASSERT_TRUE(tokens);
  auto info = Await(p->UserInfo(tokens->access_token));
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ((*info)["groups"][0], "eng");
  EXPECT_FALSE(Await(p->UserInfo("forged")));
}

TEST_F(ProviderTest, DiscoveryRefusesAnotherIssuerAndBrokenDocuments) {
  json doc = idp_.Discovery();
  doc["issuer"] = "https://evil.test";
  idp_.OverrideDiscovery(doc.dump());
  auto p = Await(Provider::Discover(Settings()));
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("evil.test"), std::string::npos);
  idp_.OverrideDiscovery("not json");
  EXPECT_FALSE(Await(Provider::Discover(Settings())));
  doc = idp_.Discovery();
  doc.erase("jwks_uri");
  idp_.OverrideDiscovery(doc.dump());
  EXPECT_FALSE(Await(Provider::Discover(Settings())));
}

TEST(ProviderDiscovery, SaysWhenTheProviderIsUnreachable) {
  ProviderSettings s;
  s.issuer = "http://127.0.0.1:1";
  s.timeout = std::chrono::milliseconds(500);
  auto p = Await(Provider::Discover(s));
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, Errc::kUnavailable);
}

TEST(FormEncode, EscapesReservedCharacters) {
  EXPECT_EQ(FormEncode({{"a b", "c&d=e"}, {"x", "ü"}}), "a%20b=c%26d%3De&x=%C3%BC");
}

}  // namespace
}  // namespace keel::oidc
