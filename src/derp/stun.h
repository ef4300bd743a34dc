#pragma once
// Minimal STUN (RFC 5389) codec for what Tailscale clients send (derp.md §4): recognises their
// binding request and builds the XOR-MAPPED-ADDRESS success response. Pure; thread-safe.

#include <array>
#include <boost/asio/ip/udp.hpp>
#include <cstdint>
#include <optional>
#include <span>

#include "base/bytes.h"

namespace keel::derp {

using StunTxId = std::array<uint8_t, 12>;

// The transaction ID of a well-formed Tailscale binding request (SOFTWARE "tailnode", last
// attribute a valid FINGERPRINT); nullopt for anything else.
std::optional<StunTxId> ParseStunBindingRequest(std::span<const uint8_t> packet);

// A binding success response carrying `observed` (IPv4-mapped IPv6 addresses are reported as
// IPv4) as XOR-MAPPED-ADDRESS.
Bytes BuildStunBindingResponse(const StunTxId& tx, const boost::asio::ip::udp::endpoint& observed);

// A request like the one tailscaled sends; for tests and probes.
Bytes BuildStunBindingRequest(const StunTxId& tx);

}  // namespace keel::derp
