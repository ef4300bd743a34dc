#pragma once
// What an ID token says about who logged in (OpenID Connect Core §2, §5.1), the checks that
// make it believable once its signature is (issuer, audience, expiry, nonce), and the
// userinfo answer folded in the way Headscale does it. Pure functions; any thread.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"

namespace keel::oidc {

struct Claims {
  std::string iss;
  std::string sub;
  std::string email;
  bool email_verified = false;
  std::string name;                // display name
  std::string preferred_username;
  std::string picture;
  std::vector<std::string> groups;
  SystemTime expires = ZeroTime();  // the token's exp
};

struct TokenExpectations {
  std::string issuer;     // exact, as configured
  std::string client_id;  // must be among the token's audiences
  std::string nonce;      // the one sent with this login
  SystemTime now = ZeroTime();
};

// The claims of a verified token's payload; kPermissionDenied naming the claim that fails
// (wrong issuer or audience, expired, not yet valid, nonce missing or not ours).
Result<Claims> CheckIdToken(const nlohmann::json& payload, const TokenExpectations& expect);

// Userinfo's answer overrides the token's profile claims when it speaks of the same subject;
// otherwise it is ignored.
void MergeUserInfo(Claims& claims, const nlohmann::json& userinfo);

// The stable name of the person at this provider: "<iss without trailing />/<sub>",
// Headscale's provider identifier, so users carried over from it keep matching.
std::string ProviderIdentifier(const Claims& claims);

}  // namespace keel::oidc
