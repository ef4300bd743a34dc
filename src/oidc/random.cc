#include "oidc/random.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <stdexcept>

#include "base/bytes.h"

namespace keel::oidc {

std::string RandomToken(size_t bytes) {
  Bytes raw(bytes);
  // Failing to draw randomness leaves nothing safe to hand out.
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  return Base64UrlEncode(raw);
}

std::string S256Challenge(std::string_view verifier) {
  Bytes digest(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  EVP_Digest(verifier.data(), verifier.size(), digest.data(), &len, EVP_sha256(), nullptr);
  digest.resize(len);
  return Base64UrlEncode(digest);
}

}  // namespace keel::oidc
