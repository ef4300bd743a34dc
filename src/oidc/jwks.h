#pragma once
// An identity provider's signing keys (a JWKS, RFC 7517) and the check of a compact JWS
// (RFC 7515) against them, with OpenSSL 3. Only asymmetric algorithms are accepted, each bound
// to its key type (RS256/384/512 and PS256/384/512 to RSA keys, ES256/384 to EC keys), so
// "none", HMAC and algorithm confusion are refused whatever the token's header says.
// A KeySet is immutable once parsed; any thread.

#include <openssl/evp.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace keel::oidc {

class KeySet {
 public:
  // The usable signature keys of a JWKS document. Keys of other types or uses (encryption,
  // symmetric) are skipped; a document with none usable is kInvalidArgument.
  static Result<KeySet> Parse(std::string_view jwks_json);

  size_t size() const { return keys_.size(); }

  // Checks `compact` ("header.payload.signature") and returns its payload. `allowed_algs`
  // empty allows every algorithm above. kNotFound when no key carries the token's kid (the
  // provider may have rotated its keys); kPermissionDenied for a bad signature or a refused
  // algorithm; kInvalidArgument for a malformed token.
  Result<nlohmann::json> Verify(std::string_view compact,
                                const std::vector<std::string>& allowed_algs = {}) const;

 private:
  struct Key {
    std::string kid;
    std::string kty;  // "RSA" or "EC"
    std::string alg;  // "" when the JWK leaves it open
    std::shared_ptr<EVP_PKEY> pkey;
  };
  std::vector<Key> keys_;
};

}  // namespace keel::oidc
