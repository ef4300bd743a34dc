#include "login/oidc_login.h"

#include <cctype>

#include "base/run_blocking.h"
#include "login/page.h"
#include "oidc/random.h"

namespace keel::login {
namespace {

namespace asio = boost::asio;

constexpr std::string_view kStateCookie = "keel_oidc_";  // + the state's first 8 characters
constexpr std::string_view kConfirmCookie = "keel_confirm";
// Logins in flight at once; past this, new ones wait until old ones expire.
constexpr size_t kMaxSessions = 10000;

std::string StateCookieName(std::string_view state) {
  return std::string(kStateCookie) + std::string(state.substr(0, 8));
}

std::string SetCookie(std::string_view name, std::string_view value, std::string_view path,
                      std::chrono::seconds max_age, std::string_view same_site, bool secure) {
  return std::string(name) + "=" + std::string(value) + "; Path=" + std::string(path) +
         "; Max-Age=" + std::to_string(max_age.count()) + "; HttpOnly; SameSite=" +
         std::string(same_site) + (secure ? "; Secure" : "");
}

http::Response NoLongerWaiting() {
  return HtmlPage(410, "Login no longer waiting",
                  "<p>The device's login expired or was decided meanwhile. Run "
                  "<code>tailscale up</code> again for a new link.</p>");
}

std::string DeviceName(const tailnet::RegisterInput& in) {
  return HtmlEscape(in.hostname.empty() ? "This device" : in.hostname);
}

}  // namespace

OidcLogin::OidcLogin(OidcLoginSettings settings, std::shared_ptr<oidc::Provider> provider,
                     tailnet::Tailnet& tailnet, tailnet::AuthRequests& auth,
                     asio::thread_pool& pool, const Clock& clock,
                     std::shared_ptr<spdlog::logger> logger)
    : settings_(std::move(settings)),
      tailnet_(tailnet),
      auth_(auth),
      pool_(pool),
      clock_(clock),
      log_(std::move(logger)),
      provider_(std::move(provider)) {}

void OidcLogin::RegisterRoutes(http::Router& router) {
  router.Handle(std::string(kCallbackPath), [this](http::Request req) { return Callback(std::move(req)); });
  router.Handle(std::string(kConfirmPath), [this](http::Request req) { return Confirm(std::move(req)); });
}

std::string OidcLogin::RedirectUri() const {
  std::string url = settings_.server_url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url + std::string(kCallbackPath);
}

bool OidcLogin::Secure() const { return settings_.server_url.starts_with("https://"); }

void OidcLogin::ForgetExpired(SystemTime now) {
  std::erase_if(sessions_, [now](const auto& e) { return e.second.expires <= now; });
  std::erase_if(confirmations_, [now](const auto& e) { return e.second.expires <= now; });
}

asio::awaitable<std::shared_ptr<oidc::Provider>> OidcLogin::CurrentProvider() {
  {
    std::lock_guard lock(mu_);
    if (provider_) co_return provider_;
  }
  auto found = co_await oidc::Provider::Discover(settings_.provider);
  if (!found) {
    log_->warn("identity provider {} unavailable: {}", settings_.provider.issuer, found.error().message);
    co_return nullptr;
  }
  std::lock_guard lock(mu_);
  if (!provider_) provider_ = *found;
  co_return provider_;
}

asio::awaitable<http::Response> OidcLogin::Start(std::string auth_id) {
  auto provider = co_await CurrentProvider();
  if (!provider) {
    co_return HtmlPage(503, "Login unavailable",
                       "<p>keel cannot reach its identity provider right now. Try this link "
                       "again in a minute.</p>");
  }
  std::string state = oidc::RandomToken(), nonce = oidc::RandomToken(), verifier = oidc::RandomToken();
  SystemTime now = clock_.Now();
  {
    std::lock_guard lock(mu_);
    ForgetExpired(now);
    if (sessions_.size() >= kMaxSessions) {
      co_return HtmlPage(503, "Too many logins",
                         "<p>Too many logins are in progress. Try again in a few minutes.</p>");
    }
    sessions_[state] = Session{auth_id, nonce, verifier, now + settings_.session_timeout};
  }
  http::Response r;
  r.status = 302;
  r.headers = {{"Location", provider->AuthorizationUrl(RedirectUri(), state, nonce, verifier)},
               {"Cache-Control", "no-store"},
               {"Referrer-Policy", "no-referrer"},
               {"Set-Cookie", SetCookie(StateCookieName(state), state, kCallbackPath,
                                        settings_.session_timeout, "Lax", Secure())}};
  co_return r;
}

http::Response OidcLogin::Refuse(const std::string& auth_id, int status, const std::string& reason) {
  // The waiting `tailscale up` hears it too, rather than waiting until the link expires.
  (void)auth_.Decide(auth_id, false, "keel: login refused: " + reason);
  std::string sentence = reason;
  if (!sentence.empty()) sentence[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(sentence[0])));
  return HtmlPage(status, "Login refused",
                  "<p>" + HtmlEscape(sentence) + ".</p>\n<p>The device was not added to the "
                  "tailnet. Ask an administrator if you should have access.</p>");
}

