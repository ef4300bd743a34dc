// Outbound mesh (derp.md §3): the relay dials each configured peer of its region as a DERP
// client holding the mesh key, watches that peer's connections and forwards packets for the
// clients homed there. One coroutine per link runs dial, handshake and the read loop, and
// redials after a failure; a second coroutine per connection drains the write queue.
#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstring>

#include "derp/frame_reader.h"
#include "derp/relay_internal.h"
#include "derp/tls_byte_stream.h"

namespace keel::derp {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kRedialDelay = std::chrono::seconds(5);
// Mesh peers carry many clients' traffic, so their queue is deeper than a client's.
constexpr size_t kMeshQueueLimit = 1024;
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

struct ParsedUrl {
  std::string host;  // without brackets
  std::string port = "443";
  std::string target = "/derp";
};

Result<ParsedUrl> ParseMeshUrl(const std::string& url) {
  auto bad = [&](const char* why) {
    return MakeError(Errc::kInvalidArgument, "mesh peer \"" + url + "\": " + why);
  };
  constexpr std::string_view kScheme = "https://";
  if (!url.starts_with(kScheme)) return bad("must start with https://");
  std::string rest = url.substr(kScheme.size());
  ParsedUrl u;
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    u.target = rest.substr(slash);
    rest.resize(slash);
  }
  if (rest.starts_with("[")) {
    auto close = rest.find(']');
    if (close == std::string::npos) return bad("unclosed [");
    u.host = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    if (!rest.empty() && rest[0] != ':') return bad("junk after ]");
    if (!rest.empty()) u.port = rest.substr(1);
  } else if (auto colon = rest.find(':'); colon != std::string::npos) {
    u.host = rest.substr(0, colon);
    u.port = rest.substr(colon + 1);
  } else {
    u.host = rest;
  }
  if (u.host.empty()) return bad("no host");
  if (u.port.empty() || u.port.find_first_not_of("0123456789") != std::string::npos) {
    return bad("bad port");
  }
  return u;
}

}  // namespace

