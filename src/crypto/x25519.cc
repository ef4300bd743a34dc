#include "crypto/x25519.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <memory>
#include <stdexcept>

namespace keel::crypto {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;

// OpenSSL failing on well-formed 32-byte input means it is broken or out of memory: a bug-class
// failure, not something a caller could handle.
[[noreturn]] void OpenSslFailure(const char* what) {
  throw std::runtime_error(std::string("OpenSSL X25519 failure: ") + what);
}

EVP_PKEY* LoadPrivate(const PrivateKey& priv) {
  EVP_PKEY* p = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, priv.raw().data(),
                                             priv.raw().size());
  if (!p) OpenSslFailure("load private key");
  return p;
}

}  // namespace

PrivateKey GeneratePrivateKey() {
  Key32 raw;
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) OpenSslFailure("RAND_bytes");
  // RFC 7748 §5 clamping, so the stored key is the canonical scalar other stacks expect.
  raw[0] &= 248;
  raw[31] &= 127;
  raw[31] |= 64;
  return PrivateKey(raw);
}

Key32 PublicFromPrivate(const PrivateKey& priv) { return X25519Private(priv).public_key(); }

Result<Key32> X25519(const PrivateKey& priv, const Key32& pub) {
  return X25519Private(priv).Dh(pub);
}

X25519Private::X25519Private(const PrivateKey& priv) : pkey_(LoadPrivate(priv)) {
  size_t len = public_.size();
  if (EVP_PKEY_get_raw_public_key(pkey_, public_.data(), &len) != 1 || len != public_.size()) {
    EVP_PKEY_free(pkey_);
    OpenSslFailure("derive public key");
  }
}

X25519Private::~X25519Private() { EVP_PKEY_free(pkey_); }

Result<Key32> X25519Private::Dh(const Key32& peer_public) const {
  PkeyPtr peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer_public.data(),
                                           peer_public.size()));
  if (!peer) return MakeError(Errc::kInvalidArgument, "invalid X25519 public key");
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey_, nullptr));
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1) OpenSslFailure("derive init");
  // No peer validation pass: X25519 has none worth doing beyond the all-zero check below.
  if (EVP_PKEY_derive_set_peer_ex(ctx.get(), peer.get(), 0) != 1) {
    return MakeError(Errc::kInvalidArgument, "invalid X25519 public key");
  }
  Key32 shared{};
  size_t len = shared.size();
  // OpenSSL itself refuses an all-zero result, so a failure here is the low-order case.
  if (EVP_PKEY_derive(ctx.get(), shared.data(), &len) != 1 || len != shared.size() ||
      std::all_of(shared.begin(), shared.end(), [](uint8_t b) { return b == 0; })) {
    return MakeError(Errc::kInvalidArgument, "X25519 produced a low-order shared secret");
  }
  return shared;
}

}  // namespace keel::crypto
