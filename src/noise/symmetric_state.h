#pragma once
// The Noise SymmetricState (Noise spec §5.2) over BLAKE2s and ChaCha20-Poly1305: the building
// block of the TS2021 handshake, exposed so tests can drive a generic Noise IK (cacophony vector).
// Not thread-safe; one handshake owns one.

#include <cstdint>
#include <span>
#include <string_view>
#include <utility>

#include "base/result.h"
#include "crypto/keys.h"

namespace keel::noise {

class SymmetricState {
 public:
  // InitializeSymmetric(protocol_name).
  explicit SymmetricState(std::string_view protocol_name);
  // Resumes a state saved between handshake messages (no cipher key yet at that point).
  SymmetricState(const crypto::Key32& h, const crypto::Key32& ck) : h_(h), ck_(ck) {}

  void MixHash(std::span<const uint8_t> data);
  void MixKey(const crypto::Key32& input_key_material);
  // MixKey of a DH result, passing a DH failure (low-order point) through.
  Result<void> MixDh(const Result<crypto::Key32>& dh);

  // `out` is plaintext.size() + 16 bytes once a key is set, plaintext.size() before.
  void EncryptAndHash(std::span<const uint8_t> plaintext, std::span<uint8_t> out);
  Result<void> DecryptAndHash(std::span<const uint8_t> ciphertext, std::span<uint8_t> out);

  // (k1, k2): initiator-to-responder and responder-to-initiator transport keys.
  std::pair<crypto::Key32, crypto::Key32> Split() const;

  const crypto::Key32& h() const { return h_; }
  const crypto::Key32& ck() const { return ck_; }
  const crypto::Key32& k() const { return k_; }

 private:
  crypto::Key32 h_{}, ck_{}, k_{};
  bool has_key_ = false;
  uint64_t n_ = 0;
};

}  // namespace keel::noise
