#include "login/oidc_login.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "crypto/x25519.h"
#include "login/register_page.h"
#include "oidc/test_provider.h"
#include "tailnet/test_fixture.h"

namespace keel::login {
namespace {

namespace asio = boost::asio;
using json = nlohmann::json;

std::string HeaderOf(const http::Response& r, std::string_view name, std::string_view starts = "") {
  for (const auto& [k, v] : r.headers) {
    if (http::EqualsIgnoreCase(k, name) && v.starts_with(starts)) return v;
  }
  return "";
}

class OidcLoginTest : public tailnet::TailnetFixture {
 protected:
  void SetUp() override {
    TailnetFixture::SetUp();
    Build(false);
  }
  void Build(bool use_expiry_from_token) {
    router_ = http::Router();
    OidcLoginSettings s;
    s.use_expiry_from_token = use_expiry_from_token;
    s.server_url = "http://keel.test";
    s.provider.issuer = idp_.issuer();
    s.provider.client_id = oidc::TestProvider::kClientId;
    s.provider.client_secret = oidc::TestProvider::kClientSecret;
    s.provider.pkce = true;
    s.access.allowed_domains = {"example.com"};
    login_ = std::make_unique<OidcLogin>(s, nullptr, *tn_, auth_, pool_, clock_, GetLogger("oidc-test"));
    page_ = std::make_unique<RegisterPage>(auth_, login_.get());
    login_->RegisterRoutes(router_);
    page_->RegisterRoutes(router_);
  }
  void TearDown() override {
    pool_.join();
    TailnetFixture::TearDown();
  }

  http::Response Send(http::Request req) {
    const http::Handler* h = router_.Find(req.path);
    EXPECT_NE(h, nullptr) << req.path;
    asio::io_context io;
    std::optional<http::Response> out;
    asio::co_spawn(io, (*h)(std::move(req)), [&](std::exception_ptr e, http::Response r) {
      if (e) std::rethrow_exception(e);
      out = std::move(r);
    });
    io.run();
    return std::move(*out);
  }
  http::Response Get(std::string target, std::string cookie = "") {
    http::Request req;
    req.method = "GET";
    req.target = target;
    req.path = target.substr(0, target.find('?'));
    req.query = target.find('?') == std::string::npos ? "" : target.substr(target.find('?') + 1);
    if (!cookie.empty()) req.headers.emplace_back("Cookie", cookie);
    return Send(std::move(req));
  }
  http::Response PostConfirm(const std::string& csrf, const std::string& cookie) {
    http::Request req;
    req.method = "POST";
    req.target = req.path = std::string(kConfirmPath);
    req.body = "csrf=" + csrf;
    if (!cookie.empty()) req.headers.emplace_back("Cookie", cookie);
    return Send(std::move(req));
  }

  tailnet::AuthRequests::Request NewLogin() {
    tailnet::RegisterInput in;
    in.machine_key = crypto::MachinePublic(crypto::PublicFromPrivate(crypto::GeneratePrivateKey()));
    in.node_key = crypto::NodePublic(crypto::PublicFromPrivate(crypto::GeneratePrivateKey()));
    in.hostname = "laptop";
    return auth_.CreateRegistration(in);
  }

  // What the browser carries back from the provider after signing in as `claims`.
  struct Return {
    std::string callback;  // path and query
    std::string cookie;    // the state cookie, as the browser sends it
  };
  Return SignIn(const std::string& auth_id, json claims) {
    auto redirect = Get("/register/" + auth_id);
    EXPECT_EQ(redirect.status, 302);
    http::Request at_idp;
    std::string location = HeaderOf(redirect, "Location");
    at_idp.query = location.substr(location.find('?') + 1);
    claims.emplace("nonce", at_idp.Query("nonce").value_or(""));
    std::string code = idp_.IssueCode(claims, at_idp.Query("code_challenge").value_or(""));
    std::string set_cookie = HeaderOf(redirect, "Set-Cookie");
    return {std::string(kCallbackPath) + "?code=" + code + "&state=" + at_idp.Query("state").value_or(""),
            set_cookie.substr(0, set_cookie.find(';'))};
  }
  // The confirmation page's token and cookie.
  std::pair<std::string, std::string> ConfirmationOf(const http::Response& page) {
    size_t at = page.body.find("name=\"csrf\" value=\"");
    EXPECT_NE(at, std::string::npos);
    std::string csrf = page.body.substr(at + 19, 43);
    std::string cookie = HeaderOf(page, "Set-Cookie", "keel_confirm=");
    return {csrf, cookie.substr(0, cookie.find(';'))};
  }

