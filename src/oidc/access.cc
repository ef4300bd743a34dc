#include "oidc/access.h"

#include <algorithm>

namespace keel::oidc {
namespace {

bool Contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

}  // namespace

std::string AccessRefusal(const Claims& claims, const AccessRules& rules) {
  if (!rules.allowed_groups.empty() &&
      std::none_of(claims.groups.begin(), claims.groups.end(),
                   [&](const std::string& g) { return Contains(rules.allowed_groups, g); })) {
    return "you are not in a group that may use this tailnet";
  }
  bool checks_email = !rules.allowed_domains.empty() || !rules.allowed_users.empty();
  if (checks_email && rules.email_verified_required && !claims.email_verified) {
    return "your identity provider has not verified your email address";
  }
  if (!rules.allowed_domains.empty()) {
    size_t at = claims.email.rfind('@');
    std::string domain = at == std::string::npos ? "" : claims.email.substr(at + 1);
    if (!Contains(rules.allowed_domains, domain)) {
      return "accounts of " + (domain.empty() ? std::string("your domain") : domain) +
             " may not use this tailnet";
    }
  }
  if (!rules.allowed_users.empty() && !Contains(rules.allowed_users, claims.email)) {
    return "your account may not use this tailnet";
  }
  return "";
}

}  // namespace keel::oidc
