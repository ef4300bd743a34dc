#pragma once
// NaCl crypto_box (X25519 -> HSalsa20 -> XSalsa20-Poly1305, libsodium) in the TS2019 body
// layout of transport.md §5.3: nonce(24) ‖ tag(16) ‖ ciphertext. Thread-safe.

#include <array>
#include <cstdint>
#include <span>

#include "base/bytes.h"
#include "base/result.h"
#include "crypto/keys.h"

namespace keel::crypto {

inline constexpr size_t kBoxNonceSize = 24;
inline constexpr size_t kBoxTagSize = 16;
inline constexpr size_t kBoxOverhead = kBoxNonceSize + kBoxTagSize;
using BoxNonce = std::array<uint8_t, kBoxNonceSize>;

// The shared key of one (private, peer public) pair, computed once (crypto_box_beforenm): a
// legacy map long-poll seals every frame with the same pair.
class BoxKey {
 public:
  // Fails when the peer key is a low-order point.
  static Result<BoxKey> Precompute(const PrivateKey& priv, const Key32& peer_public);

  // Random fresh nonce.
  Bytes Seal(std::span<const uint8_t> plaintext) const;
  // Caller-chosen nonce: only for reproducing vectors.
  Bytes SealWithNonce(std::span<const uint8_t> plaintext, const BoxNonce& nonce) const;
  Result<Bytes> Open(std::span<const uint8_t> body) const;

 private:
  BoxKey() = default;
  Key32 shared_{};
};

// One-shot forms (no precomputation).
Result<Bytes> BoxSeal(std::span<const uint8_t> plaintext, const PrivateKey& priv,
                      const Key32& peer_public);
Result<Bytes> BoxOpen(std::span<const uint8_t> body, const PrivateKey& priv,
                      const Key32& peer_public);

}  // namespace keel::crypto
