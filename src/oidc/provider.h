#pragma once
// One OpenID Provider as keel's login uses it (OpenID Connect Core and Discovery 1.0, RFC 6749
// authorization code grant, RFC 7636 PKCE): its discovery document and signing keys, the
// authorization URL a browser is sent to, the code exchange, the ID token check and userinfo.
// Requests go out through http::Fetch. Thread-safe: the keys are swapped under a mutex when
// the provider rotates them.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "oidc/claims.h"
#include "oidc/jwks.h"

namespace keel::oidc {

struct ProviderSettings {
  std::string issuer;  // exactly as the provider names itself
  std::string client_id;
  std::string client_secret;
  std::vector<std::string> scopes = {"openid", "profile", "email"};
  std::vector<std::pair<std::string, std::string>> extra_params;  // added to the authorization URL
  bool pkce = false;
  std::string pkce_method = "S256";  // or "plain"
  std::chrono::milliseconds timeout{10000};  // each request to the provider
};

struct Endpoints {
  std::string authorization;
  std::string token;
  std::string userinfo;  // "" when the provider has none
  std::string jwks;
  std::vector<std::string> signing_algs;  // id_token_signing_alg_values_supported
  bool client_secret_post_only = false;   // the token endpoint does not take HTTP Basic
};

struct Tokens {
  std::string id_token;
  std::string access_token;
};

class Provider {
 public:
  // Reads <issuer>/.well-known/openid-configuration and the keys it points to. kUnavailable
  // when the provider cannot be reached; kInvalidArgument when its document is unusable (for
  // one, when it names another issuer).
  static boost::asio::awaitable<Result<std::shared_ptr<Provider>>> Discover(ProviderSettings settings);

  // Where the browser goes to log in; `verifier` is ignored unless PKCE is on.
  std::string AuthorizationUrl(const std::string& redirect_uri, const std::string& state,
                               const std::string& nonce, const std::string& verifier) const;

  // Trades the code the browser brought back for tokens. kPermissionDenied when the provider
  // refuses it (used, expired, not ours, PKCE mismatch).
  boost::asio::awaitable<Result<Tokens>> ExchangeCode(std::string code, std::string redirect_uri,
                                                      std::string verifier);

  // Checks the ID token's signature (fetching the keys again for an unknown kid, at most
  // every kKeyRefetchGap) and claims.
  boost::asio::awaitable<Result<Claims>> VerifyIdToken(std::string id_token, std::string nonce,
                                                       SystemTime now);

  // The userinfo endpoint's answer for `access_token`.
  boost::asio::awaitable<Result<nlohmann::json>> UserInfo(std::string access_token);

 private:
  Provider(ProviderSettings settings, Endpoints endpoints, std::shared_ptr<const KeySet> keys);
  boost::asio::awaitable<Result<std::shared_ptr<const KeySet>>> FetchKeys() const;
  std::shared_ptr<const KeySet> keys() const;
  // Tokens naming unknown keys could otherwise make keel fetch the keys once each.
  static constexpr std::chrono::seconds kKeyRefetchGap{30};
  bool MayRefetchKeys();

  const ProviderSettings settings_;
  const Endpoints endpoints_;
  mutable std::mutex mu_;
  std::shared_ptr<const KeySet> keys_;
  std::optional<std::chrono::steady_clock::time_point> last_refetch_;
};

// application/x-www-form-urlencoded, for the token request and the authorization URL.
std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace keel::oidc
