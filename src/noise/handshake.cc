#include "noise/handshake.h"

#include <algorithm>
#include <memory>
#include <string>

#include "crypto/x25519.h"
#include "noise/symmetric_state.h"

namespace keel::noise {
namespace {

constexpr std::string_view kProtocolName = "Noise_IK_25519_ChaChaPoly_BLAKE2s";
constexpr uint8_t kInitiationType = 0x01;
constexpr uint8_t kResponseType = 0x02;
constexpr uint8_t kErrorType = 0x03;
constexpr size_t kInitiationHeaderSize = 5;  // version(2) type(1) length(2)
constexpr size_t kResponseHeaderSize = 3;    // type(1) length(2)
constexpr size_t kInitiationPayload = kInitiationSize - kInitiationHeaderSize;  // 96
constexpr size_t kResponsePayload = kResponseSize - kResponseHeaderSize;        // 48

uint16_t ReadU16(std::span<const uint8_t> b) { return static_cast<uint16_t>(b[0] << 8 | b[1]); }
void WriteU16(uint8_t* out, uint16_t v) {
  out[0] = static_cast<uint8_t>(v >> 8);
  out[1] = static_cast<uint8_t>(v);
}

crypto::Key32 ToKey(std::span<const uint8_t> b) {
  crypto::Key32 k;
  std::copy(b.begin(), b.begin() + k.size(), k.begin());
  return k;
}

// Steps 1-3 of §3.3, identical on both sides: the prologue carries the version so a mismatch
// surfaces as an AEAD failure.
SymmetricState InitialState(uint16_t version, const crypto::Key32& control_pub) {
  SymmetricState s(kProtocolName);
  std::string prologue = "Tailscale Control Protocol v" + std::to_string(version);
  s.MixHash(AsBytes(prologue));
  s.MixHash(control_pub);
  return s;
}

Result<void> CheckInitiationFraming(std::span<const uint8_t> msg) {
  if (msg.size() != kInitiationSize) {
    return MakeError(Errc::kInvalidArgument, "wrong handshake initiation size");
  }
  if (msg[2] != kInitiationType) {
    return MakeError(Errc::kInvalidArgument, "unexpected handshake message type");
  }
  if (ReadU16(msg.subspan(3)) != kInitiationPayload) {
    return MakeError(Errc::kInvalidArgument, "wrong handshake initiation length");
  }
  return {};
}

// The control key is the same for every handshake, and loading it into OpenSSL derives its
// public half, which costs as much as a DH: keep the last one loaded, per thread.
const crypto::X25519Private& LoadedControlKey(const crypto::PrivateKey& key) {
  struct Cache {
    crypto::PrivateKey key;
    std::unique_ptr<crypto::X25519Private> loaded;
  };
  thread_local Cache cache;
  if (!cache.loaded || cache.key != key) {
    cache.loaded = std::make_unique<crypto::X25519Private>(key);
    cache.key = key;
  }
  return *cache.loaded;
}

}  // namespace

Result<ServerHandshake> RespondToInitiation(std::span<const uint8_t> initiation,
                                            const crypto::PrivateKey& control_key,
                                            const crypto::PrivateKey& ephemeral) {
  KEEL_TRY(CheckInitiationFraming(initiation));
  ServerHandshake out;
  out.protocol_version = ReadU16(initiation);
  const crypto::X25519Private& control = LoadedControlKey(control_key);
  SymmetricState s = InitialState(out.protocol_version, control.public_key());

  auto client_ephemeral = ToKey(initiation.subspan(5, 32));
  s.MixHash(client_ephemeral);                                          // e
  KEEL_TRY(s.MixDh(control.Dh(client_ephemeral)));                      // es
  crypto::Key32 machine;
  KEEL_TRY(s.DecryptAndHash(initiation.subspan(37, 48), machine));      // s
  KEEL_TRY(s.MixDh(control.Dh(machine)));                               // ss
  KEEL_TRY(s.DecryptAndHash(initiation.subspan(85, 16), {}));           // payload
  out.peer = crypto::MachinePublic(machine);

  crypto::X25519Private server_ephemeral(ephemeral);
  auto& r = out.response;
  r[0] = kResponseType;
  WriteU16(&r[1], kResponsePayload);
  std::copy(server_ephemeral.public_key().begin(), server_ephemeral.public_key().end(), &r[3]);
  s.MixHash(server_ephemeral.public_key());                             // e
  KEEL_TRY(s.MixDh(server_ephemeral.Dh(client_ephemeral)));             // ee
  KEEL_TRY(s.MixDh(server_ephemeral.Dh(machine)));                      // se
  s.EncryptAndHash({}, std::span(r).subspan(35, 16));                   // payload

  auto [c2s, s2c] = s.Split();
  out.keys = CipherKeys{.send = s2c, .recv = c2s};
  out.handshake_hash = s.h();
  return out;
}

ClientHandshake::ClientHandshake(const crypto::PrivateKey& machine_key,
                                 const crypto::MachinePublic& control_pub,
                                 uint16_t protocol_version, const crypto::PrivateKey& ephemeral)
    : machine_key_(machine_key), ephemeral_(ephemeral) {
  SymmetricState s = InitialState(protocol_version, control_pub.raw());
  crypto::X25519Private e(ephemeral);
  auto& m = initiation_;
  WriteU16(&m[0], protocol_version);
  m[2] = kInitiationType;
  WriteU16(&m[3], kInitiationPayload);
  std::copy(e.public_key().begin(), e.public_key().end(), &m[5]);
  s.MixHash(e.public_key());
  // A low-order control key is a configuration bug on our own side (tests, the test client).
  s.MixDh(e.Dh(control_pub.raw())).value();
  crypto::X25519Private machine(machine_key);
  s.EncryptAndHash(machine.public_key(), std::span(m).subspan(37, 48));
  s.MixDh(machine.Dh(control_pub.raw())).value();
  s.EncryptAndHash({}, std::span(m).subspan(85, 16));
  h_ = s.h();
  ck_ = s.ck();
}

Result<CipherKeys> ClientHandshake::ReadResponse(std::span<const uint8_t> response) {
  if (response.size() >= kResponseHeaderSize && response[0] == kErrorType) {
    size_t len = std::min<size_t>(ReadU16(response.subspan(1)), response.size() - 3);
    return MakeError(Errc::kPermissionDenied,
                     "server error: \"" + std::string(AsChars(response.subspan(3, len))) + "\"");
  }
  if (response.size() != kResponseSize) {
    return MakeError(Errc::kInvalidArgument, "wrong handshake response size");
  }
  if (response[0] != kResponseType) {
    return MakeError(Errc::kInvalidArgument, "unexpected handshake response type");
  }
  if (ReadU16(response.subspan(1)) != kResponsePayload) {
    return MakeError(Errc::kInvalidArgument, "wrong handshake response length");
  }
  SymmetricState s(h_, ck_);
  auto server_ephemeral = ToKey(response.subspan(3, 32));
  crypto::X25519Private e(ephemeral_), machine(machine_key_);
  s.MixHash(server_ephemeral);
  KEEL_TRY(s.MixDh(e.Dh(server_ephemeral)));
  KEEL_TRY(s.MixDh(machine.Dh(server_ephemeral)));
  KEEL_TRY(s.DecryptAndHash(response.subspan(35, 16), {}));
  auto [c2s, s2c] = s.Split();
  h_ = s.h();
  return CipherKeys{.send = c2s, .recv = s2c};
}

Bytes ErrorFrame(std::string_view text) {
  // The length field is 16 bits; longer text is cut rather than overflowing it.
  text = text.substr(0, 0xffff);
  Bytes out(3 + text.size());
  out[0] = kErrorType;
  WriteU16(&out[1], static_cast<uint16_t>(text.size()));
  std::copy(text.begin(), text.end(), out.begin() + 3);
  return out;
}

}  // namespace keel::noise
