#pragma once
// The relay's TLS certificate: load a configured cert/key, or create and persist a
// self-signed one, and compute the DERP map pin "sha256-raw:<hex>" (derp.md §1.6).
// Thread-safe (no shared state); file I/O blocks, so call at startup.

#include <span>
#include <string>

#include "base/bytes.h"
#include "base/result.h"

namespace keel::derp {

struct TlsCertificate {
  std::string chain_pem;  // leaf first
  std::string key_pem;
  Bytes leaf_der;
  // "sha256-raw:" + lowercase hex SHA-256 of leaf_der: the DERPNode.CertName that pins it.
  std::string pin;
};

// Loads PEM files; the first certificate in `cert_path` is the leaf.
Result<TlsCertificate> LoadTlsCertificate(const std::string& cert_path,
                                          const std::string& key_path);

// A fresh self-signed ECDSA P-256 certificate, CN = `hostname`, valid for ten years from one
// day ago, with SANs for the hostname (as IP or DNS name) plus 127.0.0.1, ::1 and localhost.
Result<TlsCertificate> GenerateSelfSignedCertificate(const std::string& hostname);

// Loads <dir>/derp-<hostname>.crt/.key, or generates them (key file mode 0600) if absent, so
// the pin survives restarts.
Result<TlsCertificate> LoadOrCreateSelfSigned(const std::string& dir, const std::string& hostname);

// The DER "meta certificate" that lets clients skip the 101 round trip (derp.md §1.4):
// self-signed Ed25519, CN = "derpkey" + hex(server_public), serial = protocol version.
Result<Bytes> GenerateMetaCertificate(std::span<const uint8_t, 32> server_public);

// "sha256-raw:<hex>" of a DER certificate.
std::string CertPin(std::span<const uint8_t> der);

}  // namespace keel::derp