// Runs on the relay's executor; the fields marked below are shared with the threads that
// route packets to it.
struct MeshLink : std::enable_shared_from_this<MeshLink> {
  MeshLink(asio::any_io_executor ex, std::string u, ParsedUrl p)
      : executor(ex), url(std::move(u)), parsed(std::move(p)),
        ssl_ctx(asio::ssl::context::tls_client), wake(ex), retry(ex), deadline(ex),
        write_deadline(ex) {
    // Trust comes from the mesh key, not the certificate (see Relay::AddMeshPeer).
    ssl_ctx.set_verify_mode(asio::ssl::verify_none);
    ssl_ctx.set_options(asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  }

  void CloseTransport() {
    if (stream) stream->Close();
    if (socket != nullptr) {
      boost::system::error_code ec;
      socket->close(ec);
    }
    wake.cancel();
  }

  // Wakes the writer if it sleeps. REQUIRES: the relay's mu.
  void WakeLocked() {
    if (!writer_idle) return;
    writer_idle = false;
    asio::dispatch(executor, [self = shared_from_this()] { self->wake.cancel(); });
  }

  asio::any_io_executor executor;
  std::string url;
  ParsedUrl parsed;
  asio::ssl::context ssl_ctx;
  tcp::socket* socket = nullptr;        // while dialing, before `stream` exists
  std::shared_ptr<ByteStream> stream;   // while connected
  uint64_t generation = 0;              // bumped per connection; stale writers exit
  bool stopped = false;
  asio::steady_timer wake, retry, deadline, write_deadline;
  // Guarded by the relay's mu.
  bool up = false;
  bool writer_idle = false;
  Bytes pending;  // whole frames, swapped out by the writer as one batch
  size_t packets_queued = 0;
  std::unordered_set<crypto::NodePublic, crypto::KeyHash> present;
};

namespace {

// Closes the link's transport when `timer` fires (handshake, read idle or write deadline).
void ArmLinkTimer(const std::shared_ptr<MeshLink>& link, asio::steady_timer& timer,
                  std::chrono::milliseconds d) {
  timer.expires_after(d);
  std::weak_ptr<MeshLink> weak = link;
  timer.async_wait([weak](boost::system::error_code ec) {
    if (ec) return;
    if (auto l = weak.lock()) l->CloseTransport();
  });
}

void EnqueueOnLink(Relay::Impl& relay, MeshLink& link, std::span<const uint8_t> frame) {
  std::lock_guard lock(relay.mu);
  link.pending.insert(link.pending.end(), frame.begin(), frame.end());
  link.WakeLocked();
}

void AddForwarderLocked(Relay::Impl& relay, MeshLink* link, const crypto::NodePublic& key) {
  if (!link->present.insert(key).second) return;
  relay.forwarders[key].push_back(link);
}

void RemoveForwarderLocked(Relay::Impl& relay, MeshLink* link, const crypto::NodePublic& key) {
  if (link->present.erase(key) == 0) return;
  auto it = relay.forwarders.find(key);
  if (it == relay.forwarders.end()) return;
  std::erase(it->second, link);
  if (!it->second.empty()) return;
  relay.forwarders.erase(it);
  // Gone from the whole region unless it is connected here too.
  if (!relay.clients.contains(key)) relay.NotePeerGoneLocked(key);
}

// TCP, TLS and the HTTP upgrade; leaves link->stream set on success.
asio::awaitable<Result<void>> Dial(asio::any_io_executor ex, std::shared_ptr<MeshLink> link) {
  const ParsedUrl& u = link->parsed;
  tcp::resolver resolver(ex);
  auto [rec, endpoints] = co_await resolver.async_resolve(u.host, u.port, kAwait);
  if (rec) co_return MakeError(Errc::kUnavailable, "resolve " + u.host + ": " + rec.message());
  auto tls = std::make_unique<TlsByteStream::Stream>(ex, link->ssl_ctx);
  link->socket = &tls->next_layer();
  auto [cec, ep] = co_await asio::async_connect(tls->next_layer(), endpoints, kAwait);
  if (cec) co_return MakeError(Errc::kUnavailable, "connect: " + cec.message());
  tls->next_layer().set_option(tcp::no_delay(true));
  boost::system::error_code ip_ec;
  asio::ip::make_address(u.host, ip_ec);
  if (ip_ec) SSL_set_tlsext_host_name(tls->native_handle(), u.host.c_str());
  auto [hec] = co_await tls->async_handshake(asio::ssl::stream_base::client, kAwait);
  if (hec) co_return MakeError(Errc::kUnavailable, "tls handshake: " + hec.message());
  std::string host_header = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
  std::string request = "GET " + u.target + " HTTP/1.1\r\nHost: " + host_header + ":" + u.port +
                        "\r\nUpgrade: DERP\r\nConnection: Upgrade\r\n\r\n";
  auto [wec, wn] = co_await asio::async_write(*tls, asio::buffer(request), kAwait);
  if (wec) co_return MakeError(Errc::kUnavailable, "write upgrade: " + wec.message());
  std::string head;
  auto [hrec, head_len] =
      co_await asio::async_read_until(*tls, asio::dynamic_buffer(head, 16 * 1024), "\r\n\r\n", kAwait);
  if (hrec) co_return MakeError(Errc::kUnavailable, "read upgrade response: " + hrec.message());
  if (!head.starts_with("HTTP/1.1 101")) {
    co_return MakeError(Errc::kUnavailable, "upgrade refused: " + head.substr(0, head.find('\r')));
  }
  std::string rest = head.substr(head_len);
  link->socket = nullptr;
  link->stream = std::make_shared<TlsByteStream>(std::move(*tls), std::move(rest));
  co_return Result<void>();
}

// ServerKey, our ClientInfo (server key as client key, mesh key), ServerInfo, WatchConns.
// Sets `is_self` when the peer turns out to be this relay.
asio::awaitable<Result<void>> MeshHandshake(Relay::Impl& relay, MeshLink& link,
                                            FrameReader& reader, bool& is_self) {
  auto key_frame = co_await reader.ReadFrame();
  if (!key_frame) co_return key_frame.error();
  if (key_frame->type != static_cast<uint8_t>(FrameType::kServerKey) ||
      key_frame->payload.size() < kMagic.size() + kKeySize ||
      std::memcmp(kMagic.data(), key_frame->payload.data(), kMagic.size()) != 0) {
    co_return MakeError(Errc::kInvalidArgument, "no ServerKey frame");
  }
  crypto::Key32 peer{};
  std::copy_n(key_frame->payload.begin() + kMagic.size(), kKeySize, peer.begin());
  if (peer == relay.public_key) {
    is_self = true;
    co_return MakeError(Errc::kInvalidArgument, "mesh peer is this relay");
  }
  std::string json = R"({"version":2,"meshKey":")" + relay.settings.mesh_key + "\"}";
  auto sealed = crypto::BoxSeal(AsBytes(json), relay.settings.server_key, peer);
  if (!sealed) co_return MakeError(Errc::kInvalidArgument, "cannot seal ClientInfo");
  Bytes payload(relay.public_key.begin(), relay.public_key.end());
  payload.insert(payload.end(), sealed->begin(), sealed->end());
  Bytes out = EncodeFrame(FrameType::kClientInfo, payload);
  Bytes watch = EncodeFrame(FrameType::kWatchConns, {});
  out.insert(out.end(), watch.begin(), watch.end());
  auto written = co_await link.stream->WriteAll(out);
  if (!written) co_return written.error();
  auto info = co_await reader.ReadFrame();
  if (!info) co_return info.error();
  if (info->type != static_cast<uint8_t>(FrameType::kServerInfo)) {
    co_return MakeError(Errc::kInvalidArgument, "no ServerInfo (mesh key refused?)");
  }
  co_return Result<void>();
}

asio::awaitable<void> WriteLink(std::shared_ptr<Relay::Impl> relay,
                                std::shared_ptr<MeshLink> link, uint64_t generation) {
  auto stream = link->stream;
  Bytes batch;
  while (link->generation == generation) {
    bool idle = false;
    {
      std::lock_guard lock(relay->mu);
      if (!link->up) break;
      idle = link->pending.empty();
      link->writer_idle = idle;
      if (!idle) {
        batch.clear();
        std::swap(batch, link->pending);
        link->packets_queued = 0;
      }
    }
    if (idle) {
      link->wake.expires_at(asio::steady_timer::time_point::max());
      co_await link->wake.async_wait(kAwait);
      std::lock_guard lock(relay->mu);
      link->writer_idle = false;
      continue;
    }
    ArmLinkTimer(link, link->write_deadline, relay->settings.write_timeout);
    bool written = static_cast<bool>(co_await stream->WriteAll(batch));
    link->write_deadline.cancel();
    if (!written) {
      relay->Count(&RelayStats::write_failures);
      stream->Close();  // the read loop notices and tears the link down
      break;
    }
    if (batch.capacity() > 256 * 1024) Bytes().swap(batch);
  }
}

// Reads frames until the connection ends, tracking which clients the peer has.
asio::awaitable<Result<void>> ReadLink(Relay::Impl& relay, std::shared_ptr<MeshLink> link,
                                       FrameReader& reader) {
  auto idle = 3 * relay.settings.keepalive_interval + relay.settings.keepalive_jitter;
  for (;;) {
    ArmLinkTimer(link, link->deadline, idle);
    auto f = co_await reader.ReadFrame();
    if (!f) co_return f.error();
    auto type = static_cast<FrameType>(f->type);
    if ((type == FrameType::kPeerPresent || type == FrameType::kPeerGone) &&
        f->payload.size() >= kKeySize) {
      crypto::Key32 k{};
      std::copy_n(f->payload.begin(), kKeySize, k.begin());
      crypto::NodePublic key(k);
      std::lock_guard lock(relay.mu);
      if (type == FrameType::kPeerGone) {
        RemoveForwarderLocked(relay, link.get(), key);
      } else if (k != relay.public_key) {
        AddForwarderLocked(relay, link.get(), key);
      }
    } else if (type == FrameType::kPing && f->payload.size() == 8) {
      EnqueueOnLink(relay, *link, EncodeFrame(FrameType::kPong, f->payload));
    }
  }
}

asio::awaitable<void> RunLink(std::shared_ptr<Relay::Impl> relay, std::shared_ptr<MeshLink> link) {
  while (!relay->stopped && !link->stopped) {
    bool is_self = false;
    ArmLinkTimer(link, link->deadline, relay->settings.handshake_timeout);
    Result<void> r = co_await Dial(relay->executor, link);
    link->socket = nullptr;  // a failed Dial has destroyed the socket it pointed to
    if (r && !link->stopped) {
      FrameReader reader(*link->stream);
      r = co_await MeshHandshake(*relay, *link, reader, is_self);
      if (r && !link->stopped) {
        {
          std::lock_guard lock(relay->mu);
          link->up = true;
          ++relay->stats.mesh_links_up;
        }
        relay->logger->info("derp mesh: connected to {}", link->url);
        asio::co_spawn(relay->executor, WriteLink(relay, link, link->generation), asio::detached);
        r = co_await ReadLink(*relay, link, reader);
        relay->Count(&RelayStats::mesh_links_up, -1);
      }
    }
    // Tear down: forget everything this peer told us.
    link->deadline.cancel();
    link->write_deadline.cancel();
    ++link->generation;
    link->CloseTransport();
    link->stream.reset();
    link->socket = nullptr;
    {
      std::lock_guard lock(relay->mu);
      link->up = false;
      link->pending.clear();
      link->packets_queued = 0;
      for (auto key : std::vector(link->present.begin(), link->present.end())) {
        RemoveForwarderLocked(*relay, link.get(), key);
      }
    }
    if (is_self) {
      relay->logger->info("derp mesh: {} is this relay; ignoring it", link->url);
      break;
    }
    if (relay->stopped || link->stopped) break;
    relay->logger->warn("derp mesh: {}: {}; redialing in {}s", link->url,
                        r ? "connection closed" : r.error().message, kRedialDelay.count());
    link->retry.expires_after(kRedialDelay);
    co_await link->retry.async_wait(kAwait);
  }
}

}  // namespace

