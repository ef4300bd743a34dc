#pragma once
// The DERP relay (derp.md §2-§3): admits clients by node key, forwards packets between them,
// and serves the HTTP endpoints around /derp. Transport-agnostic: it speaks DERP over any
// ByteStream handed to Serve, so the plain HTTP router, the WebSocket upgrade and the TLS
// listener (tls_server.h) all feed the same relay.
// Threading: construct and call the public methods on the executor passed in, where mesh links
// also run. Serve may be called on any other loop (each run by one thread at a time, e.g. an
// IoThreads loop): a connection lives on its stream's executor, and packets cross between
// loops through the relay's lock (relay_internal.h).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <spdlog/logger.h>
#include <string>

#include "base/byte_stream.h"
#include "base/result.h"
#include "crypto/keys.h"
#include "http/server.h"

namespace keel::derp {

struct RelaySettings {
  crypto::PrivateKey server_key;  // long-term DERP key; distinct from the Noise machine key
  // Admission check for a client's node key; empty admits everyone. Mesh peers bypass it.
  // Called on the connection's loop, so it must be safe to call from any thread.
  std::function<bool(const crypto::NodePublic&)> verify_client;
  std::string mesh_key;  // 64 hex shared by a region's nodes; empty disables mesh frames
  size_t queue_limit = 32;  // queued data packets per connection before new ones are dropped
  std::chrono::milliseconds keepalive_interval{60000};
  std::chrono::milliseconds keepalive_jitter{5000};
  std::chrono::milliseconds handshake_timeout{10000};
  std::chrono::milliseconds write_timeout{2000};
};

struct RelayStats {
  uint64_t connections_accepted = 0;
  uint64_t handshake_failures = 0;   // timeout, bad box, transport error before registering
  uint64_t clients_rejected = 0;     // verify_client said no
  uint64_t bad_input_closes = 0;     // garbage, oversize, wrong first frame, bad frame sizes
  uint64_t unknown_frames = 0;       // skipped
  uint64_t packets_received = 0;     // SendPacket + ForwardPacket
  uint64_t packets_delivered = 0;    // queued as RecvPacket
  uint64_t packets_dropped_unknown_dest = 0;
  uint64_t packets_dropped_queue_full = 0;
  uint64_t peer_gone_sent = 0;
  uint64_t pings = 0;
  uint64_t keepalives_sent = 0;
  uint64_t write_failures = 0;
  uint64_t current_clients = 0;      // distinct keys with a live connection
  uint64_t current_connections = 0;
  uint64_t packets_forwarded = 0;    // sent to a mesh peer as ForwardPacket
  uint64_t mesh_links_up = 0;        // outbound mesh connections past the handshake
};

class Relay {
 public:
  Relay(boost::asio::any_io_executor executor, RelaySettings settings,
        std::shared_ptr<spdlog::logger> logger);
  ~Relay();  // closes every connection
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  const crypto::Key32& public_key() const;

  // Speaks DERP on an already upgraded stream, starting with the ServerKey frame; completes
  // when the connection ends. `remote` is "ip:port" (for logs and PeerPresent).
  boost::asio::awaitable<void> Serve(std::unique_ptr<ByteStream> stream, std::string remote);

  // /derp (upgrade: DERP, legacy raw WebSocket, or WebSocket subprotocol "derp"),
  // /derp/probe, /derp/latency-check and /generate_204 on a plain HTTP router.
  void RegisterRoutes(http::Router& router);

  // Dials another relay of this region, "https://host[:port][/path]" (path default /derp), as
  // a mesh client: ClientInfo with our server key and mesh_key, then WatchConns. Clients it
  // reports present become reachable here through ForwardPacket. The link is redialed every
  // 5 s until Stop; a URL that turns out to be this relay is dropped. The peer's certificate
  // is not verified: the mesh key is the trust anchor (a fake peer cannot learn it from us
  // except by impersonating the URL, and admits itself only to the clients' encrypted
  // packets), and self-signed relays of one region have unrelated certificates.
  // Fails if settings.mesh_key is empty or the URL is malformed.
  Result<void> AddMeshPeer(const std::string& url);
  // True when a watched mesh peer reports `key` connected there.
  bool IsReachableViaMesh(const crypto::NodePublic& key) const;

  // Sends a Health frame to every client now and to each new one; empty means healthy.
  void SetHealth(std::string problem);
  // Closes all connections and refuses new ones.
  void Stop();

  RelayStats stats() const;
  // RecvPackets delivered from `src` to `dst` since start (tracked for up to 10000 pairs).
  uint64_t PacketsBetween(const crypto::NodePublic& src, const crypto::NodePublic& dst) const;
  bool IsConnected(const crypto::NodePublic& key) const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// The 101 response headers of a raw DERP upgrade for a server with `server_public`.
http::Headers DerpUpgradeHeaders(const crypto::Key32& server_public);
// Answers /derp/probe, /derp/latency-check and /generate_204; nullopt for other paths.
std::optional<http::Response> ProbeResponse(const http::Request& request);
// What to do with a /derp request, from its headers.
enum class DerpUpgradeKind { kNone, kRaw, kWebSocket };
DerpUpgradeKind ClassifyDerpUpgrade(const http::Request& request);
bool WantsFastStart(const http::Request& request);

}  // namespace keel::derp
