#pragma once
// Who may log in through the identity provider: oidc.allowed_groups, allowed_domains and
// allowed_users, checked in Headscale's order and with its exact matching. Pure; any thread.

#include <string>
#include <vector>

#include "oidc/claims.h"

namespace keel::oidc {

struct AccessRules {
  std::vector<std::string> allowed_domains;  // the email's domain, exactly
  std::vector<std::string> allowed_users;    // the email, exactly
  std::vector<std::string> allowed_groups;   // at least one of the token's groups
  // An unverified email is no proof of domain or address: refused when either list is set.
  bool email_verified_required = true;
};

// "" when `claims` may log in; otherwise why not, in words for the person refused.
std::string AccessRefusal(const Claims& claims, const AccessRules& rules);

}  // namespace keel::oidc
