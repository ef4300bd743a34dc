#include "derp/frame.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <nlohmann/json.hpp>

#include "crypto/naclbox.h"

namespace keel::derp {

namespace {

void PutU32(Bytes& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v >> 24));
  out.push_back(static_cast<uint8_t>(v >> 16));
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

// No reserve here: an exact reserve on a growing output buffer would defeat its geometric
// growth and reallocate on every append.
void AppendHeader(Bytes& out, FrameType type, size_t length) {
  out.push_back(static_cast<uint8_t>(type));
  PutU32(out, static_cast<uint32_t>(length));
}

Bytes StartFrame(FrameType type, size_t length) {
  Bytes out;
  out.reserve(kFrameHeaderSize + length);
  AppendHeader(out, type, length);
  return out;
}

void Append(Bytes& out, std::span<const uint8_t> data) {
  out.insert(out.end(), data.begin(), data.end());
}

crypto::Key32 KeyAt(std::span<const uint8_t> data, size_t offset) {
  crypto::Key32 k;
  std::memcpy(k.data(), data.data() + offset, kKeySize);
  return k;
}

Error BadFrame(std::string_view what, size_t size) {
  return MakeError(Errc::kInvalidArgument,
                   std::string(what) + " frame of bad size " + std::to_string(size));
}

bool EqualsLower(std::string_view a, std::string_view lower) {
  return a.size() == lower.size() &&
         std::equal(a.begin(), a.end(), lower.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == y;
         });
}

}  // namespace

FrameHeader DecodeHeader(std::span<const uint8_t> d) {
  return FrameHeader{d[0], (uint32_t{d[1]} << 24) | (uint32_t{d[2]} << 16) |
                               (uint32_t{d[3]} << 8) | uint32_t{d[4]}};
}

Bytes EncodeFrame(FrameType type, std::span<const uint8_t> payload) {
  Bytes out = StartFrame(type, payload.size());
  Append(out, payload);
  return out;
}

Bytes EncodeServerKey(const crypto::Key32& server_public) {
  Bytes out = StartFrame(FrameType::kServerKey, kMagic.size() + kKeySize);
  Append(out, AsBytes(kMagic));
  Append(out, server_public);
  return out;
}

Bytes EncodeServerInfo(std::span<const uint8_t> sealed) {
  return EncodeFrame(FrameType::kServerInfo, sealed);
}

Bytes EncodeRecvPacket(const crypto::Key32& src, std::span<const uint8_t> packet) {
  Bytes out;
  out.reserve(kFrameHeaderSize + kKeySize + packet.size());
  AppendRecvPacket(out, src, packet);
  return out;
}

void AppendRecvPacket(Bytes& out, const crypto::Key32& src, std::span<const uint8_t> packet) {
  AppendHeader(out, FrameType::kRecvPacket, kKeySize + packet.size());
  Append(out, src);
  Append(out, packet);
}

void AppendForwardPacket(Bytes& out, const crypto::Key32& src, const crypto::Key32& dst,
                         std::span<const uint8_t> packet) {
  AppendHeader(out, FrameType::kForwardPacket, 2 * kKeySize + packet.size());
  Append(out, src);
  Append(out, dst);
  Append(out, packet);
}

Bytes EncodeKeepAlive() { return StartFrame(FrameType::kKeepAlive, 0); }

Bytes EncodePeerGone(const crypto::Key32& peer, PeerGoneReason reason) {
  Bytes out = StartFrame(FrameType::kPeerGone, kKeySize + 1);
  Append(out, peer);
  out.push_back(static_cast<uint8_t>(reason));
  return out;
}

Bytes EncodePeerPresent(const crypto::Key32& peer, std::span<const uint8_t, 16> ip16,
                        uint16_t port, uint8_t flags) {
  Bytes out = StartFrame(FrameType::kPeerPresent, kKeySize + 16 + 2 + 1);
  Append(out, peer);
  Append(out, ip16);
  out.push_back(static_cast<uint8_t>(port >> 8));
  out.push_back(static_cast<uint8_t>(port));
  out.push_back(flags);
  return out;
}

Bytes EncodePong(std::span<const uint8_t, 8> data) {
  return EncodeFrame(FrameType::kPong, data);
}

