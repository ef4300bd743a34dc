#pragma once
// GET /register/<auth-id>: the page a waiting `tailscale up` sends its user to. Without an
// identity provider it tells whoever reads it what an admin runs to let the device in
// (`keel auth register`); with one (oidc.*) a pending login goes on to the provider
// (OidcLogin). Once decided, it says how it ended.

#include <string_view>

#include "http/message.h"
#include "http/server.h"
#include "login/oidc_login.h"
#include "tailnet/auth_requests.h"

namespace keel::login {

inline constexpr std::string_view kRegisterPath = "/register/";

class RegisterPage {
 public:
  // `auth` and `oidc` (null: no identity provider) must outlive this.
  explicit RegisterPage(tailnet::AuthRequests& auth, OidcLogin* oidc = nullptr);

  void RegisterRoutes(http::Router& router);
  // The page for `auth_id`: 200 while pending or once registered, 403 rejected, 410 expired,
  // 404 for an id that names no login.
  http::Response Render(std::string_view auth_id);

 private:
  tailnet::AuthRequests& auth_;
  OidcLogin* oidc_;
};

}  // namespace keel::login
