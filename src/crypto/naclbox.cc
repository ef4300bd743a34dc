#include "crypto/naclbox.h"

#include <sodium.h>

#include <algorithm>
#include <stdexcept>

namespace keel::crypto {
namespace {

static_assert(crypto_box_NONCEBYTES == kBoxNonceSize);
static_assert(crypto_box_MACBYTES == kBoxTagSize);
static_assert(crypto_box_BEFORENMBYTES == sizeof(Key32));

void EnsureSodium() {
  static const bool ok = sodium_init() >= 0;
  if (!ok) throw std::runtime_error("libsodium initialisation failed");
}

}  // namespace

Result<BoxKey> BoxKey::Precompute(const PrivateKey& priv, const Key32& peer_public) {
  EnsureSodium();
  BoxKey key;
  if (crypto_box_beforenm(key.shared_.data(), peer_public.data(), priv.raw().data()) != 0) {
    return MakeError(Errc::kInvalidArgument, "box peer key is a low-order point");
  }
  return key;
}

Bytes BoxKey::Seal(std::span<const uint8_t> plaintext) const {
  BoxNonce nonce;
  randombytes_buf(nonce.data(), nonce.size());
  return SealWithNonce(plaintext, nonce);
}

Bytes BoxKey::SealWithNonce(std::span<const uint8_t> plaintext, const BoxNonce& nonce) const {
  Bytes body(kBoxOverhead + plaintext.size());
  std::copy(nonce.begin(), nonce.end(), body.begin());
  // crypto_box_easy_afternm writes tag ‖ ciphertext, which is exactly the rest of the body.
  if (crypto_box_easy_afternm(body.data() + kBoxNonceSize, plaintext.data(), plaintext.size(),
                              nonce.data(), shared_.data()) != 0) {
    throw std::length_error("crypto_box plaintext too large");
  }
  return body;
}

Result<Bytes> BoxKey::Open(std::span<const uint8_t> body) const {
  if (body.size() < kBoxOverhead) {
    return MakeError(Errc::kInvalidArgument, "box shorter than nonce and tag");
  }
  Bytes plain(body.size() - kBoxOverhead);
  if (crypto_box_open_easy_afternm(plain.data(), body.data() + kBoxNonceSize,
                                   body.size() - kBoxNonceSize, body.data(),
                                   shared_.data()) != 0) {
    return MakeError(Errc::kUnauthenticated, "box failed to open");
  }
  return plain;
}

Result<Bytes> BoxSeal(std::span<const uint8_t> plaintext, const PrivateKey& priv,
                      const Key32& peer_public) {
  auto key = BoxKey::Precompute(priv, peer_public);
  if (!key) return key.error();
  return key->Seal(plaintext);
}

Result<Bytes> BoxOpen(std::span<const uint8_t> body, const PrivateKey& priv,
                      const Key32& peer_public) {
  auto key = BoxKey::Precompute(priv, peer_public);
  if (!key) return key.error();
  return key->Open(body);
}

}  // namespace keel::crypto
