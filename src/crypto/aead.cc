#include "crypto/aead.h"

#include <openssl/evp.h>

#include <stdexcept>
#include <string>

namespace keel::crypto {
namespace {

[[noreturn]] void OpenSslFailure(const char* what) {
  throw std::runtime_error(std::string("OpenSSL ChaCha20-Poly1305 failure: ") + what);
}

// Fetched once: an implicit fetch by name on every record would cost a provider lookup.
const EVP_CIPHER* Cipher() {
  static EVP_CIPHER* cipher = [] {
    EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
    if (!c) OpenSslFailure("fetch");
    return c;
  }();
  return cipher;
}

// One context per thread, re-keyed for each operation, so sealing a record allocates nothing.
EVP_CIPHER_CTX* ThreadContext() {
  struct Holder {
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    ~Holder() { EVP_CIPHER_CTX_free(ctx); }
  };
  thread_local Holder holder;
  if (!holder.ctx) OpenSslFailure("context allocation");
  return holder.ctx;
}

int Len(size_t n) {
  if (n > (1u << 30)) throw std::length_error("AEAD input too large");
  return static_cast<int>(n);
}

EVP_CIPHER_CTX* Init(const Key32& key, const AeadNonce& nonce, std::span<const uint8_t> ad,
                     int encrypt) {
  EVP_CIPHER_CTX* ctx = ThreadContext();
  if (EVP_CipherInit_ex2(ctx, Cipher(), key.data(), nonce.data(), encrypt, nullptr) != 1) {
    OpenSslFailure("init");
  }
  int outl = 0;
  if (!ad.empty() && EVP_CipherUpdate(ctx, nullptr, &outl, ad.data(), Len(ad.size())) != 1) {
    OpenSslFailure("AD");
  }
  return ctx;
}

}  // namespace

void AeadSeal(const Key32& key, const AeadNonce& nonce, std::span<const uint8_t> ad,
              std::span<const uint8_t> plaintext, std::span<uint8_t> out) {
  if (out.size() != plaintext.size() + kAeadTagSize) throw std::length_error("AeadSeal output");
  EVP_CIPHER_CTX* ctx = Init(key, nonce, ad, 1);
  int outl = 0, finl = 0;
  if (!plaintext.empty() &&
      EVP_EncryptUpdate(ctx, out.data(), &outl, plaintext.data(), Len(plaintext.size())) != 1) {
    OpenSslFailure("encrypt");
  }
  if (EVP_EncryptFinal_ex(ctx, out.data() + outl, &finl) != 1) OpenSslFailure("final");
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kAeadTagSize,
                          out.data() + plaintext.size()) != 1) {
    OpenSslFailure("get tag");
  }
}

Result<void> AeadOpen(const Key32& key, const AeadNonce& nonce, std::span<const uint8_t> ad,
                      std::span<const uint8_t> sealed, std::span<uint8_t> out) {
  if (sealed.size() < kAeadTagSize) {
    return MakeError(Errc::kInvalidArgument, "AEAD input shorter than its tag");
  }
  size_t n = sealed.size() - kAeadTagSize;
  if (out.size() != n) throw std::length_error("AeadOpen output");
  EVP_CIPHER_CTX* ctx = Init(key, nonce, ad, 0);
  // OpenSSL's ctrl takes a non-const pointer but only copies the tag.
  auto* tag = const_cast<uint8_t*>(sealed.data() + n);
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kAeadTagSize, tag) != 1) {
    OpenSslFailure("set tag");
  }
  int outl = 0, finl = 0;
  if (n > 0 && EVP_DecryptUpdate(ctx, out.data(), &outl, sealed.data(), Len(n)) != 1) {
    OpenSslFailure("decrypt");
  }
  if (EVP_DecryptFinal_ex(ctx, out.data() + outl, &finl) != 1) {
    return MakeError(Errc::kUnauthenticated, "AEAD authentication failed");
  }
  return {};
}

Bytes AeadSeal(const Key32& key, const AeadNonce& nonce, std::span<const uint8_t> ad,
               std::span<const uint8_t> plaintext) {
  Bytes out(plaintext.size() + kAeadTagSize);
  AeadSeal(key, nonce, ad, plaintext, out);
  return out;
}

Result<Bytes> AeadOpen(const Key32& key, const AeadNonce& nonce, std::span<const uint8_t> ad,
                       std::span<const uint8_t> sealed) {
  if (sealed.size() < kAeadTagSize) {
    return MakeError(Errc::kInvalidArgument, "AEAD input shorter than its tag");
  }
  Bytes out(sealed.size() - kAeadTagSize);
  KEEL_TRY(AeadOpen(key, nonce, ad, sealed, out));
  return out;
}

}  // namespace keel::crypto
