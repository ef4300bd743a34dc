#include "tailnet/auth_key.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>

#include "base/bytes.h"

namespace keel::tailnet {
namespace {

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Result<std::string> RandomHex(size_t chars) {
  Bytes buf(chars / 2);
  if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1) {
    return MakeError(Errc::kInternal, "random number generator failed");
  }
  return HexEncode(buf);
}

}  // namespace

Result<NewAuthKey> GenerateAuthKey(std::string_view text_prefix) {
  auto prefix = RandomHex(kAuthKeyPrefixLen);
  if (!prefix) return prefix.error();
  auto secret = RandomHex(kAuthKeySecretLen);
  if (!secret) return secret.error();
  NewAuthKey out;
  out.prefix = *prefix;
  out.text = std::string(text_prefix) + *prefix + "-" + *secret;
  out.secret_hash = HashAuthKeySecret(*secret);
  return out;
}

std::optional<AuthKeyParts> ParseAuthKey(std::string_view text, std::string_view text_prefix) {
  if (!text.starts_with(text_prefix)) return std::nullopt;
  text.remove_prefix(text_prefix.size());
  if (text.size() != kAuthKeyPrefixLen + 1 + kAuthKeySecretLen) return std::nullopt;
  if (text[kAuthKeyPrefixLen] != '-') return std::nullopt;
  auto prefix = text.substr(0, kAuthKeyPrefixLen);
  auto secret = text.substr(kAuthKeyPrefixLen + 1);
  if (!IsLowerHex(prefix) || !IsLowerHex(secret)) return std::nullopt;
  return AuthKeyParts{std::string(prefix), std::string(secret)};
}

std::string HashAuthKeySecret(std::string_view secret) {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const uint8_t*>(secret.data()), secret.size(), digest);
  return HexEncode(digest);
}

bool AuthKeySecretMatches(std::string_view secret, std::string_view stored_hash) {
  std::string computed = HashAuthKeySecret(secret);
  if (computed.size() != stored_hash.size()) return false;
  return CRYPTO_memcmp(computed.data(), stored_hash.data(), computed.size()) == 0;
}

}  // namespace keel::tailnet
