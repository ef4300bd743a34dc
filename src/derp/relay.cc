#include "derp/relay.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "crypto/x25519.h"
#include "derp/relay_internal.h"

namespace keel::derp {

namespace asio = boost::asio;

namespace {

constexpr uint8_t kPresentRegular = 0x01;
constexpr uint8_t kPresentMesh = 0x02;

// "a.b.c.d:port" or "v6addr:port" (the forms the HTTP server and TLS listener produce).
asio::ip::tcp::endpoint ParseRemote(const std::string& remote) {
  auto colon = remote.rfind(':');
  if (colon == std::string::npos) return {};
  std::string host = remote.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(host, ec);
  if (ec) return {};
  int port = std::atoi(remote.c_str() + colon + 1);
  return {ip, static_cast<uint16_t>(port)};
}

}  // namespace

Relay::Impl::Impl(asio::any_io_executor ex, RelaySettings s, std::shared_ptr<spdlog::logger> l)
    : executor(std::move(ex)), settings(std::move(s)), logger(std::move(l)) {
  public_key = crypto::PublicFromPrivate(settings.server_key);
}

Bytes Relay::Impl::PeerPresentFrame(const Conn& c) const {
  auto ep = ParseRemote(c.remote);
  auto ip = ep.address();
  std::array<uint8_t, 16> ip16{};
  if (ip.is_v4()) {
    ip16 = asio::ip::make_address_v6(asio::ip::v4_mapped, ip.to_v4()).to_bytes();
  } else {
    ip16 = ip.to_v6().to_bytes();
  }
  return EncodePeerPresent(c.key.raw(), ip16, ep.port(),
                           c.is_mesh ? kPresentMesh : kPresentRegular);
}

void Relay::Impl::Count(uint64_t RelayStats::*counter, int64_t delta) {
  std::lock_guard lock(mu);
  stats.*counter += static_cast<uint64_t>(delta);
}

bool Relay::Impl::AdmitLocked(const std::shared_ptr<Conn>& c, bool is_packet) {
  if (c->closed) return false;
  if (is_packet) {
    if (c->packets_queued >= settings.queue_limit) {
      ++stats.packets_dropped_queue_full;
      return false;
    }
    ++c->packets_queued;
  }
  if (c->writer_idle) {
    c->writer_idle = false;
    // Inline when this thread runs the connection's loop, posted otherwise.
    asio::dispatch(c->executor, [c] { c->wake.cancel(); });
  }
  return true;
}

bool Relay::Impl::EnqueueLocked(const std::shared_ptr<Conn>& c, std::span<const uint8_t> frame,
                                bool is_packet) {
  if (!AdmitLocked(c, is_packet)) return false;
  c->pending.insert(c->pending.end(), frame.begin(), frame.end());
  return true;
}

void Relay::Impl::Enqueue(const std::shared_ptr<Conn>& c, std::span<const uint8_t> frame) {
  std::lock_guard lock(mu);
  EnqueueLocked(c, frame, false);
}

void Relay::Impl::CloseConnLocked(const std::shared_ptr<Conn>& c) {
  if (c->closed) return;
  c->closed = true;
  asio::dispatch(c->executor, [c] {
    c->stream->Close();
    c->wake.cancel();
    c->deadline.cancel();
  });
}

void Relay::Impl::CloseConn(const std::shared_ptr<Conn>& c) {
  std::lock_guard lock(mu);
  CloseConnLocked(c);
}

void Relay::Impl::Register(const std::shared_ptr<Conn>& c) {
  std::lock_guard lock(mu);
  auto& client = clients[c->key];
  if (client.conns.empty()) ++stats.current_clients;
  client.conns.push_back(c);
  c->registered = true;
  ++stats.current_connections;
  Bytes present = PeerPresentFrame(*c);
  for (auto& w : watchers) EnqueueLocked(w, present, false);
}

void Relay::Impl::NotePeerGoneLocked(const crypto::NodePublic& key) {
  auto it = sent_to.find(key);
  if (it == sent_to.end()) return;
  Bytes gone = EncodePeerGone(key.raw(), PeerGoneReason::kDisconnected);
  for (const auto& [dst, count] : it->second) {
    auto d = clients.find(dst);
    if (d == clients.end() || d->second.conns.empty()) continue;
    if (EnqueueLocked(d->second.conns.back(), gone, false)) ++stats.peer_gone_sent;
  }
  sent_to.erase(it);
}

void Relay::Impl::Unregister(const std::shared_ptr<Conn>& c) {
  std::lock_guard lock(mu);
  std::erase(watchers, c);
  all_conns.erase(c);
  if (!c->registered) return;
  c->registered = false;
  --stats.current_connections;
  auto it = clients.find(c->key);
  if (it == clients.end()) return;
  std::erase(it->second.conns, c);
  if (!it->second.conns.empty()) return;
  clients.erase(it);
  --stats.current_clients;
  // Last connection of this key: tell everyone who heard from it (unless it is still
  // reachable through a mesh peer), and the watchers.
  if (!forwarders.contains(c->key)) NotePeerGoneLocked(c->key);
  Bytes gone = EncodePeerGone(c->key.raw(), PeerGoneReason::kDisconnected);
  for (auto& w : watchers) EnqueueLocked(w, gone, false);
}

void Relay::Impl::RoutePacket(const std::shared_ptr<Conn>& from, const crypto::NodePublic& src,
                              const crypto::NodePublic& dst, std::span<const uint8_t> packet) {
  std::lock_guard lock(mu);
  ++stats.packets_received;
  auto it = clients.find(dst);
  if (it == clients.end()) {
    // Local clients win over mesh peers; forwarded packets are never forwarded again.
    if (from != nullptr && ForwardViaMeshLocked(src, dst, packet)) return;
    ++stats.packets_dropped_unknown_dest;
    if (from == nullptr || !IsDiscoPacket(packet)) return;
    // Tell the sender the peer is not here, so it stops waiting on this region for it.
    auto now = std::chrono::steady_clock::now();
    double elapsed = std::chrono::duration<double>(now - from->not_here_refill).count();
    from->not_here_tokens = std::min(3.0, from->not_here_tokens + elapsed);
    from->not_here_refill = now;
    if (from->not_here_tokens < 1) return;
    from->not_here_tokens -= 1;
    if (EnqueueLocked(from, EncodePeerGone(dst.raw(), PeerGoneReason::kNotHere), false)) {
      ++stats.peer_gone_sent;
    }
    return;
  }
  const auto& to = it->second.conns.back();
  if (!AdmitLocked(to, true)) return;
  AppendRecvPacket(to->pending, src.raw(), packet);
  ++stats.packets_delivered;
  // Remember who heard from `src` (local, or remote behind a mesh peer we know of).
  if (auto s = sent_to.find(src); s != sent_to.end()) {
    ++s->second[dst];
  } else if (from != nullptr || forwarders.contains(src)) {
    sent_to[src][dst] = 1;
  }
}

void Relay::Impl::AddWatcher(const std::shared_ptr<Conn>& c) {
  std::lock_guard lock(mu);
  if (std::find(watchers.begin(), watchers.end(), c) != watchers.end()) return;
  watchers.push_back(c);
  for (const auto& [key, client] : clients) {
    if (!client.conns.empty()) EnqueueLocked(c, PeerPresentFrame(*client.conns.back()), false);
  }
}

void Relay::Impl::ClosePeer(const crypto::NodePublic& key) {
  std::lock_guard lock(mu);
  auto it = clients.find(key);
  if (it == clients.end()) return;
  for (auto& c : it->second.conns) CloseConnLocked(c);
}

Relay::Relay(asio::any_io_executor executor, RelaySettings settings,
             std::shared_ptr<spdlog::logger> logger)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(settings), std::move(logger))) {}

