#pragma once
// Login through an OpenID Provider: the browser that `tailscale up` sent to /register/<id> is
// redirected to the provider (authorization code flow, state bound to a cookie, nonce, PKCE
// when configured), comes back to /oidc/callback, and keel checks the code, the ID token
// (signature against the provider's keys, issuer, audience, expiry, nonce) and who it names
// (oidc.allowed_*). The person then confirms, on a form only their own browser can post
// (/oidc/confirm, a CSRF cookie), that the device named on it should join as them; only then
// is the node registered for the user the provider identified, created or matched by its
// issuer and subject. The confirmation keeps a link someone else sent from silently adding
// their device to your account when your provider signs you in without asking.
// Handlers run on the HTTP server's executor; blocking tailnet calls go to the worker pool.

#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <spdlog/logger.h>
#include <string>

#include "base/clock.h"
#include "http/message.h"
#include "http/server.h"
#include "oidc/access.h"
#include "oidc/provider.h"
#include "tailnet/auth_requests.h"
#include "tailnet/tailnet.h"

namespace keel::login {

inline constexpr std::string_view kCallbackPath = "/oidc/callback";
inline constexpr std::string_view kConfirmPath = "/oidc/confirm";

struct OidcLoginSettings {
  std::string server_url;  // the callback is server_url + kCallbackPath
  oidc::ProviderSettings provider;
  oidc::AccessRules access;
  bool use_expiry_from_token = false;
  // How long a browser may take at the provider, and then to confirm.
  std::chrono::seconds session_timeout{15 * 60};
};

class OidcLogin {
 public:
  // `provider` may be null when the provider could not be reached at start: it is looked up
  // again when someone logs in. The references must outlive this.
  OidcLogin(OidcLoginSettings settings, std::shared_ptr<oidc::Provider> provider,
            tailnet::Tailnet& tailnet, tailnet::AuthRequests& auth, boost::asio::thread_pool& pool,
            const Clock& clock, std::shared_ptr<spdlog::logger> logger);

  void RegisterRoutes(http::Router& router);

  // The answer to GET /register/<auth_id> while that login is pending: a redirect to the
  // provider, setting the cookie that binds its state to this browser.
  boost::asio::awaitable<http::Response> Start(std::string auth_id);

 private:
  struct Session {
    std::string auth_id;
    std::string nonce;
    std::string verifier;
    SystemTime expires;
    bool used = false;  // kept until it expires, so a replayed callback is told so
  };
  struct Confirmation {
    std::string auth_id;
    model::UserId user = 0;
    std::string user_label;
    SystemTime node_expiry = ZeroTime();  // zero: the usual rule
    SystemTime expires;
  };

  boost::asio::awaitable<std::shared_ptr<oidc::Provider>> CurrentProvider();
  boost::asio::awaitable<http::Response> Callback(http::Request req);
  boost::asio::awaitable<http::Response> Confirm(http::Request req);
  // Rejects the pending login (its client hears `reason`) and answers with the refusal page.
  http::Response Refuse(const std::string& auth_id, int status, const std::string& reason);
  void ForgetExpired(SystemTime now);  // mu_ held
  std::string RedirectUri() const;
  bool Secure() const;

  const OidcLoginSettings settings_;
  tailnet::Tailnet& tailnet_;
  tailnet::AuthRequests& auth_;
  boost::asio::thread_pool& pool_;
  const Clock& clock_;
  std::shared_ptr<spdlog::logger> log_;
  std::mutex mu_;
  std::shared_ptr<oidc::Provider> provider_;
  std::map<std::string, Session> sessions_;            // by state
  std::map<std::string, Confirmation> confirmations_;  // by CSRF token
};

}  // namespace keel::login
