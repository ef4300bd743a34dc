#pragma once
// Test-only: an identity provider's signing key, to make the JWKS and signed ID tokens the
// unit tests check. OpenSSL key generation and signing; the verifying side is jwks.cc.

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "base/bytes.h"

namespace keel::oidc {

class TestSigner {
 public:
  static TestSigner Rsa(std::string kid) {
    return TestSigner(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}), "RS256", std::move(kid));
  }
  static TestSigner Ec(std::string kid) {
    return TestSigner(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), "ES256", std::move(kid));
  }

  const std::string& kid() const { return kid_; }

  nlohmann::json PublicJwk() const {
    nlohmann::json jwk = {{"kid", kid_}, {"use", "sig"}, {"alg", alg_}};
    if (alg_ == "RS256") {
      jwk["kty"] = "RSA";
      jwk["n"] = BnParam(OSSL_PKEY_PARAM_RSA_N, 0);
      jwk["e"] = BnParam(OSSL_PKEY_PARAM_RSA_E, 0);
    } else {
      jwk["kty"] = "EC";
      jwk["crv"] = "P-256";
      jwk["x"] = BnParam(OSSL_PKEY_PARAM_EC_PUB_X, 32);
      jwk["y"] = BnParam(OSSL_PKEY_PARAM_EC_PUB_Y, 32);
    }
    return jwk;
  }
  std::string Jwks() const { return nlohmann::json{{"keys", {PublicJwk()}}}.dump(); }

  // A compact JWS of `payload`; `header` entries replace the defaults (alg, kid, typ).
  std::string Sign(const nlohmann::json& payload, const nlohmann::json& header = {}) const {
    nlohmann::json h = {{"alg", alg_}, {"kid", kid_}, {"typ", "JWT"}};
    if (header.is_object()) h.update(header);
    std::string input = Base64UrlEncode(AsBytes(h.dump())) + "." + Base64UrlEncode(AsBytes(payload.dump()));
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    size_t len = 0;
    if (EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1 ||
        EVP_DigestSign(md.get(), nullptr, &len, AsBytes(input).data(), input.size()) != 1) {
      throw std::runtime_error("sign");
    }
    Bytes sig(len);
    EVP_DigestSign(md.get(), sig.data(), &len, AsBytes(input).data(), input.size());
    sig.resize(len);
    if (alg_ == "ES256") sig = DerToRaw(sig);
    return input + "." + Base64UrlEncode(sig);
  }

 private:
  TestSigner(EVP_PKEY* key, std::string alg, std::string kid)
      : key_(key, EVP_PKEY_free), alg_(std::move(alg)), kid_(std::move(kid)) {
    if (!key) throw std::runtime_error("keygen");
  }

  std::string BnParam(const char* name, int pad) const {
    BIGNUM* bn = nullptr;
    EVP_PKEY_get_bn_param(key_.get(), name, &bn);
    Bytes out(pad ? pad : BN_num_bytes(bn));
    BN_bn2binpad(bn, out.data(), static_cast<int>(out.size()));
    BN_free(bn);
    return Base64UrlEncode(out);
  }

  static Bytes DerToRaw(const Bytes& der) {
    const unsigned char* p = der.data();
    ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
    Bytes raw(64);
    BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw.data(), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw.data() + 32, 32);
    ECDSA_SIG_free(sig);
    return raw;
  }

  std::shared_ptr<EVP_PKEY> key_;
  std::string alg_;
  std::string kid_;
};

}  // namespace keel::oidc
