#pragma once
// BLAKE2s-256, HMAC-BLAKE2s and the two-output Noise HKDF, through OpenSSL 3 (libsodium has no
// BLAKE2s). Thread-safe: each thread reuses its own MAC context.

#include <cstdint>
#include <initializer_list>
#include <span>
#include <utility>

#include "crypto/keys.h"

namespace keel::crypto {

// BLAKE2s-256 of the concatenation of `parts` (saves callers building h ‖ x buffers).
Key32 Blake2s(std::initializer_list<std::span<const uint8_t>> parts);
inline Key32 Blake2s(std::span<const uint8_t> data) { return Blake2s({data}); }

// HMAC-BLAKE2s-256 (RFC 2104, block size 64) of the concatenation of `parts`.
Key32 HmacBlake2s(std::span<const uint8_t> key, std::initializer_list<std::span<const uint8_t>> parts);

// Noise HKDF with two outputs: t = HMAC(ck, ikm); o1 = HMAC(t, 0x01); o2 = HMAC(t, o1 ‖ 0x02).
std::pair<Key32, Key32> NoiseHkdf(const Key32& chaining_key, std::span<const uint8_t> ikm);

}  // namespace keel::crypto