Relay::~Relay() { Stop(); }

const crypto::Key32& Relay::public_key() const { return impl_->public_key; }

asio::awaitable<void> Relay::Serve(std::unique_ptr<ByteStream> stream, std::string remote) {
  auto c = std::make_shared<Conn>(std::move(stream), std::move(remote));
  co_await Impl::ServeConn(impl_, std::move(c));
}

void Relay::SetHealth(std::string problem) {
  std::lock_guard lock(impl_->mu);
  impl_->health = std::move(problem);
  Bytes frame = EncodeHealth(impl_->health);
  for (auto& [key, client] : impl_->clients) {
    for (auto& c : client.conns) impl_->EnqueueLocked(c, frame, false);
  }
}

Result<void> Relay::AddMeshPeer(const std::string& url) { return impl_->AddMeshPeer(url); }

bool Relay::IsReachableViaMesh(const crypto::NodePublic& key) const {
  std::lock_guard lock(impl_->mu);
  return impl_->forwarders.contains(key);
}

void Relay::Stop() {
  impl_->stopped = true;
  impl_->StopMesh();
  std::lock_guard lock(impl_->mu);
  for (auto& c : impl_->all_conns) impl_->CloseConnLocked(c);
}

RelayStats Relay::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stats;
}

uint64_t Relay::PacketsBetween(const crypto::NodePublic& src,
                               const crypto::NodePublic& dst) const {
  std::lock_guard lock(impl_->mu);
  auto s = impl_->sent_to.find(src);
  if (s == impl_->sent_to.end()) return 0;
  auto d = s->second.find(dst);
  return d == s->second.end() ? 0 : d->second;
}

bool Relay::IsConnected(const crypto::NodePublic& key) const {
  std::lock_guard lock(impl_->mu);
  return impl_->clients.contains(key);
}

}  // namespace keel::derp
