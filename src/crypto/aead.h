#pragma once
// ChaCha20-Poly1305 (RFC 8439, IETF 12-byte nonce) through OpenSSL 3: the AEAD of Noise.
// Thread-safe: each thread reuses its own cipher context.

#include <array>
#include <cstdint>
#include <span>

#include "base/bytes.h"
#include "base/result.h"
#include "crypto/keys.h"

namespace keel::crypto {

inline constexpr size_t kAeadTagSize = 16;
using AeadNonce = std::array<uint8_t, 12>;

// Writes ciphertext ‖ tag (plaintext.size() + 16 bytes) to `out`. `out` may start at
// `plaintext` (in place); otherwise the two must not overlap.
void AeadSeal(const Key32& key, const AeadNonce& nonce, std::span<const uint8_t> ad,
              std::span<const uint8_t> plaintext, std::span<uint8_t> out);

// Opens ciphertext ‖ tag into `out` (sealed.size() - 16 bytes; same aliasing rule). Fails on a
// short input or a bad tag; `out` is then unspecified.
Result<void> AeadOpen(const Key32& key, const AeadNonce& nonce, std::span<const uint8_t> ad,
                      std::span<const uint8_t> sealed, std::span<uint8_t> out);

// Allocating forms, for tests and cold paths.
Bytes AeadSeal(const Key32& key, const AeadNonce& nonce, std::span<const uint8_t> ad,
               std::span<const uint8_t> plaintext);
Result<Bytes> AeadOpen(const Key32& key, const AeadNonce& nonce, std::span<const uint8_t> ad,
                       std::span<const uint8_t> sealed);

}  // namespace keel::crypto
