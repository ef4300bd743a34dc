#pragma once
// Relay internals shared by relay.cc (registry and routing), relay_conn.cc (per-connection
// coroutines) and relay_http.cc. Threading: the relay's executor only.

#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <random>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "crypto/naclbox.h"
#include "derp/frame.h"
#include "derp/relay.h"

namespace keel::derp {

struct Conn {
  Conn(boost::asio::any_io_executor ex, std::unique_ptr<ByteStream> s, std::string r)
      : stream(std::move(s)), remote(std::move(r)), wake(ex), deadline(ex) {}

  std::unique_ptr<ByteStream> stream;
  std::string remote;
  crypto::NodePublic key;
  uint64_t id = 0;
  bool is_mesh = false;
  bool registered = false;
  bool closed = false;
  // Whole frames, oldest first, appended in place; the writer swaps it out as one batch.
  Bytes pending;
  size_t packets_queued = 0;  // data packets in `pending`
  boost::asio::steady_timer wake;      // writer's idle wait; expiry means "send a keep-alive"
  boost::asio::steady_timer deadline;  // handshake / write watchdog: closes the stream
  // Token bucket for PeerGone(NotHere) replies to disco packets: burst 3, then 1/s.
  double not_here_tokens = 3;
  std::chrono::steady_clock::time_point not_here_refill{};
};

struct MeshLink;  // mesh_client.cc

struct Relay::Impl : std::enable_shared_from_this<Relay::Impl> {
  struct Client {
    std::vector<std::shared_ptr<Conn>> conns;  // the newest one receives
    std::unordered_set<crypto::NodePublic, crypto::KeyHash> sent_to;
  };

  Impl(boost::asio::any_io_executor ex, RelaySettings s, std::shared_ptr<spdlog::logger> l);

  // relay.cc
  void Register(const std::shared_ptr<Conn>& c);
  void Unregister(const std::shared_ptr<Conn>& c);
  void RoutePacket(Conn* from, const crypto::NodePublic& src, const crypto::NodePublic& dst,
                   std::span<const uint8_t> packet);
  void AddWatcher(const std::shared_ptr<Conn>& c);
  void ClosePeer(const crypto::NodePublic& key);
  // Applies the queue limit and wakes the writer; on true the caller appends one frame to
  // c.pending.
  bool Admit(Conn& c, bool is_packet);
  bool Enqueue(Conn& c, std::span<const uint8_t> frame, bool is_packet);
  void CloseConn(Conn& c);
  Bytes PeerPresentFrame(const Conn& c) const;

  // relay_conn.cc
  static boost::asio::awaitable<void> ServeConn(std::shared_ptr<Impl> self,
                                                std::shared_ptr<Conn> c);
  static boost::asio::awaitable<void> WriteLoop(std::shared_ptr<Impl> self,
                                                std::shared_ptr<Conn> c);
  boost::asio::awaitable<Result<void>> Handshake(std::shared_ptr<Conn> c);
  Result<void> HandleFrame(const std::shared_ptr<Conn>& c, uint8_t type,
                           std::span<const uint8_t> payload);
  void ArmDeadline(const std::shared_ptr<Conn>& c, std::chrono::milliseconds d);

  // mesh_client.cc
  Result<void> AddMeshPeer(const std::string& url);
  // Queues ForwardPacket to the peer that has `dst`; false when no mesh peer has it.
  bool ForwardViaMesh(const crypto::NodePublic& src, const crypto::NodePublic& dst,
                      std::span<const uint8_t> packet);
  void StopMesh();

  boost::asio::any_io_executor executor;
  RelaySettings settings;
  std::shared_ptr<spdlog::logger> logger;
  crypto::Key32 public_key{};
  std::unordered_map<crypto::NodePublic, Client, crypto::KeyHash> clients;
  std::vector<std::shared_ptr<Conn>> watchers;
  std::unordered_set<std::shared_ptr<Conn>> all_conns;  // for Stop, including unregistered
  std::map<std::pair<crypto::NodePublic, crypto::NodePublic>, uint64_t> pair_counts;
  std::vector<std::shared_ptr<MeshLink>> mesh_links;
  // Client key -> the mesh links that report it present, first registrant first.
  std::unordered_map<crypto::NodePublic, std::vector<MeshLink*>, crypto::KeyHash> forwarders;
  std::string health;
  RelayStats stats;
  uint64_t next_id = 1;
  bool stopped = false;
  std::mt19937_64 rng{std::random_device{}()};
};

}  // namespace keel::derp
