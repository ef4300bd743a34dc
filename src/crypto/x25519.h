#pragma once
// X25519 (OpenSSL 3): key generation and Diffie-Hellman.

#include "base/result.h"
#include "crypto/keys.h"

namespace keel::crypto {

// A fresh random private key (clamped as X25519 requires).
PrivateKey GeneratePrivateKey();

// The public key of `priv` (as raw bytes; wrap it in the key type that fits).
Key32 PublicFromPrivate(const PrivateKey& priv);

// DH(priv, pub). Fails on an all-zero result (a low-order point), which Noise must reject.
Result<Key32> X25519(const PrivateKey& priv, const Key32& pub);

}  // namespace keel::crypto
