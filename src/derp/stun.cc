#include "derp/stun.h"

#include <boost/crc.hpp>
#include <cstring>
#include <string_view>

namespace keel::derp {

namespace {

constexpr uint32_t kMagicCookie = 0x2112A442;
constexpr uint16_t kBindingRequest = 0x0001;
constexpr uint16_t kBindingSuccess = 0x0101;
constexpr uint16_t kAttrXorMappedAddress = 0x0020;
constexpr uint16_t kAttrSoftware = 0x8022;
constexpr uint16_t kAttrFingerprint = 0x8028;
constexpr uint32_t kFingerprintXor = 0x5354554E;
constexpr size_t kHeaderSize = 20;
constexpr std::string_view kSoftware = "tailnode";

uint16_t U16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint32_t U32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
void PutU16(Bytes& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
void PutU32(Bytes& out, uint32_t v) {
  PutU16(out, static_cast<uint16_t>(v >> 16));
  PutU16(out, static_cast<uint16_t>(v));
}

uint32_t Fingerprint(std::span<const uint8_t> covered) {
  boost::crc_32_type crc;
  crc.process_bytes(covered.data(), covered.size());
  return crc.checksum() ^ kFingerprintXor;
}

void PutHeader(Bytes& out, uint16_t type, uint16_t length, const StunTxId& tx) {
  PutU16(out, type);
  PutU16(out, length);
  PutU32(out, kMagicCookie);
  out.insert(out.end(), tx.begin(), tx.end());
}

}  // namespace

std::optional<StunTxId> ParseStunBindingRequest(std::span<const uint8_t> p) {
  if (p.size() < kHeaderSize || (p[0] & 0xC0) != 0) return std::nullopt;
  if (U16(&p[0]) != kBindingRequest || U32(&p[4]) != kMagicCookie) return std::nullopt;
  if (U16(&p[2]) != p.size() - kHeaderSize) return std::nullopt;
  bool software_ok = false;
  bool fingerprint_last_ok = false;
  size_t off = kHeaderSize;
  while (off < p.size()) {
    if (fingerprint_last_ok) return std::nullopt;  // FINGERPRINT must be the last attribute
    if (p.size() - off < 4) return std::nullopt;
    uint16_t type = U16(&p[off]);
    size_t len = U16(&p[off + 2]);
    size_t padded = (len + 3) & ~size_t{3};
    if (p.size() - off - 4 < padded) return std::nullopt;
    const uint8_t* value = &p[off + 4];
    if (type == kAttrSoftware) {
      software_ok = std::string_view(reinterpret_cast<const char*>(value), len) == kSoftware;
    } else if (type == kAttrFingerprint) {
      if (len != 4 || U32(value) != Fingerprint(p.first(off))) return std::nullopt;
      fingerprint_last_ok = true;
    }
    off += 4 + padded;
  }
  if (!software_ok || !fingerprint_last_ok) return std::nullopt;
  StunTxId tx;
  std::memcpy(tx.data(), &p[8], tx.size());
  return tx;
}

Bytes BuildStunBindingResponse(const StunTxId& tx, const boost::asio::ip::udp::endpoint& observed) {
  auto addr = observed.address();
  if (addr.is_v6() && addr.to_v6().is_v4_mapped()) {
    addr = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, addr.to_v6());
  }
  uint16_t xport = observed.port() ^ static_cast<uint16_t>(kMagicCookie >> 16);
  Bytes out;
  if (addr.is_v4()) {
    PutHeader(out, kBindingSuccess, 12, tx);
    PutU16(out, kAttrXorMappedAddress);
    PutU16(out, 8);
    out.push_back(0);
    out.push_back(0x01);
    PutU16(out, xport);
    PutU32(out, addr.to_v4().to_uint() ^ kMagicCookie);
    return out;
  }
  PutHeader(out, kBindingSuccess, 24, tx);
  PutU16(out, kAttrXorMappedAddress);
  PutU16(out, 20);
  out.push_back(0);
  out.push_back(0x02);
  PutU16(out, xport);
  auto ip = addr.to_v6().to_bytes();
  // The IPv6 address is XORed with cookie ‖ transaction ID, which is bytes 4..19 of the header.
  for (size_t i = 0; i < 16; ++i) ip[i] ^= out[4 + i];
  out.insert(out.end(), ip.begin(), ip.end());
  return out;
}

Bytes BuildStunBindingRequest(const StunTxId& tx) {
  Bytes out;
  PutHeader(out, kBindingRequest, 20, tx);
  PutU16(out, kAttrSoftware);
  PutU16(out, static_cast<uint16_t>(kSoftware.size()));
  out.insert(out.end(), kSoftware.begin(), kSoftware.end());
  uint32_t fingerprint = Fingerprint(out);  // covers everything before the attribute
  PutU16(out, kAttrFingerprint);
  PutU16(out, 4);
  PutU32(out, fingerprint);
  return out;
}

}  // namespace keel::derp
