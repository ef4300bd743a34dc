// Per-connection life of the relay: handshake, the reading coroutine and the writer.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>

#include "derp/frame_reader.h"
#include "derp/relay_internal.h"

namespace keel::derp {

namespace asio = boost::asio;

namespace {

bool MeshKeyMatches(const std::string& configured, const std::string& offered) {
  if (configured.empty() || offered.size() != configured.size()) return false;
  unsigned diff = 0;
  for (size_t i = 0; i < offered.size(); ++i) {
    diff |= static_cast<unsigned>(std::tolower(static_cast<unsigned char>(offered[i])) ^
                                  std::tolower(static_cast<unsigned char>(configured[i])));
  }
  return diff == 0;
}

}  // namespace

void Relay::Impl::ArmDeadline(const std::shared_ptr<Conn>& c, std::chrono::milliseconds d) {
  c->deadline.expires_after(d);
  std::weak_ptr<Conn> weak = c;
  std::weak_ptr<Impl> self = weak_from_this();
  c->deadline.async_wait([weak, self](boost::system::error_code ec) {
    if (ec) return;
    auto conn = weak.lock();
    auto impl = self.lock();
    if (conn && impl) impl->CloseConn(conn);
  });
}

asio::awaitable<Result<void>> Relay::Impl::Handshake(std::shared_ptr<Conn> c) {
  ArmDeadline(c, settings.handshake_timeout);
  Bytes server_key = EncodeServerKey(public_key);
  auto w = co_await c->stream->WriteAll(server_key);
  if (!w) co_return w.error();
  co_return Result<void>();
}

asio::awaitable<void> Relay::Impl::ServeConn(std::shared_ptr<Impl> self, std::shared_ptr<Conn> c) {
  {
    std::lock_guard lock(self->mu);
    if (self->stopped) {
      c->stream->Close();
      co_return;
    }
    c->id = self->next_id++;
    self->all_conns.insert(c);
    ++self->stats.connections_accepted;
  }
  FrameReader reader(*c->stream);
  Result<void> result = co_await self->Handshake(c);
  // The first frame must be ClientInfo; everything after it is handled in HandleFrame once
  // the client has been admitted.
  if (result) {
    auto first = co_await reader.ReadFrame();
    if (!first) {
      result = first.error();
    } else if (first->type != static_cast<uint8_t>(FrameType::kClientInfo)) {
      result = MakeError(Errc::kInvalidArgument, "first frame is not ClientInfo");
    } else {
      result = self->HandleFrame(c, first->type, first->payload);
    }
  }
  if (!result) {
    if (result.error().code == Errc::kInvalidArgument) {
      self->Count(&RelayStats::bad_input_closes);
    } else if (result.error().code != Errc::kPermissionDenied) {
      self->Count(&RelayStats::handshake_failures);
    }
    self->logger->debug("derp {}: handshake: {}", c->remote, result.error().message);
  }
  while (result) {
    auto frame = co_await reader.ReadFrame();
    if (!frame) {
      result = frame.error();
      if (result.error().code == Errc::kInvalidArgument) {
        self->Count(&RelayStats::bad_input_closes);
      }
      break;
    }
    result = self->HandleFrame(c, frame->type, frame->payload);
    if (!result) {
      self->Count(&RelayStats::bad_input_closes);
      self->logger->debug("derp {}: {}", c->remote, result.error().message);
    }
  }
  self->CloseConn(c);
  self->Unregister(c);
}

asio::awaitable<void> Relay::Impl::WriteLoop(std::shared_ptr<Impl> self, std::shared_ptr<Conn> c) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  std::uniform_int_distribution<int64_t> jitter(0, std::max<int64_t>(
                                                       0, self->settings.keepalive_jitter.count()));
  Bytes batch;
  for (;;) {
    bool idle = false;
    {
      std::lock_guard lock(self->mu);
      if (c->closed) break;
      idle = c->pending.empty();
      c->writer_idle = idle;
    }
    if (idle) {
      c->wake.expires_after(self->settings.keepalive_interval +
                            std::chrono::milliseconds(jitter(rng)));
      auto [ec] = co_await c->wake.async_wait(asio::as_tuple(asio::use_awaitable));
      std::lock_guard lock(self->mu);
      c->writer_idle = false;
      if (!ec && !c->closed && c->pending.empty()) {
        c->pending = EncodeKeepAlive();
        ++self->stats.keepalives_sent;
      }
      continue;
    }
    // Let the readers that are ready run first, so that their packets share this write: one
    // TLS record and one send for many frames.
    co_await asio::post(c->executor, asio::use_awaitable);
    {
      // Everything queued goes out in one write; the two buffers trade places, so a busy
      // connection reuses their capacity instead of allocating per frame.
      std::lock_guard lock(self->mu);
      if (c->closed) break;
      batch.clear();
      std::swap(batch, c->pending);
      c->packets_queued = 0;
    }
    self->ArmDeadline(c, self->settings.write_timeout);
    auto w = co_await c->stream->WriteAll(batch);
    c->deadline.cancel();
    if (!w) {
      std::lock_guard lock(self->mu);
      if (!c->closed) ++self->stats.write_failures;
      break;
    }
    if (batch.capacity() > 256 * 1024) Bytes().swap(batch);
  }
  self->CloseConn(c);
}

