#include "oidc/claims.h"

namespace keel::oidc {
namespace {

using json = nlohmann::json;

// Providers spell some claims loosely: groups as one string, email_verified as "true".
std::vector<std::string> StringList(const json& v) {
  std::vector<std::string> out;
  if (v.is_string()) out.push_back(v.get<std::string>());
  if (v.is_array()) {
    for (const auto& item : v) {
      if (item.is_string()) out.push_back(item.get<std::string>());
    }
  }
  return out;
}

bool Truthy(const json& v) {
  return (v.is_boolean() && v.get<bool>()) || (v.is_string() && v.get<std::string>() == "true");
}

std::string Text(const json& doc, const char* key) {
  auto it = doc.find(key);
  return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::optional<SystemTime> Time(const json& doc, const char* key) {
  auto it = doc.find(key);
  if (it == doc.end() || !it->is_number()) return std::nullopt;
  return SystemTime(std::chrono::seconds(it->get<int64_t>()));
}

Error Denied(const std::string& why) { return MakeError(Errc::kPermissionDenied, why); }

}  // namespace

Result<Claims> CheckIdToken(const json& payload, const TokenExpectations& expect) {
  Claims c;
  c.iss = Text(payload, "iss");
  c.sub = Text(payload, "sub");
  if (c.iss != expect.issuer) return Denied("ID token issuer \"" + c.iss + "\" is not " + expect.issuer);
  if (c.sub.empty()) return Denied("ID token has no subject");
  std::vector<std::string> audiences = StringList(payload.value("aud", json()));
  if (std::find(audiences.begin(), audiences.end(), expect.client_id) == audiences.end()) {
    return Denied("ID token is not meant for this client (audience)");
  }
  auto exp = Time(payload, "exp");
  if (!exp) return Denied("ID token has no expiry");
  // No leeway, as Headscale: a token that has expired is refused outright.
  if (*exp <= expect.now) return Denied("ID token has expired");
  if (auto nbf = Time(payload, "nbf"); nbf && *nbf > expect.now + std::chrono::minutes(5)) {
    return Denied("ID token is not valid yet");
  }
  std::string nonce = Text(payload, "nonce");
  if (nonce.empty()) return Denied("ID token has no nonce");
  if (nonce != expect.nonce) return Denied("ID token nonce does not match this login");
  c.expires = *exp;
  c.email = Text(payload, "email");
  c.email_verified = Truthy(payload.value("email_verified", json()));
  c.name = Text(payload, "name");
  c.preferred_username = Text(payload, "preferred_username");
  c.picture = Text(payload, "picture");
  c.groups = StringList(payload.value("groups", json()));
  return c;
}

void MergeUserInfo(Claims& claims, const json& userinfo) {
  if (!userinfo.is_object() || Text(userinfo, "sub") != claims.sub) return;
  auto prefer = [&](std::string& field, const char* key) {
    if (std::string v = Text(userinfo, key); !v.empty()) field = std::move(v);
  };
  prefer(claims.email, "email");
  prefer(claims.name, "name");
  prefer(claims.preferred_username, "preferred_username");
  prefer(claims.picture, "picture");
  if (userinfo.contains("email_verified")) claims.email_verified = Truthy(userinfo["email_verified"]);
  if (userinfo.contains("groups")) claims.groups = StringList(userinfo["groups"]);
}

std::string ProviderIdentifier(const Claims& claims) {
  std::string iss = claims.iss;
  while (!iss.empty() && iss.back() == '/') iss.pop_back();
  std::string_view sub = claims.sub;
  while (!sub.empty() && sub.front() == '/') sub.remove_prefix(1);
  return iss + "/" + std::string(sub);
}

}  // namespace keel::oidc
