#pragma once
// DERP frame codec (derp.md §2): frame types, size limits, encoders for what the server sends
// and validated decoders for what clients send. Pure functions; no I/O, no shared state, so
// safe from any thread.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/result.h"
#include "crypto/keys.h"

namespace keel::derp {

inline constexpr int kProtocolVersion = 2;
inline constexpr size_t kFrameHeaderSize = 5;
inline constexpr size_t kKeySize = 32;
inline constexpr size_t kMaxPacketSize = 64 * 1024;
inline constexpr size_t kMaxClientInfoSize = 256 * 1024;
// Nothing a client legitimately sends is larger than ClientInfo; unknown frame types up to this
// size are skipped, bigger ones end the connection.
inline constexpr size_t kMaxFrameSize = kMaxClientInfoSize;
inline constexpr std::string_view kMagic = "DERP\xF0\x9F\x94\x91";
// "TS" followed by the speech-balloon emoji: the prefix of every disco message.
inline constexpr std::string_view kDiscoMagic = "TS\xF0\x9F\x92\xAC";

enum class FrameType : uint8_t {
  kServerKey = 0x01,
  kClientInfo = 0x02,
  kServerInfo = 0x03,
  kSendPacket = 0x04,
  kRecvPacket = 0x05,
  kKeepAlive = 0x06,
  kNotePreferred = 0x07,
  kPeerGone = 0x08,
  kPeerPresent = 0x09,
  kForwardPacket = 0x0A,
  kWatchConns = 0x10,
  kClosePeer = 0x11,
  kPing = 0x12,
  kPong = 0x13,
  kHealth = 0x14,
  kRestarting = 0x15,
};

enum class PeerGoneReason : uint8_t { kDisconnected = 0x00, kNotHere = 0x01 };

struct FrameHeader {
  uint8_t type = 0;
  uint32_t length = 0;
};

// Decodes the 5-byte header at the start of `data` (which must hold at least 5 bytes).
FrameHeader DecodeHeader(std::span<const uint8_t> data);
// A whole frame: header then payload.
Bytes EncodeFrame(FrameType type, std::span<const uint8_t> payload);

// --- Server to client -------------------------------------------------------------------

Bytes EncodeServerKey(const crypto::Key32& server_public);
// `sealed` is nonce ‖ box of the ServerInfo JSON.
Bytes EncodeServerInfo(std::span<const uint8_t> sealed);
Bytes EncodeRecvPacket(const crypto::Key32& src, std::span<const uint8_t> packet);
// Append forms for the per-packet path: the frame goes straight onto a connection's pending
// output, so a relayed packet is copied once and needs no allocation of its own.
void AppendRecvPacket(Bytes& out, const crypto::Key32& src, std::span<const uint8_t> packet);
void AppendForwardPacket(Bytes& out, const crypto::Key32& src, const crypto::Key32& dst,
                         std::span<const uint8_t> packet);
Bytes EncodeKeepAlive();
Bytes EncodePeerGone(const crypto::Key32& peer, PeerGoneReason reason);
// `ip16` is the 16-byte form (IPv4 as ::ffff:a.b.c.d); `flags` per derp.md §2.4.
Bytes EncodePeerPresent(const crypto::Key32& peer, std::span<const uint8_t, 16> ip16,
                        uint16_t port, uint8_t flags);
Bytes EncodePong(std::span<const uint8_t, 8> data);
Bytes EncodeHealth(std::string_view problem);
Bytes EncodeRestarting(uint32_t reconnect_in_ms, uint32_t try_for_ms);

// --- Client to server (validated) --------------------------------------------------------

struct ClientInfoFrame {
  crypto::Key32 client_public{};
  std::span<const uint8_t> sealed;  // nonce ‖ box, points into the payload
};
struct SendPacketFrame {
  crypto::Key32 dst{};
  std::span<const uint8_t> packet;
};
struct ForwardPacketFrame {
  crypto::Key32 src{};
  crypto::Key32 dst{};
  std::span<const uint8_t> packet;
};

// Each fails with kInvalidArgument when the payload size breaks derp.md §2.4; such a frame
// must end the connection.
Result<ClientInfoFrame> ParseClientInfo(std::span<const uint8_t> payload);
Result<SendPacketFrame> ParseSendPacket(std::span<const uint8_t> payload);
Result<ForwardPacketFrame> ParseForwardPacket(std::span<const uint8_t> payload);
Result<bool> ParseNotePreferred(std::span<const uint8_t> payload);
Result<crypto::Key32> ParseClosePeer(std::span<const uint8_t> payload);
Result<void> ParseWatchConns(std::span<const uint8_t> payload);
// Returns the 8 bytes to echo.
Result<std::array<uint8_t, 8>> ParsePing(std::span<const uint8_t> payload);

// True for a disco message (magic prefix and at least the minimal disco length).
bool IsDiscoPacket(std::span<const uint8_t> packet);

// The ClientInfo JSON fields the server cares about; unknown keys are ignored and names are
// matched case-insensitively, as Go's decoder does.
struct ClientInfoJson {
  int version = 0;
  bool can_ack_pings = false;
  std::string mesh_key;
  bool is_prober = false;
};
Result<ClientInfoJson> ParseClientInfoJson(std::string_view json);

// A ClientInfo frame's payload checked, opened with the relay's key and parsed: what the relay
// needs before it admits a client. Fails with kInvalidArgument (bad size, a box that does not
// open, bad JSON); the connection must then end.
struct OpenedClientInfo {
  crypto::Key32 client_public{};
  ClientInfoJson json;
};
Result<OpenedClientInfo> OpenClientInfo(std::span<const uint8_t> payload,
                                        const crypto::PrivateKey& server_key);

}  // namespace keel::derp