  oidc::TestProvider idp_;
  asio::thread_pool pool_{1};
  tailnet::AuthRequests auth_{clock_, std::chrono::seconds(600)};
  http::Router router_;
  std::unique_ptr<OidcLogin> login_;
  std::unique_ptr<RegisterPage> page_;
};

const json kAlice = {{"sub", "alice"}, {"email", "alice@example.com"}, {"email_verified", true},
                     {"name", "Alice A"}, {"preferred_username", "alice"}, {"groups", {"eng"}},
                     {"exp", 1'900'000'000}};  // the fixture's clock is in 2027

TEST_F(OidcLoginTest, SignInThenConfirmRegistersTheNodeForTheProvidersUser) {
  auto login = NewLogin();
  auto back = SignIn(login.id, kAlice);
  EXPECT_TRUE(back.cookie.starts_with("keel_oidc_")) << back.cookie;
  auto confirm = Get(back.callback, back.cookie);
  ASSERT_EQ(confirm.status, 200) << confirm.body;
  EXPECT_NE(confirm.body.find("Alice A"), std::string::npos);
  EXPECT_NE(confirm.body.find("laptop"), std::string::npos);
  EXPECT_EQ(auth_.Find(login.id)->verdict, tailnet::AuthRequests::Verdict::kPending);
  auto [csrf, cookie] = ConfirmationOf(confirm);
  auto done = PostConfirm(csrf, cookie);
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_NE(done.body.find("Device registered"), std::string::npos);
  EXPECT_EQ(auth_.Find(login.id)->verdict, tailnet::AuthRequests::Verdict::kApproved);
  auto users = tn_->ListUsers();
  ASSERT_EQ(users.size(), 1u);
  EXPECT_EQ(users[0].name, "alice");
  EXPECT_EQ(users[0].provider_id, idp_.issuer() + "/alice");
  EXPECT_EQ(users[0].provider_groups, std::vector<std::string>{"eng"});
  ASSERT_EQ(tn_->snapshot()->nodes.size(), 1u);
  EXPECT_EQ(tn_->snapshot()->nodes.begin()->second->user_id, users[0].id);
  // The confirmation works once.
  EXPECT_EQ(PostConfirm(csrf, cookie).status, 410);
}

TEST_F(OidcLoginTest, StateMustComeBackToTheBrowserThatStartedOnce) {
  auto login = NewLogin();
  auto back = SignIn(login.id, kAlice);
  EXPECT_EQ(Get(back.callback).status, 400);  // another browser: no cookie
  std::string tampered = back.callback;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(Get(tampered, back.cookie).status, 403);
  ASSERT_EQ(Get(back.callback, back.cookie).status, 200);
  auto replay = Get(back.callback, back.cookie);
  EXPECT_EQ(replay.status, 403);
  EXPECT_NE(replay.body.find("already"), std::string::npos);
  EXPECT_TRUE(tn_->snapshot()->nodes.empty());
}

TEST_F(OidcLoginTest, TokensThatDoNotProveTheLoginCreateNothing) {
  auto login = NewLogin();
  for (json bad : {json{{"aud", "someone-else"}}, json{{"exp", 1000}}, json{{"nonce", "other"}},
                   json{{"iss", "https://evil.test"}}}) {
    json claims = kAlice;
    claims.update(bad);
    auto back = SignIn(login.id, claims);
    auto r = Get(back.callback, back.cookie);
    EXPECT_EQ(r.status, 403) << bad.dump();
  }
  EXPECT_TRUE(tn_->ListUsers().empty());
  EXPECT_EQ(auth_.Find(login.id)->verdict, tailnet::AuthRequests::Verdict::kPending);
}

TEST_F(OidcLoginTest, OutsideTheAllowedDomainIsRefusedAndTheClientTold) {
  auto login = NewLogin();
  json dave = kAlice;
  dave["sub"] = "dave";
  dave["email"] = "dave@elsewhere.test";
  auto back = SignIn(login.id, dave);
  auto r = Get(back.callback, back.cookie);
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("elsewhere.test may not use this tailnet"), std::string::npos);
  auto decided = auth_.Find(login.id);
  EXPECT_EQ(decided->verdict, tailnet::AuthRequests::Verdict::kRejected);
  EXPECT_NE(decided->reason.find("elsewhere.test"), std::string::npos);
  EXPECT_TRUE(tn_->ListUsers().empty());
}

TEST_F(OidcLoginTest, ConfirmationNeedsThisBrowsersToken) {
  auto login = NewLogin();
  auto back = SignIn(login.id, kAlice);
  auto [csrf, cookie] = ConfirmationOf(Get(back.callback, back.cookie));
  EXPECT_EQ(PostConfirm(csrf, "").status, 403);
  EXPECT_EQ(PostConfirm("forged", cookie).status, 403);
  EXPECT_TRUE(tn_->snapshot()->nodes.empty());
  EXPECT_EQ(PostConfirm(csrf, cookie).status, 200);
}

TEST_F(OidcLoginTest, NodesExpireWithTheTokenWhenConfigured) {
  Build(/*use_expiry_from_token=*/true);
  auto login = NewLogin();
  auto back = SignIn(login.id, kAlice);
  auto [csrf, cookie] = ConfirmationOf(Get(back.callback, back.cookie));
  ASSERT_EQ(PostConfirm(csrf, cookie).status, 200);
  EXPECT_EQ(tn_->snapshot()->nodes.begin()->second->expiry,
            SystemTime(std::chrono::seconds(1'900'000'000)));
}

TEST_F(OidcLoginTest, MalformedRequestsGetPagesNotCrashes) {
  auto login = NewLogin();
  EXPECT_EQ(Get(std::string(kCallbackPath)).status, 400);
  EXPECT_EQ(Get(std::string(kCallbackPath) + "?code=x").status, 400);
  EXPECT_EQ(Get(std::string(kCallbackPath) + "?code=x&state=short").status, 400);
  auto cancelled = Get(std::string(kCallbackPath) +
                       "?error=access_denied&error_description=%3Cb%3EEnd-User%20aborted%3C%2Fb%3E");
  EXPECT_EQ(cancelled.status, 403);
  EXPECT_NE(cancelled.body.find("&lt;b&gt;End-User aborted"), std::string::npos);
  http::Request post;
  post.method = "POST";
  post.target = post.path = std::string(kCallbackPath);
  EXPECT_EQ(Send(post).status, 405);
  EXPECT_EQ(Get(std::string(kConfirmPath)).status, 405);
  EXPECT_EQ(PostConfirm("", "keel_confirm=").status, 403);
  EXPECT_EQ(auth_.Find(login.id)->verdict, tailnet::AuthRequests::Verdict::kPending);
  EXPECT_TRUE(tn_->ListUsers().empty());
}

TEST_F(OidcLoginTest, DecidedLoginsShowTheirPageInsteadOfRedirecting) {
  auto login = NewLogin();
  ASSERT_TRUE(auth_.Decide(login.id, false, "no"));
  EXPECT_EQ(Get("/register/" + login.id).status, 403);
  EXPECT_EQ(Get("/register/keel-authreq-unknown").status, 404);
}

}  // namespace
}  // namespace keel::login
