#pragma once
// Unguessable values for an OpenID Connect login: state, nonce and PKCE verifiers, and the
// PKCE S256 challenge (RFC 7636 §4.2). OpenSSL's CSPRNG; any thread.

#include <string>
#include <string_view>

namespace keel::oidc {

// `bytes` random bytes as base64url without padding (32 bytes give 43 characters, which is
// also a valid PKCE verifier).
std::string RandomToken(size_t bytes = 32);

// BASE64URL(SHA-256(verifier)).
std::string S256Challenge(std::string_view verifier);

}  // namespace keel::oidc
