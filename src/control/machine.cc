// The /machine/* handlers over Noise: register, map (lite, one-shot, streaming) and helpers.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "base/run_blocking.h"
#include "control/control_metrics.h"
#include "control/frame.h"
#include "control/server_internal.h"
#include "tailcfg/capver.h"
#include "tailcfg/derp_map.h"
#include "tailcfg/requests.h"

namespace keel::control {

tailcfg::RegisterResponse ToRegisterResponse(const tailnet::RegisterOutcome& out) {
  tailcfg::RegisterResponse r;
  if (out.user) {
    bool tagged = out.node && !out.node->tags.empty();
    auto profile = tagged ? TaggedDevicesProfile() : ToUserProfile(*out.user);
    r.user_id = profile.id;
    r.display_name = profile.display_name;
    r.login_name = profile.login_name;
    r.user_created = out.user->created;
  }
  using K = tailnet::RegisterOutcome::Kind;
  switch (out.kind) {
    case K::kAuthorized: r.machine_authorized = true; break;
    case K::kNodeKeyExpired:
    case K::kLoggedOut: r.node_key_expired = true; break;
    case K::kRefused: r.error = out.error.empty() ? "registration refused" : out.error; break;
    case K::kLoginRequired: break;  // the caller sends an AuthURL instead (login.cc)
  }
  return r;
}

namespace {

namespace asio = boost::asio;
using asio::awaitable;
using Impl = ServerState;

// A map stream sends one delta per kDeltaPeriod on average, with bursts of up to kDeltaBurst:
// changes arriving faster merge and go out together when the next delta may, so a join storm
// costs each session a delta per period instead of one per change, while a change after a
// quiet spell goes out at once.
constexpr auto kDeltaPeriod = std::chrono::milliseconds(100);
constexpr int kDeltaBurst = 4;
// Frames above this size are compressed on the pool rather than the I/O thread.
constexpr size_t kCompressOnPool = 64 * 1024;

http::Headers OctetStream() { return {{"content-type", "application/octet-stream"}}; }

int StatusFor(const Error& e) {
  switch (e.code) {
    case Errc::kNotFound: return 404;
    case Errc::kPermissionDenied:
    case Errc::kUnauthenticated: return 403;
    case Errc::kInvalidArgument: return 400;
    default: return 500;
  }
}

std::string_view OutcomeName(tailnet::RegisterOutcome::Kind kind) {
  using K = tailnet::RegisterOutcome::Kind;
  switch (kind) {
    case K::kAuthorized: return "authorized";
    case K::kNodeKeyExpired: return "node_key_expired";
    case K::kLoggedOut: return "logged_out";
    case K::kRefused: return "refused";
    case K::kLoginRequired: return "login_required";
  }
  return "refused";
}

awaitable<void> HandleRegister(std::shared_ptr<Impl> impl, crypto::MachinePublic machine,
                               http::Request req, std::shared_ptr<http::H2Stream> stream, bool ts2019) {
  auto decoded = tailcfg::DecodeRegisterRequest(req.body);
  if (!decoded) co_return Reply(*stream, 400, decoded.error().message);
  // TS2019 clients send Version 1 here whatever their version; their map requests carry it.
  if (decoded->version < impl->settings.min_cap_version && !ts2019) {
    tailcfg::RegisterResponse refused;
    refused.error = tailcfg::TooOldMessage(decoded->version, impl->settings.min_cap_version);
    if (impl->FirstRefusalThisHour(machine)) impl->log->info("refusing {}: {}", machine.ToText(), refused.error);
    co_return Reply(*stream, 200, tailcfg::EncodeRegisterResponse(refused), "application/json");
  }
  auto input = std::make_shared<tailnet::RegisterInput>();
  tailnet::RegisterInput& in = *input;
  in.machine_key = machine;
  in.node_key = decoded->node_key;
  in.old_node_key = decoded->old_node_key;
  in.auth_key = decoded->auth_key.value_or("");
  in.expiry = decoded->expiry;
  in.hostinfo_json = std::move(decoded->hostinfo_json);
  in.hostname = std::move(decoded->hostname);
  in.request_tags = std::move(decoded->request_tags);
  auto call = [impl, input] { return impl->tailnet.Register(*input); };
  auto outcome = co_await RunBlocking(impl->pool, std::move(call));
  if (!outcome) {
    int status = StatusFor(outcome.error());
    metrics::Registrations(status == 500 ? "error" : "refused").Increment();
    if (status == 500) {
      // The client only retries; the reason (e.g. a full disk) must reach the operator.
      impl->log->error("register {}: {}", decoded->node_key.ToText(), outcome.error().message);
      co_return Reply(*stream, 500, outcome.error().message);
    }
    tailnet::RegisterOutcome refused;
    refused.error = outcome.error().message;
    co_return Reply(*stream, 200, tailcfg::EncodeRegisterResponse(ToRegisterResponse(refused)), "application/json");
  }
  if (outcome->kind == tailnet::RegisterOutcome::Kind::kLoginRequired) {
    auto answer = co_await HandleLogin(impl, input, std::move(decoded->followup), stream);
    co_return Reply(*stream, 200, tailcfg::EncodeRegisterResponse(answer), "application/json");
  }
  metrics::Registrations(OutcomeName(outcome->kind)).Increment();
  impl->log->info("register {} from {}: {}", in.node_key.ToText(), machine.ToText(),
                  outcome->kind == tailnet::RegisterOutcome::Kind::kRefused ? outcome->error : "ok");
  Reply(*stream, 200, tailcfg::EncodeRegisterResponse(ToRegisterResponse(*outcome)), "application/json");
}

void CountSent(const std::string& frame) {
  metrics::MapResponses().Increment();
  metrics::MapResponseBytes().Increment(static_cast<double>(frame.size()));
}

// Frames a map response (compressing large ones on the pool) and counts it as sent.
awaitable<std::string> Frame(Impl& impl, std::string json, bool zstd) {
  std::string frame;
  if (!zstd || json.size() < kCompressOnPool) {
    frame = EncodeFrame(json, zstd);
  } else {
    auto shared = std::make_shared<std::string>(std::move(json));
    auto call = [shared] { return EncodeFrame(*shared, true); };
    frame = co_await RunBlocking(impl.pool, std::move(call));
  }
  CountSent(frame);
  co_return frame;
}

MapInputs Inputs(Impl& impl, const tailnet::Snapshot& snap, model::NodeId self, int capver,
                 PeerView* view = nullptr) {
  const std::string& fields = capver < tailcfg::kCertPinCapVer ? impl.static_fields_unpinned : impl.static_fields;
  return MapInputs{snap, self, std::chrono::system_clock::now(), impl.map_config, fields, impl.cache, view};
}

// Sends what `session` has pending; false when the session must end.
awaitable<bool> SendPending(Impl& impl, MapSession& session, http::H2Stream& stream, bool zstd) {
  auto snap = impl.tailnet.snapshot();
  std::string json;
  const bool full_map = session.pending.full();
  if (full_map) {
    auto full = BuildFullMap(Inputs(impl, *snap, session.node, session.capver, &session.view));
    if (!full) co_return false;
    json = std::move(*full);
  } else {
    Delta delta = BuildDelta(Inputs(impl, *snap, session.node, session.capver, &session.view), session.pending);
    if (delta.self_removed) co_return false;
    json = std::move(delta.json);
  }
  // Only a full map covers every change up to its snapshot; a delta covers just its pending set.
  if (full_map) session.rendered_version = snap->version;
  session.pending.Clear();
  if (json.empty()) co_return true;
  if (!full_map && impl.last_delta.zstd == zstd && impl.last_delta.json == json) {
    CountSent(impl.last_delta.frame);
    if (!stream.closed()) stream.Write(impl.last_delta.frame);
    co_return true;
  }
  // A full map is the viewer's own; only deltas are worth keeping for the next session.
  std::string input = full_map ? std::move(json) : json;
  std::string frame = co_await Frame(impl, std::move(input), zstd);
  if (!full_map) {
    impl.last_delta.zstd = zstd;
    impl.last_delta.json = std::move(json);
    impl.last_delta.frame = frame;
  }
  if (!stream.closed()) stream.Write(std::move(frame));
  co_return true;
}

// A MapResponse holding only a PingRequest: the client answers with a HEAD to `url` over its
// Noise channel.
std::string PingFrame(const std::string& url, bool zstd) {
  nlohmann::json j = {{"PingRequest", {{"URL", url}, {"URLIsNoise", true}}}};
  return EncodeFrame(j.dump(), zstd);
}

awaitable<void> StreamLoop(Impl& impl, MapSession& session, http::H2Stream& stream, bool zstd) {
  session.pending.MarkFull();  // the first response is always a complete map
  auto next_keepalive = std::chrono::steady_clock::now() + impl.KeepAliveDelay();
  // Since when the queue has been full; a client that reads nothing for too long is dropped.
  std::optional<std::chrono::steady_clock::time_point> full_since;
  // A slow reader's stream keeps merging changes instead of queueing more frames.
  const size_t max_queue = impl.settings.limits.max_stream_queue;
  const auto slow_reader_timeout = impl.settings.limits.slow_reader_timeout;
  while (!session.stop && !stream.closed()) {
    auto now = std::chrono::steady_clock::now();
    bool writable = stream.buffered() < max_queue;
    if (writable) {
      full_since.reset();
    } else if (!full_since) {
      full_since = now;
    } else if (now - *full_since >= slow_reader_timeout) {
      LimitTripped("map_slow_reader", *impl.log,
                   fmt::format("node {}: map stream unread for {}s with {} bytes queued; resetting it",
                               session.node, slow_reader_timeout.count(), stream.buffered()));
      stream.Reset();  // frees the queue; the client reconnects and gets a full map
      co_return;
    }
    // Pings go out after the first map, as the client reads them from map responses.
    if (!session.ping_urls.empty() && session.rendered_version != 0) {
      for (const auto& url : std::exchange(session.ping_urls, {})) stream.Write(PingFrame(url, zstd));
    }
    if (!session.pending.empty() && writable && (session.pending.full() || now >= session.next_delta)) {
      if (!co_await SendPending(impl, session, stream, zstd)) co_return;
      now = std::chrono::steady_clock::now();
      // A token bucket of kDeltaBurst refilled one per kDeltaPeriod, kept as the generic cell
      // rate algorithm's theoretical arrival time less its tolerance.
      constexpr auto kTolerance = (kDeltaBurst - 1) * kDeltaPeriod;
      session.next_delta = std::max(session.next_delta + kTolerance, now) + kDeltaPeriod - kTolerance;
      next_keepalive = now + impl.KeepAliveDelay();
      continue;
    }
    auto deadline = next_keepalive;
    // Pending changes wait out the batch period, or (behind a slow reader) poll for room.
    if (!session.pending.empty()) deadline = std::min(deadline, writable ? session.next_delta : now + std::chrono::seconds(1));
    if (full_since) deadline = std::min(deadline, *full_since + slow_reader_timeout);
    session.timer.expires_at(deadline);
    session.batching = !session.pending.empty() && writable;
    auto [ec] = co_await session.timer.async_wait(asio::as_tuple(asio::use_awaitable));
    session.batching = false;
    auto cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none) co_return;
    if (!ec && std::chrono::steady_clock::now() >= next_keepalive) {
      if (stream.buffered() < max_queue) stream.Write(zstd ? impl.keepalive_zstd : impl.keepalive_raw);
      next_keepalive = std::chrono::steady_clock::now() + impl.KeepAliveDelay();
    }
  }
}

awaitable<void> RunStream(std::shared_ptr<Impl> impl, model::NodeId node, int capver, bool ts2019,
                          http::H2Stream& stream, bool zstd) {
  co_await asio::this_coro::throw_if_cancelled(false);
  auto session = std::make_shared<MapSession>(co_await asio::this_coro::executor);
  session->node = node;
  session->capver = capver;
  session->ts2019 = ts2019;
  uint64_t id = impl->next_session_id++;
  impl->sessions.emplace(id, session);
  metrics::MapStreams().Increment();
  auto open = [impl, node] {
    impl->tailnet.StreamOpened(node);
    return 0;
  };
  co_await RunBlocking(impl->pool, std::move(open));
  stream.Respond(200, OctetStream());
  try {
    co_await StreamLoop(*impl, *session, stream, zstd);
  } catch (const std::exception& e) {
    impl->log->warn("map session for node {} ended: {}", node, e.what());
  }
  impl->sessions.erase(id);
  metrics::MapStreams().Decrement();
  asio::post(impl->pool, [impl, node] { impl->tailnet.StreamClosed(node); });
  if (!stream.closed()) stream.Finish();
}

// What a checked and applied map request asks for. The request itself is not kept: a stream
// lives for hours, and its coroutine frames with it.
struct MapPlan {
  model::NodeId id = 0;
  int version = 0;
  bool stream = false;
  bool zstd = false;
  bool lite = false;  // a non-streaming update that wants no map back
};

// Decodes, checks and applies a map request; on a refusal it answers and returns nothing.
awaitable<std::optional<MapPlan>> PrepareMap(std::shared_ptr<Impl> impl, crypto::MachinePublic machine,
                                             std::string body, http::H2Stream& stream) {
  auto decoded = tailcfg::DecodeMapRequest(body);
  if (!decoded) {
    Reply(stream, 400, decoded.error().message);
    co_return std::nullopt;
  }
  const tailcfg::MapRequest& mr = *decoded;
  if (mr.version < impl->settings.min_cap_version) {
    std::string text = tailcfg::TooOldMessage(mr.version, impl->settings.min_cap_version);
    if (impl->FirstRefusalThisHour(machine)) impl->log->info("refusing {}: {}", machine.ToText(), text);
    Reply(stream, 400, text);
    co_return std::nullopt;
  }
  MapPlan plan;
  plan.version = mr.version;
  plan.stream = mr.stream;
  plan.zstd = mr.compress == "zstd";
  plan.lite = mr.omit_peers && !mr.read_only;
  {
    auto snap = impl->tailnet.snapshot();
    const model::Node* node = snap->FindByNodeKey(mr.node_key);
    if (!node) {
      Reply(stream, 404, "keel: unknown node key " + mr.node_key.ToText() + "; register first");
      co_return std::nullopt;
    }
    if (node->machine_key != machine) {
      Reply(stream, 403, "keel: node key belongs to another machine");
      co_return std::nullopt;
    }
    plan.id = node->id;
  }
  if (!mr.read_only) {
    auto update = std::make_shared<tailnet::MapUpdate>();
    if (!mr.disco_key.IsZero()) update->disco_key = mr.disco_key;
    update->endpoints = mr.endpoints;
    update->hostinfo_json = mr.hostinfo_json;
    update->home_derp = mr.preferred_derp;
    update->cap_version = mr.version;
    auto call = [impl, machine, key = mr.node_key, update] {
      return impl->tailnet.ApplyMapUpdate(machine, key, *update);
    };
    auto applied = co_await RunBlocking(impl->pool, std::move(call));
    if (!applied) {
      Reply(stream, StatusFor(applied.error()), applied.error().message);
      co_return std::nullopt;
    }
  }
  co_return plan;
}

awaitable<void> SendOneMap(std::shared_ptr<Impl> impl, MapPlan plan, http::H2Stream& stream) {
  auto full = BuildFullMap(Inputs(*impl, *impl->tailnet.snapshot(), plan.id, plan.version));
  if (!full) co_return Reply(stream, 404, full.error().message);
  stream.Respond(200, OctetStream());
  stream.Write(co_await Frame(*impl, std::move(*full), plan.zstd));
  stream.Finish();
}

awaitable<void> HandleMap(std::shared_ptr<Impl> impl, crypto::MachinePublic machine,
                          http::Request req, std::shared_ptr<http::H2Stream> stream, bool ts2019) {
  auto plan = co_await PrepareMap(impl, machine, std::exchange(req.body, {}), *stream);
  if (!plan) co_return;
  if (plan->stream) co_return co_await RunStream(impl, plan->id, plan->version, ts2019, *stream, plan->zstd);
  if (plan->lite) co_return Reply(*stream, 200, "");
  co_await SendOneMap(impl, *plan, *stream);
}

}  // namespace

