#include "oidc/jwks.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <algorithm>

#include "base/bytes.h"

namespace keel::oidc {
namespace {

using json = nlohmann::json;

struct Algorithm {
  std::string_view name;
  std::string_view kty;
  const EVP_MD* (*digest)();
  bool pss = false;
  size_t ec_half = 0;  // ECDSA: bytes of r and of s in the JOSE signature
};

constexpr Algorithm kAlgorithms[] = {
    {"RS256", "RSA", EVP_sha256}, {"RS384", "RSA", EVP_sha384}, {"RS512", "RSA", EVP_sha512},
    {"PS256", "RSA", EVP_sha256, true}, {"PS384", "RSA", EVP_sha384, true},
    {"PS512", "RSA", EVP_sha512, true}, {"ES256", "EC", EVP_sha256, false, 32},
    {"ES384", "EC", EVP_sha384, false, 48},
};

const Algorithm* FindAlgorithm(std::string_view name) {
  for (const auto& a : kAlgorithms) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using ParamBuild = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using Params = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM, OSSL_PARAM_free>>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using BigNum = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using EcSig = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>>;

std::optional<Bytes> Member(const json& jwk, const char* name) {
  auto it = jwk.find(name);
  if (it == jwk.end() || !it->is_string()) return std::nullopt;
  return Base64UrlDecode(it->get<std::string>());
}

BigNum ToBigNum(const Bytes& b) {
  return BigNum(BN_bin2bn(b.data(), static_cast<int>(b.size()), nullptr));
}

std::shared_ptr<EVP_PKEY> FromParams(const char* type, OSSL_PARAM_BLD* build) {
  Params params(OSSL_PARAM_BLD_to_param(build));
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* pkey = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return nullptr;
  }
  return std::shared_ptr<EVP_PKEY>(pkey, EVP_PKEY_free);
}

std::shared_ptr<EVP_PKEY> RsaKey(const json& jwk) {
  auto n = Member(jwk, "n"), e = Member(jwk, "e");
  if (!n || !e || n->empty() || e->empty()) return nullptr;
  BigNum bn_n = ToBigNum(*n), bn_e = ToBigNum(*e);
  ParamBuild build(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !build || !OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
      !OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get())) {
    return nullptr;
  }
  auto key = FromParams("RSA", build.get());
  // Shorter RSA keys are breakable; no provider should sign with one.
  if (key && EVP_PKEY_get_bits(key.get()) < 2048) return nullptr;
  return key;
}

std::shared_ptr<EVP_PKEY> EcKey(const json& jwk) {
  auto crv = jwk.value("crv", "");
  size_t half = crv == "P-256" ? 32 : crv == "P-384" ? 48 : 0;
  auto x = Member(jwk, "x"), y = Member(jwk, "y");
  if (half == 0 || !x || !y || x->size() != half || y->size() != half) return nullptr;
  Bytes point{0x04};  // uncompressed
  point.insert(point.end(), x->begin(), x->end());
  point.insert(point.end(), y->begin(), y->end());
  ParamBuild build(OSSL_PARAM_BLD_new());
  if (!build ||
      !OSSL_PARAM_BLD_push_utf8_string(build.get(), OSSL_PKEY_PARAM_GROUP_NAME, crv.c_str(), 0) ||
      !OSSL_PARAM_BLD_push_octet_string(build.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                        point.size())) {
    return nullptr;
  }
  return FromParams("EC", build.get());
}

// JOSE's ECDSA signature is r||s; OpenSSL verifies DER.
std::optional<Bytes> EcSignatureToDer(const Bytes& raw, size_t half) {
  if (raw.size() != 2 * half) return std::nullopt;
  EcSig sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(raw.data(), static_cast<int>(half), nullptr);
  BIGNUM* s = BN_bin2bn(raw.data() + half, static_cast<int>(half), nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig.get(), &der);
  if (len <= 0) return std::nullopt;
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

bool VerifySignature(const Algorithm& alg, EVP_PKEY* pkey, std::string_view signed_part,
                     const Bytes& signature) {
  Bytes sig = signature;
  if (alg.ec_half != 0) {
    auto der = EcSignatureToDer(signature, alg.ec_half);
    if (!der) return false;
    sig = std::move(*der);
  }
  MdCtx md(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (!md || EVP_DigestVerifyInit(md.get(), &pctx, alg.digest(), nullptr, pkey) != 1) return false;
  if (alg.pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                  EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) {
    return false;
  }
  return EVP_DigestVerify(md.get(), sig.data(), sig.size(),
                          reinterpret_cast<const unsigned char*>(signed_part.data()),
                          signed_part.size()) == 1;
}

Result<json> DecodeJsonPart(std::string_view part, const char* what) {
  auto raw = Base64UrlDecode(part);
  if (!raw) return MakeError(Errc::kInvalidArgument, std::string("token ") + what + " is not base64url");
  json doc = json::parse(AsChars(*raw), nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) {
    return MakeError(Errc::kInvalidArgument, std::string("token ") + what + " is not a JSON object");
  }
  return Result<json>(boost::system::in_place_value, std::move(doc));
}

}  // namespace

Result<KeySet> KeySet::Parse(std::string_view jwks_json) {
  json doc = json::parse(jwks_json, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array()) {
    return MakeError(Errc::kInvalidArgument, "the provider's JWKS is not {\"keys\": [...]}");
  }
  KeySet set;
  for (const auto& jwk : doc["keys"]) {
    if (!jwk.is_object()) continue;
    if (jwk.value("use", "sig") != "sig") continue;
    Key k;
    k.kty = jwk.value("kty", "");
    k.kid = jwk.value("kid", "");
    k.alg = jwk.value("alg", "");
    if (k.kty == "RSA") {
      k.pkey = RsaKey(jwk);
    } else if (k.kty == "EC") {
      k.pkey = EcKey(jwk);
    }
    const Algorithm* alg = k.alg.empty() ? nullptr : FindAlgorithm(k.alg);
    if (!k.pkey || (!k.alg.empty() && (!alg || alg->kty != k.kty))) continue;
    set.keys_.push_back(std::move(k));
  }
  if (set.keys_.empty()) {
    return MakeError(Errc::kInvalidArgument, "the provider's JWKS has no usable signing key");
  }
  return set;
}

Result<json> KeySet::Verify(std::string_view compact, const std::vector<std::string>& allowed_algs) const {
  size_t first = compact.find('.');
  size_t second = first == std::string_view::npos ? first : compact.find('.', first + 1);
  if (second == std::string_view::npos || compact.find('.', second + 1) != std::string_view::npos) {
    return MakeError(Errc::kInvalidArgument, "token is not a compact JWS (three parts)");
  }
  auto header = DecodeJsonPart(compact.substr(0, first), "header");
  if (!header) return header.error();
  auto signature = Base64UrlDecode(compact.substr(second + 1));
  if (!signature) return MakeError(Errc::kInvalidArgument, "token signature is not base64url");
  std::string alg_name = header->value("alg", "");
  const Algorithm* alg = FindAlgorithm(alg_name);
  bool allowed = allowed_algs.empty() || std::find(allowed_algs.begin(), allowed_algs.end(),
                                                   alg_name) != allowed_algs.end();
  if (alg == nullptr || !allowed) {
    return MakeError(Errc::kPermissionDenied, "token algorithm \"" + alg_name + "\" is not accepted");
  }
  if (header->contains("crit")) {
    return MakeError(Errc::kPermissionDenied, "token has critical header extensions");
  }
  std::string kid = header->value("kid", "");
  bool kid_known = false;
  for (const auto& k : keys_) {
    if (!kid.empty() && k.kid != kid) continue;
    kid_known = true;
    if (k.kty != alg->kty || (!k.alg.empty() && k.alg != alg->name)) continue;
    if (VerifySignature(*alg, k.pkey.get(), compact.substr(0, second), *signature)) {
      return DecodeJsonPart(compact.substr(first + 1, second - first - 1), "payload");
    }
  }
  if (!kid_known) return MakeError(Errc::kNotFound, "no provider key has kid \"" + kid + "\"");
  return MakeError(Errc::kPermissionDenied, "token signature does not verify");
}

}  // namespace keel::oidc
