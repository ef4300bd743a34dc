#pragma once
// Pre-auth key secrets: generation, text form "keel-auth-<prefix>-<secret>", and the
// SHA-256 hash that is stored instead of the secret (architecture.md decision 5).
// Pure functions, any thread.

#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace keel::tailnet {

inline constexpr std::string_view kAuthKeyTextPrefix = "keel-auth-";
inline constexpr size_t kAuthKeyPrefixLen = 12;  // hex chars, public id
inline constexpr size_t kAuthKeySecretLen = 48;  // hex chars, 192 bits

struct AuthKeyParts {
  std::string prefix;
  std::string secret;
};

struct NewAuthKey {
  std::string prefix;
  std::string text;         // full key to hand out once
  std::string secret_hash;  // what the store keeps
};

// Uses OpenSSL's CSPRNG; fails only if it does. `text_prefix` tells the kinds apart (the admin
// API's keys use the same form with "keel-api-").
Result<NewAuthKey> GenerateAuthKey(std::string_view text_prefix = kAuthKeyTextPrefix);
// nullopt unless `text` is exactly text_prefix + 12 hex + '-' + 48 hex (lowercase).
std::optional<AuthKeyParts> ParseAuthKey(std::string_view text,
                                         std::string_view text_prefix = kAuthKeyTextPrefix);
// Lowercase hex SHA-256 of the secret.
std::string HashAuthKeySecret(std::string_view secret);
// Constant-time comparison of HashAuthKeySecret(secret) with `stored_hash`.
bool AuthKeySecretMatches(std::string_view secret, std::string_view stored_hash);

}  // namespace keel::tailnet
