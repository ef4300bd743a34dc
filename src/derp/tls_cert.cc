#include "derp/tls_cert.h"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <array>
#include <boost/asio/ip/address.hpp>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <memory>

#include "base/file.h"

namespace keel::derp {

namespace {

struct BioFree { void operator()(BIO* b) const { BIO_free(b); } };
struct X509Free { void operator()(X509* x) const { X509_free(x); } };
struct PkeyFree { void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); } };
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

Error SslError(std::string what) { return MakeError(Errc::kInternal, "TLS cert: " + what); }

std::string BioString(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

Bytes ToDer(X509* cert) {
  int n = i2d_X509(cert, nullptr);
  Bytes der(static_cast<size_t>(std::max(n, 0)));
  unsigned char* p = der.data();
  i2d_X509(cert, &p);
  return der;
}

// Parses the leaf of a PEM chain and checks the key PEM is loadable.
Result<TlsCertificate> FromPem(std::string chain_pem, std::string key_pem) {
  BioPtr cbio(BIO_new_mem_buf(chain_pem.data(), static_cast<int>(chain_pem.size())));
  X509Ptr leaf(PEM_read_bio_X509(cbio.get(), nullptr, nullptr, nullptr));
  if (!leaf) return SslError("no certificate in PEM");
  BioPtr kbio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  PkeyPtr key(PEM_read_bio_PrivateKey(kbio.get(), nullptr, nullptr, nullptr));
  if (!key) return SslError("no private key in PEM");
  if (X509_check_private_key(leaf.get(), key.get()) != 1) {
    return SslError("private key does not match certificate");
  }
  TlsCertificate out;
  out.leaf_der = ToDer(leaf.get());
  out.pin = CertPin(out.leaf_der);
  out.chain_pem = std::move(chain_pem);
  out.key_pem = std::move(key_pem);
  return out;
}

bool AddSan(X509* cert, const std::string& san) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str());
  if (ext == nullptr) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

std::string SanList(const std::string& hostname) {
  boost::system::error_code ec;
  auto ip = boost::asio::ip::make_address(hostname, ec);
  std::string san = "IP:127.0.0.1,IP:::1,DNS:localhost";
  if (!ec && hostname != "127.0.0.1" && hostname != "::1") san += ",IP:" + ip.to_string();
  if (ec && hostname != "localhost" && !hostname.empty()) san += ",DNS:" + hostname;
  return san;
}

}  // namespace

std::string CertPin(std::span<const uint8_t> der) {
  std::array<uint8_t, SHA256_DIGEST_LENGTH> digest;
  SHA256(der.data(), der.size(), digest.data());
  return "sha256-raw:" + HexEncode(digest);
}

Result<TlsCertificate> LoadTlsCertificate(const std::string& cert_path,
                                          const std::string& key_path) {
  auto chain = ReadFileText(cert_path);
  if (!chain) return chain.error();
  auto key = ReadFileText(key_path);
  if (!key) return key.error();
  return FromPem(std::move(*chain), std::move(*key));
}

Result<TlsCertificate> GenerateSelfSignedCertificate(const std::string& hostname) {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return SslError("EC key generation failed");
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);  // v3
  std::array<uint8_t, 16> serial_bytes;
  if (RAND_bytes(serial_bytes.data(), serial_bytes.size()) != 1) return SslError("RAND_bytes");
  serial_bytes[0] &= 0x7F;  // keep the serial positive
  BIGNUM* serial = BN_bin2bn(serial_bytes.data(), serial_bytes.size(), nullptr);
  BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert.get()));
  BN_free(serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -24L * 3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(hostname.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509_set_pubkey(cert.get(), key.get());
  if (!AddSan(cert.get(), SanList(hostname))) return SslError("bad subjectAltName");
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) return SslError("signing failed");
  BioPtr cbio(BIO_new(BIO_s_mem()));
  BioPtr kbio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_X509(cbio.get(), cert.get()) != 1 ||
      PEM_write_bio_PrivateKey(kbio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
          1) {
    return SslError("PEM encoding failed");
  }
  return FromPem(BioString(cbio.get()), BioString(kbio.get()));
}

Result<Bytes> GenerateMetaCertificate(std::span<const uint8_t, 32> server_public) {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) return SslError("Ed25519 key generation failed");
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 2);  // DERP protocol version
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -30L * 24 * 3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 30L * 24 * 3600);
  std::string cn = "derpkey" + HexEncode(server_public);
  X509_NAME* name = X509_get_subject_name(cert.get());
  // 71 characters: over X.509's 64-character CN bound, which OpenSSL enforces only for
  // MBSTRING input, so pass an explicit UTF8String.
  if (X509_NAME_add_entry_by_NID(name, NID_commonName, V_ASN1_UTF8STRING,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                 0) != 1) {
    return SslError("meta cert subject");
  }
  X509_set_issuer_name(cert.get(), name);
  X509_set_pubkey(cert.get(), key.get());
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_basic_constraints, "CA:FALSE");
  if (ext == nullptr) return SslError("basicConstraints");
  X509_add_ext(cert.get(), ext, -1);
  X509_EXTENSION_free(ext);
  // Ed25519 signs without a separate digest.
  if (X509_sign(cert.get(), key.get(), nullptr) == 0) return SslError("signing meta cert failed");
  return ToDer(cert.get());
}

Result<TlsCertificate> LoadOrCreateSelfSigned(const std::string& dir, const std::string& hostname) {
  std::string safe;
  for (char ch : hostname) {
    safe += std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' ? ch : '_';
  }
  auto base = std::filesystem::path(dir) / ("derp-" + safe);
  std::string cert_path = base.string() + ".crt";
  std::string key_path = base.string() + ".key";
  if (std::filesystem::exists(cert_path) && std::filesystem::exists(key_path)) {
    return LoadTlsCertificate(cert_path, key_path);
  }
  auto cert = GenerateSelfSignedCertificate(hostname);
  if (!cert) return cert.error();
  std::error_code fs_ec;
  std::filesystem::create_directories(dir, fs_ec);
  {
    std::ofstream key_out(key_path, std::ios::binary | std::ios::trunc);
    ::chmod(key_path.c_str(), 0600);
    key_out << cert->key_pem;
    std::ofstream cert_out(cert_path, std::ios::binary | std::ios::trunc);
    cert_out << cert->chain_pem;
    if (!key_out || !cert_out) return MakeError(Errc::kUnavailable, "cannot write " + base.string());
  }
  return cert;
}

}  // namespace keel::derp