void Reply(http::H2Stream& stream, int status, const std::string& body, const char* content_type) {
  stream.Respond(status, {{"content-type", content_type}});
  if (!body.empty()) stream.Write(body);
  stream.Finish();
}

awaitable<void> ServeMachine(std::shared_ptr<Impl> impl, crypto::MachinePublic machine,
                             http::Request req, std::shared_ptr<http::H2Stream> stream, bool ts2019) {
  try {
    bool update = req.path == "/machine/register" || req.path == "/machine/map";
    if (!impl->TakeRequestBudget(machine, update)) {
      const Limits& lim = impl->settings.limits;
      LimitTripped("machine_request_rate", *impl->log,
                   fmt::format("{}: over its request rate ({} {}/s, burst {}); holding, then 429",
                               machine.ToText(), update ? lim.request_rate : lim.any_request_rate,
                               update ? "register/map" : "requests",
                               update ? lim.request_burst : lim.any_request_burst));
      asio::steady_timer hold(impl->io, lim.throttle_delay);
      co_await hold.async_wait(asio::as_tuple(asio::use_awaitable));
      co_return Reply(*stream, 429, "keel: too many requests from this machine; retry in a few seconds");
    }
    if (req.path == "/machine/register") co_return co_await HandleRegister(impl, machine, std::move(req), stream, ts2019);
    if (req.path == "/machine/map") co_return co_await HandleMap(impl, machine, std::move(req), stream, ts2019);
    if (req.path.starts_with(kSshActionPath)) co_return co_await HandleSshAction(impl, machine, std::move(req), stream);
    if (req.path == kPingResponsePath) co_return HandlePingResponse(*impl, machine, req, *stream);
    if (req.path == "/machine/update-health") co_return Reply(*stream, 200, "");
    if (req.path == "/machine/set-dns") co_return Reply(*stream, 501, "keel: set-dns is not implemented");
    Reply(*stream, 404, "not found");
  } catch (const std::exception& e) {
    // Cancellation (the stream closed) or a bug; never let it reach the HTTP/2 session.
    impl->log->debug("{} {}: {}", req.method, req.path, e.what());
  }
}

}  // namespace keel::control
