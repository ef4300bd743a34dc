#pragma once
// Small helpers every fuzz harness uses.

#include <cstdint>
#include <cstdlib>

#include "crypto/keys.h"

namespace keel::fuzz {

// A property the harness checks; a violation is a finding, so it aborts for libFuzzer to see.
inline void Check(bool ok) {
  if (!ok) std::abort();
}

// A private key of 32 equal bytes: fixed keys keep runs repeatable and coverage meaningful.
inline crypto::PrivateKey FixedKey(uint8_t fill) {
  crypto::Key32 raw;
  raw.fill(fill);
  return crypto::PrivateKey(raw);
}

}  // namespace keel::fuzz
