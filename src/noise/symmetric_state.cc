#include "noise/symmetric_state.h"

#include <algorithm>
#include <stdexcept>

#include "crypto/aead.h"
#include "crypto/blake2s.h"
#include "noise/record.h"

namespace keel::noise {

SymmetricState::SymmetricState(std::string_view protocol_name) {
  auto name = AsBytes(protocol_name);
  if (name.size() <= h_.size()) {
    std::copy(name.begin(), name.end(), h_.begin());
  } else {
    h_ = crypto::Blake2s(name);
  }
  ck_ = h_;
}

void SymmetricState::MixHash(std::span<const uint8_t> data) { h_ = crypto::Blake2s({h_, data}); }

void SymmetricState::MixKey(const crypto::Key32& input_key_material) {
  std::tie(ck_, k_) = crypto::NoiseHkdf(ck_, input_key_material);
  has_key_ = true;
  n_ = 0;
}

Result<void> SymmetricState::MixDh(const Result<crypto::Key32>& dh) {
  if (!dh) return MakeError(Errc::kUnauthenticated, "handshake DH failed: " + dh.error().message);
  MixKey(*dh);
  return {};
}

// Handshake nonces never pass 0 in IK (each key seals once), so byte order cannot matter here;
// the spec's little-endian form is used for fidelity to generic engines.
void SymmetricState::EncryptAndHash(std::span<const uint8_t> plaintext, std::span<uint8_t> out) {
  if (!has_key_) {
    if (out.size() != plaintext.size()) throw std::length_error("EncryptAndHash output");
    std::copy(plaintext.begin(), plaintext.end(), out.begin());
  } else {
    crypto::AeadSeal(k_, RecordNonce(n_++, NonceOrder::kSpecLittleEndian), h_, plaintext, out);
  }
  MixHash(out);
}

Result<void> SymmetricState::DecryptAndHash(std::span<const uint8_t> ciphertext,
                                            std::span<uint8_t> out) {
  if (!has_key_) {
    if (out.size() != ciphertext.size()) throw std::length_error("DecryptAndHash output");
    std::copy(ciphertext.begin(), ciphertext.end(), out.begin());
  } else {
    if (ciphertext.size() != out.size() + crypto::kAeadTagSize) {
      return MakeError(Errc::kInvalidArgument, "handshake ciphertext has the wrong size");
    }
    auto opened = crypto::AeadOpen(k_, RecordNonce(n_, NonceOrder::kSpecLittleEndian), h_,
                                   ciphertext, out);
    if (!opened) return MakeError(Errc::kUnauthenticated, "handshake decryption failed");
    ++n_;
  }
  MixHash(ciphertext);
  return {};
}

std::pair<crypto::Key32, crypto::Key32> SymmetricState::Split() const {
  return crypto::NoiseHkdf(ck_, {});
}

}  // namespace keel::noise
