#pragma once
// TS2021 Noise IK handshake (transport.md §3) as pure functions: bytes in, bytes and keys out.
// Ephemeral keys are parameters so tests can reproduce testdata/noise/ts2021_vectors.json.
// Pure and thread-safe: no shared state; CPU cost is five X25519 operations per side.

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "base/bytes.h"
#include "base/result.h"
#include "crypto/keys.h"

namespace keel::noise {

inline constexpr size_t kInitiationSize = 101;
inline constexpr size_t kResponseSize = 51;

// Transport keys from one side's point of view.
struct CipherKeys {
  crypto::Key32 send;
  crypto::Key32 recv;
};

struct ServerHandshake {
  uint16_t protocol_version = 0;       // the client's capability version, from the header
  crypto::MachinePublic peer;          // the client's machine key (authenticated)
  std::array<uint8_t, kResponseSize> response{};
  CipherKeys keys;                     // send = s2c (k2), recv = c2s (k1)
  crypto::Key32 handshake_hash{};
};

// Validates the 101-byte initiation (size, type, length, then crypto; transport.md §3.4) and
// builds the 51-byte response. Error messages name the failed check.
Result<ServerHandshake> RespondToInitiation(std::span<const uint8_t> initiation,
                                            const crypto::PrivateKey& control_key,
                                            const crypto::PrivateKey& ephemeral);

// The client side, for tests, benchmarks and the in-process test client.
class ClientHandshake {
 public:
  ClientHandshake(const crypto::PrivateKey& machine_key, const crypto::MachinePublic& control_pub,
                  uint16_t protocol_version, const crypto::PrivateKey& ephemeral);
  // The 101-byte initiation (send base64 in X-Tailscale-Handshake).
  const std::array<uint8_t, kInitiationSize>& initiation() const { return initiation_; }
  // Consumes the server's 51-byte response; keys are from the client's side. An error frame
  // (§3.6) in its place fails with `server error: "<text>"`.
  Result<CipherKeys> ReadResponse(std::span<const uint8_t> response);
  // The final handshake hash, valid after a successful ReadResponse.
  const crypto::Key32& handshake_hash() const { return h_; }

 private:
  crypto::PrivateKey machine_key_, ephemeral_;
  crypto::Key32 h_{}, ck_{};
  std::array<uint8_t, kInitiationSize> initiation_{};
};

// 0x03 ‖ uint16 BE length ‖ text: sent instead of the response to refuse a client readably.
Bytes ErrorFrame(std::string_view text);

}  // namespace keel::noise
