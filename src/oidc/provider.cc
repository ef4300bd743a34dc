#include "oidc/provider.h"

#include "base/bytes.h"
#include "http/client.h"
#include "oidc/random.h"

namespace keel::oidc {
namespace {

namespace asio = boost::asio;
using json = nlohmann::json;

Error Unusable(const std::string& why) {
  return MakeError(Errc::kInvalidArgument, "the identity provider's " + why);
}

asio::awaitable<Result<json>> GetJson(std::string url, std::chrono::milliseconds timeout,
                                      std::string bearer = "") {
  http::ClientRequest req;
  req.url = url;
  req.timeout = timeout;
  req.headers.emplace_back("Accept", "application/json");
  if (!bearer.empty()) req.headers.emplace_back("Authorization", "Bearer " + bearer);
  auto res = co_await http::Fetch(std::move(req));
  if (!res) co_return res.error();
  if (res->status != 200) {
    co_return MakeError(Errc::kUnavailable, url.substr(0, url.find('?')) + " answered " +
                                                std::to_string(res->status));
  }
  json doc = json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) co_return Unusable(url.substr(0, url.find('?')) + " is not a JSON object");
  co_return Result<json>(boost::system::in_place_value, std::move(doc));
}

std::string Text(const json& doc, const char* key) {
  auto it = doc.find(key);
  return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<std::string> Strings(const json& doc, const char* key) {
  std::vector<std::string> out;
  auto it = doc.find(key);
  if (it == doc.end() || !it->is_array()) return out;
  for (const auto& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

bool Has(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

}  // namespace

std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [key, value] : fields) {
    if (!out.empty()) out += '&';
    out += PercentEncode(key) + "=" + PercentEncode(value);
  }
  return out;
}

Provider::Provider(ProviderSettings settings, Endpoints endpoints, std::shared_ptr<const KeySet> keys)
    : settings_(std::move(settings)), endpoints_(std::move(endpoints)), keys_(std::move(keys)) {}

asio::awaitable<Result<std::shared_ptr<Provider>>> Provider::Discover(ProviderSettings settings) {
  std::string issuer = settings.issuer;
  while (!issuer.empty() && issuer.back() == '/') issuer.pop_back();
  auto doc = co_await GetJson(issuer + "/.well-known/openid-configuration", settings.timeout);
  if (!doc) co_return doc.error();
  // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
  if (Text(*doc, "issuer") != settings.issuer) {
    co_return Unusable("discovery document names issuer \"" + Text(*doc, "issuer") +
                       "\", not the configured \"" + settings.issuer + "\"");
  }
  Endpoints e;
  e.authorization = Text(*doc, "authorization_endpoint");
  e.token = Text(*doc, "token_endpoint");
  e.userinfo = Text(*doc, "userinfo_endpoint");
  e.jwks = Text(*doc, "jwks_uri");
  e.signing_algs = Strings(*doc, "id_token_signing_alg_values_supported");
  if (e.signing_algs.empty()) e.signing_algs = {"RS256"};
  auto auth_methods = Strings(*doc, "token_endpoint_auth_methods_supported");
  e.client_secret_post_only = Has(auth_methods, "client_secret_post") &&
                              !Has(auth_methods, "client_secret_basic");
  for (const auto& [name, url] : {std::pair{"authorization_endpoint", e.authorization},
                                  std::pair{"token_endpoint", e.token}, std::pair{"jwks_uri", e.jwks}}) {
    if (!http::ParseUrl(url)) co_return Unusable("discovery document has no usable " + std::string(name));
  }
  if (settings.pkce) {
    auto methods = Strings(*doc, "code_challenge_methods_supported");
    if (!methods.empty() && !Has(methods, settings.pkce_method)) {
      co_return Unusable("provider does not support PKCE method " + settings.pkce_method);
    }
  }
  std::shared_ptr<Provider> p(new Provider(std::move(settings), std::move(e), nullptr));
  auto keys = co_await p->FetchKeys();
  if (!keys) co_return keys.error();
  p->keys_ = *keys;
  co_return p;
}

asio::awaitable<Result<std::shared_ptr<const KeySet>>> Provider::FetchKeys() const {
  auto doc = co_await GetJson(endpoints_.jwks, settings_.timeout);
  if (!doc) co_return doc.error();
  auto set = KeySet::Parse(doc->dump());
  if (!set) co_return set.error();
  co_return std::make_shared<const KeySet>(std::move(*set));
}

bool Provider::MayRefetchKeys() {
  std::lock_guard lock(mu_);
  auto now = std::chrono::steady_clock::now();
  if (last_refetch_ && now - *last_refetch_ < kKeyRefetchGap) return false;
  last_refetch_ = now;
  return true;
}

std::shared_ptr<const KeySet> Provider::keys() const {
  std::lock_guard lock(mu_);
  return keys_;
}

std::string Provider::AuthorizationUrl(const std::string& redirect_uri, const std::string& state,
                                       const std::string& nonce, const std::string& verifier) const {
  std::string scope;
  for (const auto& s : settings_.scopes) scope += (scope.empty() ? "" : " ") + s;
  std::vector<std::pair<std::string, std::string>> q = {
      {"response_type", "code"}, {"client_id", settings_.client_id},
      {"redirect_uri", redirect_uri}, {"scope", scope}, {"state", state}, {"nonce", nonce}};
  if (settings_.pkce) {
    bool s256 = settings_.pkce_method == "S256";
    q.emplace_back("code_challenge", s256 ? S256Challenge(verifier) : verifier);
    q.emplace_back("code_challenge_method", settings_.pkce_method);
  }
  for (const auto& param : settings_.extra_params) q.push_back(param);
  const std::string& base = endpoints_.authorization;
  return base + (base.find('?') == std::string::npos ? "?" : "&") + FormEncode(q);
}

asio::awaitable<Result<Tokens>> Provider::ExchangeCode(std::string code, std::string redirect_uri,
                                                       std::string verifier) {
  std::vector<std::pair<std::string, std::string>> form = {
      {"grant_type", "authorization_code"}, {"code", code}, {"redirect_uri", redirect_uri}};
  if (settings_.pkce) form.emplace_back("code_verifier", verifier);
  http::ClientRequest req;
  req.method = "POST";
  req.url = endpoints_.token;
  req.timeout = settings_.timeout;
  req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  req.headers.emplace_back("Accept", "application/json");
  if (endpoints_.client_secret_post_only) {
    form.emplace_back("client_id", settings_.client_id);
    form.emplace_back("client_secret", settings_.client_secret);
  } else {
    // RFC 6749 §2.3.1: both halves are form-encoded before they are joined.
    std::string pair = PercentEncode(settings_.client_id) + ":" + PercentEncode(settings_.client_secret);
    req.headers.emplace_back("Authorization", "Basic " + Base64Encode(AsBytes(pair)));
  }
  req.body = FormEncode(form);
  auto res = co_await http::Fetch(std::move(req));
  if (!res) co_return res.error();
  json doc = json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  if (res->status != 200) {
    std::string error = doc.is_object() ? Text(doc, "error") : "";
    co_return MakeError(Errc::kPermissionDenied,
                        "the identity provider refused the login code (" +
                            (error.empty() ? "status " + std::to_string(res->status) : error) + ")");
  }
  if (!doc.is_object()) co_return Unusable("token endpoint answered no JSON object");
  Tokens t{Text(doc, "id_token"), Text(doc, "access_token")};
  if (t.id_token.empty()) co_return MakeError(Errc::kInvalidArgument, "the identity provider sent no ID token");
  co_return t;
}

asio::awaitable<Result<Claims>> Provider::VerifyIdToken(std::string id_token, std::string nonce,
                                                        SystemTime now) {
  auto payload = keys()->Verify(id_token, endpoints_.signing_algs);
  if (!payload && payload.error().code == Errc::kNotFound && MayRefetchKeys()) {
    // A kid we have not seen: the provider may have rotated its keys since we read them.
    auto fresh = co_await FetchKeys();
    if (!fresh) co_return fresh.error();
    {
      std::lock_guard lock(mu_);
      keys_ = *fresh;
    }
    payload = (*fresh)->Verify(id_token, endpoints_.signing_algs);
  }
  if (!payload) {
    co_return MakeError(payload.error().code == Errc::kInvalidArgument ? Errc::kInvalidArgument
                                                                       : Errc::kPermissionDenied,
                        "ID token: " + payload.error().message);
  }
  co_return CheckIdToken(*payload, {settings_.issuer, settings_.client_id, nonce, now});
}

asio::awaitable<Result<json>> Provider::UserInfo(std::string access_token) {
  if (endpoints_.userinfo.empty() || access_token.empty()) {
    co_return MakeError(Errc::kNotFound, "no userinfo endpoint or access token");
  }
  co_return co_await GetJson(endpoints_.userinfo, settings_.timeout, access_token);
}

}  // namespace keel::oidc