Result<void> Relay::Impl::HandleFrame(const std::shared_ptr<Conn>& c, uint8_t type,
                                      std::span<const uint8_t> p) {
  switch (static_cast<FrameType>(type)) {
    case FrameType::kClientInfo: {
      if (c->registered) return MakeError(Errc::kInvalidArgument, "second ClientInfo");
      auto info = OpenClientInfo(p, settings.server_key);
      if (!info) return info.error();
      c->key = crypto::NodePublic(info->client_public);
      c->is_mesh = MeshKeyMatches(settings.mesh_key, info->json.mesh_key);
      if (!c->is_mesh && settings.verify_client && !settings.verify_client(c->key)) {
        Count(&RelayStats::clients_rejected);
        logger->info("derp {}: rejected {}", c->remote, c->key.ToText());
        return MakeError(Errc::kPermissionDenied, "client not admitted");
      }
      c->deadline.cancel();
      auto sealed = crypto::BoxSeal(AsBytes(R"({"version":2})"), settings.server_key,
                                    info->client_public);
      if (!sealed) return MakeError(Errc::kInvalidArgument, "bad client key");
      {
        // ServerInfo goes first, before anything another client could queue for this one.
        std::lock_guard lock(mu);
        EnqueueLocked(c, EncodeServerInfo(*sealed), false);
        if (!health.empty()) EnqueueLocked(c, EncodeHealth(health), false);
      }
      Register(c);
      asio::co_spawn(c->executor, WriteLoop(shared_from_this(), c), asio::detached);
      logger->debug("derp {}: {} connected", c->remote, c->key.ToText());
      return Result<void>();
    }
    case FrameType::kSendPacket: {
      auto f = ParseSendPacket(p);
      if (!f) return f.error();
      RoutePacket(c, c->key, crypto::NodePublic(f->dst), f->packet);
      return Result<void>();
    }
    case FrameType::kForwardPacket: {
      if (!c->is_mesh) return MakeError(Errc::kInvalidArgument, "ForwardPacket from non-mesh");
      auto f = ParseForwardPacket(p);
      if (!f) return f.error();
      RoutePacket(nullptr, crypto::NodePublic(f->src), crypto::NodePublic(f->dst), f->packet);
      return Result<void>();
    }
    case FrameType::kNotePreferred: {
      auto f = ParseNotePreferred(p);
      if (!f) return f.error();
      return Result<void>();
    }
    case FrameType::kPing: {
      auto f = ParsePing(p);
      if (!f) return f.error();
      Count(&RelayStats::pings);
      Enqueue(c, EncodePong(*f));
      return Result<void>();
    }
    case FrameType::kWatchConns: {
      if (!c->is_mesh) return MakeError(Errc::kInvalidArgument, "WatchConns from non-mesh");
      KEEL_TRY(ParseWatchConns(p));
      AddWatcher(c);
      return Result<void>();
    }
    case FrameType::kClosePeer: {
      if (!c->is_mesh) return MakeError(Errc::kInvalidArgument, "ClosePeer from non-mesh");
      auto f = ParseClosePeer(p);
      if (!f) return f.error();
      ClosePeer(crypto::NodePublic(*f));
      return Result<void>();
    }
    default:
      Count(&RelayStats::unknown_frames);  // includes Pong and server-to-client types: skip
      return Result<void>();
  }
}

}  // namespace keel::derp