Result<void> Relay::Impl::AddMeshPeer(const std::string& url) {
  if (settings.mesh_key.empty()) {
    return MakeError(Errc::kInvalidArgument, "mesh peers need a mesh key");
  }
  if (stopped) return MakeError(Errc::kUnavailable, "relay stopped");
  auto parsed = ParseMeshUrl(url);
  if (!parsed) return parsed.error();
  auto link = std::make_shared<MeshLink>(executor, url, std::move(*parsed));
  {
    std::lock_guard lock(mu);
    mesh_links.push_back(link);
  }
  asio::co_spawn(executor, RunLink(shared_from_this(), link), asio::detached);
  return Result<void>();
}

bool Relay::Impl::ForwardViaMeshLocked(const crypto::NodePublic& src, const crypto::NodePublic& dst,
                                 std::span<const uint8_t> packet) {
  auto it = forwarders.find(dst);
  if (it == forwarders.end() || it->second.empty()) return false;
  MeshLink& link = *it->second.front();
  if (!link.up) return false;
  if (link.packets_queued >= kMeshQueueLimit) {
    ++stats.packets_dropped_queue_full;
    return true;
  }
  ++link.packets_queued;
  AppendForwardPacket(link.pending, src.raw(), dst.raw(), packet);
  link.WakeLocked();
  ++stats.packets_forwarded;
  return true;
}

void Relay::Impl::StopMesh() {
  std::lock_guard lock(mu);
  for (auto& link : mesh_links) {
    link->stopped = true;
    link->up = false;
    link->write_deadline.cancel();
    link->CloseTransport();
    link->retry.cancel();
    link->deadline.cancel();
  }
}

}  // namespace keel::derp
