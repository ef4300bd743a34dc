// App::BuildOidcLogin: oidc.* into the login through an identity provider.

#include <boost/asio/co_spawn.hpp>

#include "app/app.h"
#include "base/bytes.h"
#include "base/file.h"
#include "base/log.h"
#include "login/oidc_login.h"
#include "login/register_page.h"

namespace keel::app {
namespace {

// The client secret: inline, or the trimmed contents of client_secret_path.
Result<std::string> ClientSecret(const config::OidcConfig& o) {
  if (o.client_secret_path.empty()) return o.client_secret;
  auto text = ReadFileText(o.client_secret_path);
  if (!text) {
    return MakeError(text.error().code, "oidc.client_secret_path: " + text.error().message);
  }
  std::string secret(TrimSpace(*text));
  if (secret.empty()) {
    return MakeError(Errc::kInvalidArgument,
                     "oidc.client_secret_path: " + o.client_secret_path + " is empty");
  }
  return secret;
}

}  // namespace

Result<void> App::BuildOidcLogin() {
  const config::OidcConfig& o = config_.oidc;
  if (!o.enabled()) return {};
  auto secret = ClientSecret(o);
  if (!secret) return secret.error();
  login::OidcLoginSettings s;
  s.server_url = config_.server_url;
  s.provider.issuer = o.issuer;
  s.provider.client_id = o.client_id;
  s.provider.client_secret = *secret;
  s.provider.scopes = o.scope;
  for (const auto& [name, value] : o.extra_params) s.provider.extra_params.emplace_back(name, value);
  s.provider.pkce = o.pkce_enabled;
  s.provider.pkce_method = o.pkce_method;
  s.access = {o.allowed_domains, o.allowed_users, o.allowed_groups, o.email_verified_required};
  s.use_expiry_from_token = o.use_expiry_from_token;
  s.session_timeout = config_.auth_request_timeout;

  // Read once before serving, so a mistyped issuer shows at start rather than at a login.
  boost::asio::io_context io;
  Result<std::shared_ptr<oidc::Provider>> provider = MakeError(Errc::kInternal, "not run");
  boost::asio::co_spawn(io, oidc::Provider::Discover(s.provider),
                        [&](std::exception_ptr e, Result<std::shared_ptr<oidc::Provider>> r) {
                          if (e) std::rethrow_exception(e);
                          provider = std::move(r);
                        });
  io.run();
  if (!provider) {
    if (o.only_start_if_oidc_is_available) {
      return MakeError(provider.error().code,
                       "oidc: " + provider.error().message +
                           " (set oidc.only_start_if_oidc_is_available: false to start anyway)");
    }
    logger_->warn("oidc: {}; logins will try the provider again", provider.error().message);
  } else {
    logger_->info("oidc: logins go to {} (client {})", o.issuer, o.client_id);
  }
  oidc_login_ = std::make_unique<login::OidcLogin>(
      std::move(s), provider ? *provider : nullptr, *tailnet_, *auth_requests_, pool_, clock_,
      GetLogger("oidc"));
  oidc_login_->RegisterRoutes(*http_router_);
  return {};
}

}  // namespace keel::app