asio::awaitable<http::Response> OidcLogin::Callback(http::Request req) {
  if (req.method != "GET") co_return HtmlPage(405, "Method not allowed", "<p>Use the login link.</p>");
  std::string code = req.Query("code").value_or("");
  std::string state = req.Query("state").value_or("");
  if (auto error = req.Query("error")) {
    std::string why = req.Query("error_description").value_or(*error);
    co_return HtmlPage(403, "Not logged in",
                       "<p>The identity provider did not log you in: " + HtmlEscape(why) +
                           ".</p>\n<p>Open the login link again to retry.</p>");
  }
  if (code.empty() || state.size() < 8) {
    co_return HtmlPage(400, "Incomplete login",
                       "<p>This page needs the code and state the identity provider sends. "
                       "Open the login link again.</p>");
  }
  Session session;
  bool known = false;
  {
    std::lock_guard lock(mu_);
    ForgetExpired(clock_.Now());
    if (auto it = sessions_.find(state); it != sessions_.end()) {
      known = true;
      session = it->second;
    }
  }
  if (known && session.used) {
    log_->warn("oidc login {}: callback replayed from {}", session.auth_id, req.remote);
    co_return HtmlPage(403, "Login already used",
                       "<p>This sign-in was already completed or refused; its code works "
                       "once. Open the login link again.</p>");
  }
  // The state must come back to the browser that was sent off with it: a callback URL opened
  // anywhere else (a link someone sent) is refused.
  auto cookie = req.Cookie(StateCookieName(state));
  if (!cookie) {
    co_return HtmlPage(400, "Login not started here",
                       "<p>This login did not start in this browser. Open the login link that "
                       "<code>tailscale up</code> printed in this browser.</p>");
  }
  if (*cookie != state) {
    log_->warn("oidc callback from {}: state does not match this browser's login", req.remote);
    co_return HtmlPage(403, "Login refused",
                       "<p>The login state does not match the one this browser started with. "
                       "Open the login link again.</p>");
  }
  {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(state);
    if (it == sessions_.end() || it->second.used) {
      co_return HtmlPage(410, "Login expired",
                         "<p>This sign-in took too long or keel restarted meanwhile. Open the "
                         "login link again.</p>");
    }
    it->second.used = true;
    session = it->second;
  }
  auto pending = auth_.FindPendingLogin(session.auth_id);
  if (!pending) co_return NoLongerWaiting();
  auto provider = co_await CurrentProvider();
  if (!provider) co_return HtmlPage(503, "Login unavailable", "<p>keel cannot reach its identity provider.</p>");
  auto tokens = co_await provider->ExchangeCode(code, RedirectUri(), session.verifier);
  if (!tokens) {
    log_->warn("oidc login {}: {}", session.auth_id, tokens.error().message);
    co_return HtmlPage(403, "Login refused",
                       "<p>The identity provider did not accept this sign-in. Open the login "
                       "link again.</p>");
  }
  auto claims = co_await provider->VerifyIdToken(tokens->id_token, session.nonce, clock_.Now());
  if (!claims) {
    log_->warn("oidc login {}: {}", session.auth_id, claims.error().message);
    co_return HtmlPage(403, "Login refused",
                       "<p>The identity provider's answer could not be verified, so keel does "
                       "not know who signed in. No device was added.</p>");
  }
  if (auto info = co_await provider->UserInfo(tokens->access_token)) {
    oidc::MergeUserInfo(*claims, *info);
  } else {
    log_->debug("oidc login {}: no userinfo: {}", session.auth_id, info.error().message);
  }
  std::string who = oidc::ProviderIdentifier(*claims);
  if (std::string why = oidc::AccessRefusal(*claims, settings_.access); !why.empty()) {
    log_->info("oidc login {}: {} ({}) refused: {}", session.auth_id, who, claims->email, why);
    co_return Refuse(session.auth_id, 403, why);
  }
  tailnet::ProviderProfile profile;
  profile.provider_id = who;
  profile.username = claims->preferred_username;
  // An address the provider has not verified proves nothing, so it is not stored (Headscale).
  if (claims->email_verified || !settings_.access.email_verified_required) profile.email = claims->email;
  profile.display_name = claims->name;
  profile.picture = claims->picture;
  profile.groups = claims->groups;
  auto upsert = [this, &profile] { return tailnet_.UpsertProviderUser(profile); };
  auto user = co_await RunBlocking(pool_, upsert);
  if (!user) {
    log_->error("oidc login {}: storing user {}: {}", session.auth_id, who, user.error().message);
    co_return HtmlPage(500, "Login failed", "<p>keel could not store your account. Try again.</p>");
  }
  std::string label = user->display_name.empty() ? user->name : user->display_name;
  std::string csrf = oidc::RandomToken();
  {
    std::lock_guard lock(mu_);
    confirmations_[csrf] = Confirmation{session.auth_id, user->id, label,
                                        settings_.use_expiry_from_token ? claims->expires : ZeroTime(),
                                        clock_.Now() + settings_.session_timeout};
  }
  const tailnet::RegisterInput& in = *pending->registration;
  http::Response page = HtmlPage(
      200, "Add this device?",
      "<p>You signed in as <strong>" + HtmlEscape(label) + "</strong>" +
          (user->email.empty() ? "" : " (" + HtmlEscape(user->email) + ")") + ".</p>\n"
          "<p>Add <strong>" + DeviceName(in) + "</strong> to the tailnet as yours? Only do so "
          "if you just ran <code>tailscale up</code> on it yourself.</p>\n"
          "<p>Machine key: <code>" + HtmlEscape(in.machine_key.ToText()) + "</code></p>\n"
          "<form method=\"post\" action=\"" + std::string(kConfirmPath) + "\">\n"
          "<input type=\"hidden\" name=\"csrf\" value=\"" + csrf + "\">\n"
          "<button type=\"submit\">Add device</button>\n</form>");
  page.headers.emplace_back("Set-Cookie", SetCookie(kConfirmCookie, csrf, kConfirmPath,
                                                    settings_.session_timeout, "Strict", Secure()));
  page.headers.emplace_back("Set-Cookie", SetCookie(StateCookieName(state), "", kCallbackPath,
                                                    std::chrono::seconds(0), "Lax", Secure()));
  log_->info("oidc login {}: {} signed in as user {}; awaiting confirmation", session.auth_id, who,
             user->name);
  co_return page;
}