Bytes EncodeHealth(std::string_view problem) {
  return EncodeFrame(FrameType::kHealth, AsBytes(problem));
}

Bytes EncodeRestarting(uint32_t reconnect_in_ms, uint32_t try_for_ms) {
  Bytes out = StartFrame(FrameType::kRestarting, 8);
  PutU32(out, reconnect_in_ms);
  PutU32(out, try_for_ms);
  return out;
}

Result<ClientInfoFrame> ParseClientInfo(std::span<const uint8_t> p) {
  // key ‖ nonce(24) ‖ at least the box tag.
  if (p.size() < kKeySize + 24 + 16 || p.size() > kMaxClientInfoSize) {
    return BadFrame("ClientInfo", p.size());
  }
  return ClientInfoFrame{KeyAt(p, 0), p.subspan(kKeySize)};
}

Result<SendPacketFrame> ParseSendPacket(std::span<const uint8_t> p) {
  if (p.size() < kKeySize || p.size() - kKeySize > kMaxPacketSize) {
    return BadFrame("SendPacket", p.size());
  }
  return SendPacketFrame{KeyAt(p, 0), p.subspan(kKeySize)};
}

Result<ForwardPacketFrame> ParseForwardPacket(std::span<const uint8_t> p) {
  if (p.size() < 2 * kKeySize || p.size() - 2 * kKeySize > kMaxPacketSize) {
    return BadFrame("ForwardPacket", p.size());
  }
  return ForwardPacketFrame{KeyAt(p, 0), KeyAt(p, kKeySize), p.subspan(2 * kKeySize)};
}

Result<bool> ParseNotePreferred(std::span<const uint8_t> p) {
  if (p.size() != 1) return BadFrame("NotePreferred", p.size());
  return p[0] != 0;
}

Result<crypto::Key32> ParseClosePeer(std::span<const uint8_t> p) {
  if (p.size() != kKeySize) return BadFrame("ClosePeer", p.size());
  return KeyAt(p, 0);
}

Result<void> ParseWatchConns(std::span<const uint8_t> p) {
  if (!p.empty()) return BadFrame("WatchConns", p.size());
  return Result<void>();
}

Result<std::array<uint8_t, 8>> ParsePing(std::span<const uint8_t> p) {
  if (p.size() < 8 || p.size() > 1000) return BadFrame("Ping", p.size());
  std::array<uint8_t, 8> data;
  std::memcpy(data.data(), p.data(), 8);
  return data;
}

bool IsDiscoPacket(std::span<const uint8_t> packet) {
  // magic(6) ‖ sender disco key(32) ‖ nonce(24): the smallest possible disco message.
  constexpr size_t kMinDisco = 6 + 32 + 24;
  return packet.size() >= kMinDisco &&
         std::memcmp(packet.data(), kDiscoMagic.data(), kDiscoMagic.size()) == 0;
}

Result<ClientInfoJson> ParseClientInfoJson(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return MakeError(Errc::kInvalidArgument, "ClientInfo is not a JSON object");
  ClientInfoJson info;
  for (const auto& [name, value] : j.items()) {
    if (EqualsLower(name, "version") && value.is_number_integer()) {
      info.version = value.get<int>();
    } else if (EqualsLower(name, "canackpings") && value.is_boolean()) {
      info.can_ack_pings = value.get<bool>();
    } else if (EqualsLower(name, "meshkey") && value.is_string()) {
      info.mesh_key = value.get<std::string>();
    } else if (EqualsLower(name, "isprober") && value.is_boolean()) {
      info.is_prober = value.get<bool>();
    }
  }
  return info;
}

Result<OpenedClientInfo> OpenClientInfo(std::span<const uint8_t> payload,
                                        const crypto::PrivateKey& server_key) {
  auto frame = ParseClientInfo(payload);
  if (!frame) return frame.error();
  auto opened = crypto::BoxOpen(frame->sealed, server_key, frame->client_public);
  if (!opened) return MakeError(Errc::kInvalidArgument, "ClientInfo box does not open");
  auto json = ParseClientInfoJson(AsChars(*opened));
  if (!json) return json.error();
  return OpenedClientInfo{frame->client_public, std::move(*json)};
}

}  // namespace keel::derp
