#include "crypto/blake2s.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <stdexcept>
#include <string>

namespace keel::crypto {
namespace {

[[noreturn]] void OpenSslFailure(const char* what) {
  throw std::runtime_error(std::string("OpenSSL BLAKE2s failure: ") + what);
}

const EVP_MD* Md() {
  static EVP_MD* md = [] {
    EVP_MD* m = EVP_MD_fetch(nullptr, "BLAKE2S-256", nullptr);
    if (!m) OpenSslFailure("fetch BLAKE2S-256");
    return m;
  }();
  return md;
}

// Per-thread contexts: the MAC context keeps its digest setting, so each HMAC is only a re-key,
// with no provider lookup or allocation (a handshake runs a dozen of them).
struct ThreadContexts {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_MAC_CTX* mac = nullptr;
  ThreadContexts() {
    EVP_MAC* hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (hmac) mac = EVP_MAC_CTX_new(hmac);
    EVP_MAC_free(hmac);  // the context holds its own reference
    char digest[] = "BLAKE2S-256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_END};
    if (!md || !mac || EVP_MAC_CTX_set_params(mac, params) != 1) OpenSslFailure("contexts");
  }
  ~ThreadContexts() {
    EVP_MD_CTX_free(md);
    EVP_MAC_CTX_free(mac);
  }
};

ThreadContexts& Contexts() {
  thread_local ThreadContexts contexts;
  return contexts;
}

}  // namespace

Key32 Blake2s(std::initializer_list<std::span<const uint8_t>> parts) {
  EVP_MD_CTX* ctx = Contexts().md;
  if (EVP_DigestInit_ex2(ctx, Md(), nullptr) != 1) OpenSslFailure("digest init");
  for (auto part : parts) {
    if (EVP_DigestUpdate(ctx, part.data(), part.size()) != 1) OpenSslFailure("digest update");
  }
  Key32 out;
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, out.data(), &len) != 1 || len != out.size()) {
    OpenSslFailure("digest final");
  }
  return out;
}

Key32 HmacBlake2s(std::span<const uint8_t> key,
                  std::initializer_list<std::span<const uint8_t>> parts) {
  EVP_MAC_CTX* ctx = Contexts().mac;
  // A null key pointer would mean "keep the previous key" to OpenSSL, so never pass one.
  static constexpr uint8_t kEmpty = 0;
  const uint8_t* key_data = key.empty() ? &kEmpty : key.data();
  if (EVP_MAC_init(ctx, key_data, key.size(), nullptr) != 1) OpenSslFailure("mac init");
  for (auto part : parts) {
    if (EVP_MAC_update(ctx, part.data(), part.size()) != 1) OpenSslFailure("mac update");
  }
  Key32 out;
  size_t len = 0;
  if (EVP_MAC_final(ctx, out.data(), &len, out.size()) != 1 || len != out.size()) {
    OpenSslFailure("mac final");
  }
  return out;
}

std::pair<Key32, Key32> NoiseHkdf(const Key32& chaining_key, std::span<const uint8_t> ikm) {
  static constexpr uint8_t kOne[] = {0x01};
  static constexpr uint8_t kTwo[] = {0x02};
  Key32 temp = HmacBlake2s(chaining_key, {ikm});
  Key32 o1 = HmacBlake2s(temp, {kOne});
  Key32 o2 = HmacBlake2s(temp, {o1, kTwo});
  return {o1, o2};
}

}  // namespace keel::crypto