asio::awaitable<http::Response> OidcLogin::Confirm(http::Request req) {
  if (req.method != "POST") co_return HtmlPage(405, "Method not allowed", "<p>Use the login link.</p>");
  std::string csrf = http::FormValue(req.body, "csrf").value_or("");
  auto cookie = req.Cookie(kConfirmCookie);
  if (csrf.empty() || !cookie || *cookie != csrf) {
    log_->warn("oidc confirmation from {} without this browser's token", req.remote);
    co_return HtmlPage(403, "Confirmation refused",
                       "<p>This confirmation did not come from the page keel showed this "
                       "browser. Open the login link again.</p>");
  }
  Confirmation c;
  {
    std::lock_guard lock(mu_);
    ForgetExpired(clock_.Now());
    auto it = confirmations_.find(csrf);
    if (it == confirmations_.end()) {
      co_return HtmlPage(410, "Confirmation expired",
                         "<p>This confirmation expired or was already used. Open the login link "
                         "again.</p>");
    }
    c = it->second;
    confirmations_.erase(it);
  }
  auto call = [this, c] { return tailnet::CompleteLogin(tailnet_, auth_, c.auth_id, c.user, c.node_expiry); };
  auto outcome = co_await RunBlocking(pool_, std::move(call));  // named: run_blocking.h
  if (!outcome && outcome.error().code == Errc::kFailedPrecondition) co_return NoLongerWaiting();
  if (!outcome) {
    log_->error("oidc login {}: registering: {}", c.auth_id, outcome.error().message);
    co_return HtmlPage(500, "Login failed", "<p>keel could not register the device. Try again.</p>");
  }
  if (outcome->kind == tailnet::RegisterOutcome::Kind::kRefused) co_return Refuse(c.auth_id, 403, outcome->error);
  log_->info("oidc login {} registered node {} ({}) for user {}", c.auth_id, outcome->node->id,
             outcome->node->given_name, c.user);
  http::Response page = HtmlPage(
      200, "Device registered",
      "<p><strong>" + HtmlEscape(outcome->node->hostname) + "</strong> has joined the tailnet as <strong>" +
          HtmlEscape(c.user_label) + "</strong>. <code>tailscale up</code> has finished; you can "
          "close this page.</p>");
  page.headers.emplace_back("Set-Cookie", SetCookie(kConfirmCookie, "", kConfirmPath,
                                                    std::chrono::seconds(0), "Strict", Secure()));
  co_return page;
}

}  // namespace keel::login
