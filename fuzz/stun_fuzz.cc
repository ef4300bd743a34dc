// STUN binding requests as a UDP socket hands them to the STUN server: any datagram. Besides
// not crashing, the codec must agree with itself: a request it builds parses back to the same
// transaction ID, and a response can be built for whatever it accepts.

#include <boost/asio/ip/address_v6.hpp>
#include <cstdlib>
#include <cstring>

#include "derp/stun.h"
#include "harness.h"

namespace {

using keel::fuzz::Check;

namespace asio = boost::asio;
using keel::derp::StunTxId;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> packet(data, size);
  auto tx = keel::derp::ParseStunBindingRequest(packet);
  if (tx) {
    // Only requests carry a transaction ID we echo: build the answer to a fuzz-chosen source.
    asio::ip::address_v6::bytes_type ip{};
    std::memcpy(ip.data(), data, std::min(size, ip.size()));
    asio::ip::udp::endpoint from(asio::ip::address_v6(ip), static_cast<uint16_t>(size));
    Check(keel::derp::BuildStunBindingResponse(*tx, from).size() >= 20);
  }
  // Round trip: the first 12 bytes as a transaction ID.
  StunTxId id{};
  std::memcpy(id.data(), data, std::min(size, id.size()));
  auto request = keel::derp::BuildStunBindingRequest(id);
  auto parsed = keel::derp::ParseStunBindingRequest(request);
  Check(parsed && *parsed == id);
  return 0;
}
