#pragma once
// Relay internals shared by relay.cc (registry and routing), relay_conn.cc (per-connection
// coroutines), relay_http.cc and mesh_client.cc.
//
// Threading. Each connection lives on the executor of its stream, which one thread runs (an
// IoThreads loop, or keel's I/O thread for the plain-HTTP route); its reader, writer and
// timers run there. What connections share — the registry, the routing tables, every
// connection's outgoing queue, the counters — is guarded by Impl::mu. A packet is routed by
// its reader under mu: look up the destination, append the frame to its queue and, if its
// writer sleeps, wake it on its own thread. Mesh links and the public control methods run on
// Impl::executor.

#include <atomic>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "crypto/naclbox.h"
#include "derp/frame.h"
#include "derp/relay.h"

namespace keel::derp {

struct Conn {
  Conn(std::unique_ptr<ByteStream> s, std::string r)
      : executor(s->executor()), stream(std::move(s)), remote(std::move(r)), wake(executor),
        deadline(executor) {}

  // Constant after construction; `key`, `id` and `is_mesh` are set before Register.
  boost::asio::any_io_executor executor;
  std::unique_ptr<ByteStream> stream;
  std::string remote;
  crypto::NodePublic key;
  uint64_t id = 0;
  bool is_mesh = false;
  // Only on the connection's own thread.
  boost::asio::steady_timer wake;      // writer's idle wait; expiry means "send a keep-alive"
  boost::asio::steady_timer deadline;  // handshake / write watchdog: closes the stream
  // Guarded by Impl::mu.
  bool registered = false;
  bool closed = false;
  bool writer_idle = false;  // the writer waits on `wake`; whoever queues must wake it
  // Whole frames, oldest first, appended in place; the writer swaps it out as one batch.
  Bytes pending;
  size_t packets_queued = 0;  // data packets in `pending`
  // Token bucket for PeerGone(NotHere) replies to disco packets: burst 3, then 1/s.
  double not_here_tokens = 3;
  std::chrono::steady_clock::time_point not_here_refill{};
};

struct MeshLink;  // mesh_client.cc

struct Relay::Impl : std::enable_shared_from_this<Relay::Impl> {
  Impl(boost::asio::any_io_executor ex, RelaySettings s, std::shared_ptr<spdlog::logger> l);

  // relay.cc. "Locked" methods REQUIRE mu held; the others take it.
  void Register(const std::shared_ptr<Conn>& c);
  void Unregister(const std::shared_ptr<Conn>& c);
  // `from` is null for packets a mesh peer forwarded.
  void RoutePacket(const std::shared_ptr<Conn>& from, const crypto::NodePublic& src, const crypto::NodePublic& dst,
                   std::span<const uint8_t> packet);
  void AddWatcher(const std::shared_ptr<Conn>& c);
  void ClosePeer(const crypto::NodePublic& key);
  void Enqueue(const std::shared_ptr<Conn>& c, std::span<const uint8_t> frame);
  // Applies the queue limit and wakes the writer; on true the caller appends one frame to
  // c->pending.
  bool AdmitLocked(const std::shared_ptr<Conn>& c, bool is_packet);
  bool EnqueueLocked(const std::shared_ptr<Conn>& c, std::span<const uint8_t> frame,
                     bool is_packet);
  // Marks the connection closed and closes its stream on its own thread.
  void CloseConn(const std::shared_ptr<Conn>& c);
  void CloseConnLocked(const std::shared_ptr<Conn>& c);
  // `key` left this region (its last local connection, or its last mesh peer, is gone): tell
  // the clients it sent to, so they drop their routes to it.
  void NotePeerGoneLocked(const crypto::NodePublic& key);
  Bytes PeerPresentFrame(const Conn& c) const;
  void Count(uint64_t RelayStats::*counter, int64_t delta = 1);

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
  bool ForwardViaMeshLocked(const crypto::NodePublic& src, const crypto::NodePublic& dst,
                            std::span<const uint8_t> packet);
  void StopMesh();

  // Constant after construction.
  boost::asio::any_io_executor executor;
  RelaySettings settings;
  std::shared_ptr<spdlog::logger> logger;
  crypto::Key32 public_key{};
  std::atomic<bool> stopped{false};

  mutable std::mutex mu;
  // State below is guarded by mu.
  struct Client {
    std::vector<std::shared_ptr<Conn>> conns;  // the newest one receives
  };
  std::unordered_map<crypto::NodePublic, Client, crypto::KeyHash> clients;
  std::vector<std::shared_ptr<Conn>> watchers;
  std::unordered_set<std::shared_ptr<Conn>> all_conns;  // for Stop, including unregistered
  // Source (local, or remote behind a mesh peer) -> local destinations it sent packets to,
  // with counts: who gets PeerGone when the source leaves.
  std::unordered_map<crypto::NodePublic,
                     std::unordered_map<crypto::NodePublic, uint64_t, crypto::KeyHash>,
                     crypto::KeyHash>
      sent_to;
  std::vector<std::shared_ptr<MeshLink>> mesh_links;
  // Client key -> the mesh links that report it present, first registrant first.
  std::unordered_map<crypto::NodePublic, std::vector<MeshLink*>, crypto::KeyHash> forwarders;
  std::string health;
  RelayStats stats;
  uint64_t next_id = 1;
};

}  // namespace keel::derp
