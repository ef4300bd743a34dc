#pragma once
// X25519 (OpenSSL 3): key generation and Diffie-Hellman.
// Thread-safe: functions share no mutable state; an X25519Private is used by one thread at a time.

#include "base/result.h"
#include "crypto/keys.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY, kept out of this header.

namespace keel::crypto {

// A fresh random private key (clamped as X25519 requires).
PrivateKey GeneratePrivateKey();

// The public key of `priv` (as raw bytes; wrap it in the key type that fits).
Key32 PublicFromPrivate(const PrivateKey& priv);

// DH(priv, pub). Fails on an all-zero result (a low-order point), which Noise must reject.
Result<Key32> X25519(const PrivateKey& priv, const Key32& pub);

// A private key loaded into OpenSSL once. Loading derives the public key, so a handshake that
// needs a key's public half and two DHs with it pays for that derivation once instead of three
// times.
class X25519Private {
 public:
  explicit X25519Private(const PrivateKey& priv);
  ~X25519Private();
  X25519Private(const X25519Private&) = delete;
  X25519Private& operator=(const X25519Private&) = delete;

  const Key32& public_key() const { return public_; }
  // Same contract as X25519() above.
  Result<Key32> Dh(const Key32& peer_public) const;

 private:
  evp_pkey_st* pkey_;
  Key32 public_{};
};

}  // namespace keel::crypto
