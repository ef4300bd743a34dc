#include "control/server.h"

#include <boost/algorithm/string/predicate.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <optional>

#include "base/bytes.h"
#include "control/control_metrics.h"
#include "control/frame.h"
#include "control/server_internal.h"
#include "crypto/x25519.h"
#include "noise/handshake.h"
#include "noise/stream.h"
#include "policy/compiler.h"
#include "tailcfg/capver.h"
#include "tailcfg/derp_map.h"

namespace keel::control {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using namespace asio::experimental::awaitable_operators;

constexpr std::string_view kControlProtocol = "tailscale-control-protocol";
// Below this the /key answer has no Noise key (transport.md §1); we do not serve TS2019.
constexpr int kNoiseCapVer = 39;
// Clients understand the early payload from this version on (transport.md §2.4).
constexpr int kEarlyPayloadCapVer = 49;

awaitable<http::Response> HandleKey(std::shared_ptr<ServerState> impl, http::Request req) {
  auto v = req.Query("v");
  if (!v) co_return http::Response::Text(400, "capability version must be set");
  int capver = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), capver);
  if (ec != std::errc() || end != v->data() + v->size()) {
    co_return http::Response::Text(400, "invalid capability version");
  }
  if (capver < kNoiseCapVer) {
    co_return http::Response::Text(400, tailcfg::TooOldMessage(capver, impl->settings.min_cap_version));
  }
  nlohmann::json body = {{"legacyPublicKey", impl->legacy_public.ToText()},
                         {"publicKey", impl->noise_public.ToText()}};
  co_return http::Response::Json(200, body.dump());
}

// Whether one more ts2021 connection may start its pre-session phase; a refusal is logged.
bool AdmitPresession(ServerState& impl, const std::string& remote) {
  if (impl.presession < impl.settings.limits.max_presession) return true;
  LimitTripped("ts2021_presession", *impl.log,
               fmt::format("{}: {} ts2021 connections are still in their handshake; refusing the upgrade",
                           remote, impl.presession));
  return false;
}

// Closes `conn` when the pre-session phase outlives Limits::presession_timeout; then waits to
// be cancelled, which happens when the session ends.
awaitable<void> PresessionDeadline(ServerState& impl, const CountedSlot& slot, ByteStream& conn,
                                   std::string remote) {
  asio::steady_timer timer(impl.io, impl.settings.limits.presession_timeout);
  auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  if (ec) co_return;
  if (slot.held()) {
    LimitTripped("ts2021_presession_timeout", *impl.log,
                 fmt::format("{}: no request within {}s of the ts2021 upgrade; closing", remote,
                             impl.settings.limits.presession_timeout.count()));
    conn.Close();
  }
  timer.expires_at(asio::steady_timer::time_point::max());
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

// The early payload, then HTTP/2 until the peer goes away.
awaitable<void> ServeNoise(std::shared_ptr<ServerState> impl, noise::NoiseStream& conn,
                           crypto::MachinePublic machine, bool send_early_payload,
                           std::shared_ptr<CountedSlot> slot) {
  if (send_early_payload) {
    crypto::ChallengePublic challenge(crypto::PublicFromPrivate(crypto::GeneratePrivateKey()));
    auto wrote = co_await conn.WriteAll(noise::EarlyPayload(challenge));
    if (!wrote) co_return;
  }
  http::H2Handler handler = [impl, machine, slot](http::Request r, std::shared_ptr<http::H2Stream> s) {
    slot->Release();
    return ServeMachine(impl, machine, std::move(r), std::move(s));
  };
  http::H2Settings h2;
  h2.write_stall_timeout = impl->settings.limits.write_stall_timeout;
  co_await http::ServeHttp2(conn, std::move(handler), h2, impl->log);
}

// After the upgrade: Noise handshake, version gate, then HTTP/2 until the peer goes away. The
// handshake and the first request must come within Limits::presession_timeout.
awaitable<void> RunNoise(std::shared_ptr<ServerState> impl, std::unique_ptr<ByteStream> raw,
                         Bytes initiation, bool early_payload, std::string remote) {
  // Holds the connection's place in ServerState::presession until its first HTTP/2 request.
  auto slot = std::make_shared<CountedSlot>(impl->presession);
  auto hs = noise::RespondToInitiation(initiation, impl->keys.noise, crypto::GeneratePrivateKey());
  if (!hs) {
    metrics::Handshakes("failed").Increment();
    impl->log->info("ts2021 handshake from {} failed: {}", remote, hs.error().message);
    co_await raw->WriteAll(noise::ErrorFrame(hs.error().message));
    raw->Close();
    co_return;
  }
  // A client below the capability floor still gets its session: the refusal comes as the
  // register response's Error, which `tailscale up` prints, where a failed handshake would
  // only reach the daemon's log.
  if (hs->protocol_version < kNoiseCapVer) {
    metrics::Handshakes("too_old").Increment();
    std::string text = tailcfg::TooOldMessage(hs->protocol_version, impl->settings.min_cap_version);
    if (impl->FirstRefusalThisHour(hs->peer)) impl->log->info("refusing {} ({}): {}", hs->peer.ToText(), remote, text);
    co_await raw->WriteAll(noise::ErrorFrame(text));
    raw->Close();
    co_return;
  }
  metrics::Handshakes("ok").Increment();
  Bytes prefix(hs->response.begin(), hs->response.end());
  noise::NoiseStream conn(std::move(raw), hs->keys, std::move(prefix));
  crypto::MachinePublic machine = hs->peer;
  impl->log->debug("noise session from {} ({}), capver {}", machine.ToText(), remote,
                   hs->protocol_version);
  bool send_early = early_payload && hs->protocol_version >= kEarlyPayloadCapVer;
  co_await (ServeNoise(impl, conn, machine, send_early, slot) ||
            PresessionDeadline(*impl, *slot, conn, remote));
  conn.Close();
}

awaitable<std::optional<http::Response>> HandleWebSocket(std::shared_ptr<ServerState> impl,
                                                         http::Request req, http::Upgrader& up) {
  auto param = req.Query("X-Tailscale-Handshake");
  if (!param) co_return http::Response::Text(400, "missing Tailscale handshake parameter");
  if (req.Header("Sec-WebSocket-Protocol").find(kControlProtocol) == std::string_view::npos) {
    co_return http::Response::Text(400, "client must speak the control subprotocol");
  }
  auto initiation = Base64Decode(*param);
  if (!initiation) co_return http::Response::Text(400, "invalid tailscale handshake parameter");
  if (!AdmitPresession(*impl, req.remote)) co_return http::Response::Text(503, "keel: too many handshakes in flight; retry later");
  auto ws = co_await up.AcceptWebSocket(std::string(kControlProtocol));
  if (!ws) co_return std::nullopt;
  co_await RunNoise(impl, std::move(*ws), std::move(*initiation), /*early_payload=*/false, req.remote);
  co_return std::nullopt;
}

awaitable<std::optional<http::Response>> HandleUpgrade(std::shared_ptr<ServerState> impl,
                                                       http::Request req, http::Upgrader& up) {
  std::string_view next = req.Header("Upgrade");
  if (up.IsWebSocket() || boost::iequals(next, "websocket")) {
    co_return co_await HandleWebSocket(impl, std::move(req), up);
  }
  if (next.empty()) co_return http::Response::Text(400, "missing next protocol");
  if (!boost::iequals(next, kControlProtocol)) co_return http::Response::Text(400, "unknown next protocol");
  std::string_view header = req.Header("X-Tailscale-Handshake");
  if (header.empty()) co_return http::Response::Text(400, "missing Tailscale handshake header");
  auto initiation = Base64Decode(header);
  if (!initiation) co_return http::Response::Text(400, "invalid tailscale handshake header");
  if (!AdmitPresession(*impl, req.remote)) co_return http::Response::Text(503, "keel: too many handshakes in flight; retry later");
  http::Headers headers;  // built outside the co_await: GCC 12 mishandles braced lists there
  headers.emplace_back("Upgrade", std::string(kControlProtocol));
  headers.emplace_back("Connection", std::string("upgrade"));
  auto raw = co_await up.Accept(std::move(headers));
  if (!raw) {
    impl->log->info("ts2021 upgrade from {} failed: {}", req.remote, raw.error().message);
    co_return std::nullopt;
  }
  co_await RunNoise(impl, std::move(*raw), std::move(*initiation), /*early_payload=*/true, req.remote);
  co_return std::nullopt;
}

// The host part of a URL ("https://hs.example.com:443/x" -> "hs.example.com").
std::string UrlHost(const std::string& url) {
  std::string_view rest = url;
  if (auto p = rest.find("://"); p != std::string_view::npos) rest.remove_prefix(p + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
  if (!rest.empty() && rest.front() == '[') return std::string(rest.substr(1, rest.find(']') - 1));
  return std::string(rest.substr(0, rest.find(':')));
}

// Every labelled series is exported from the start, at zero, rather than from its first event.
void ExportMetrics() {
  for (const char* result : {"ok", "failed", "too_old"}) metrics::Handshakes(result);
  for (const char* outcome : {"authorized", "node_key_expired", "logged_out", "refused", "error"}) {
    metrics::Registrations(outcome);
  }
  metrics::MapStreams();
  metrics::MapResponses();
  metrics::MapResponseBytes();
}

}  // namespace

struct ControlServer::Impl : ServerState {
  using ServerState::ServerState;
};

ServerState::ServerState(Settings s, ServerKeys k, tailnet::Tailnet& t, asio::thread_pool& p,
                          asio::any_io_executor e, std::shared_ptr<spdlog::logger> l)
    : settings(std::move(s)),
      keys(std::move(k)),
      noise_public(crypto::PublicFromPrivate(keys.noise)),
      legacy_public(crypto::PublicFromPrivate(keys.legacy)),
      tailnet(t),
      pool(p),
      io(std::move(e)),
      log(std::move(l)),
      cache(settings.base_domain),
      keepalive_zstd(EncodeFrame(tailcfg::kKeepAliveJson, true)),
      keepalive_raw(EncodeFrame(tailcfg::kKeepAliveJson, false)),
      ha_timer(io) {
  ExportMetrics();
  Reconfigure();
}

void ServerState::Reconfigure() {
  map_config.domain = UrlHost(settings.server_url);
  map_config.base_domain = settings.base_domain;
  map_config.dns = settings.dns;
  int dropped = 0;
  map_config.derp_map = tailcfg::WithoutEmptyRegions(settings.derp_map, &dropped);
  if (dropped > 0) log->warn("DERP map: left out {} region(s) with no nodes, which older clients cannot handle", dropped);
  static_fields = RenderStaticFields(map_config);
  MapConfig unpinned = map_config;
  unpinned.derp_map = tailcfg::WithoutCertPins(map_config.derp_map);
  static_fields_unpinned = RenderStaticFields(unpinned);
}

void ServerState::ResendAll() {
  Reconfigure();
  for (auto& [id, session] : sessions) {
    session->pending.MarkFull();
    session->Wake();
  }
}

void ServerState::OnChanges(const tailnet::Snapshot& snapshot, const tailnet::Changes& changes) {
  // SSH check approvals hold for the policy they were given under; recompiles of the same
  // policy after tailnet changes keep them.
  const void* policy = snapshot.policy ? snapshot.policy->policy().get() : nullptr;
  if (auth && policy != approvals_policy) {
    auth->ForgetApprovals();
    approvals_policy = policy;
  }
  for (const auto& c : changes) {
    if (c.kind == tailnet::ChangeKind::kNodeRemoved) cache.Erase(c.node);
  }
  for (auto& [id, session] : sessions) {
    if (snapshot.version <= session->rendered_version) continue;
    session->pending.Merge(changes);
    session->Wake();
  }
}

void ServerState::Shutdown() {
  shut_down = true;
  ha_timer.cancel();
  if (subscription) tailnet.Unsubscribe(std::exchange(subscription, 0));
  for (auto& [id, session] : sessions) {
    session->stop = true;
    session->Interrupt();
  }
}

bool ServerState::TakeRequestBudget(const crypto::MachinePublic& machine, bool update) {
  // Sweeping when the map doubles keeps it near the number of recently busy machines.
  static constexpr size_t kSweepFloor = 1024;
  if (request_budgets.size() >= std::max(kSweepFloor, 2 * budgets_after_sweep)) {
    auto now = std::chrono::steady_clock::now();
    std::erase_if(request_budgets, [&](const auto& e) { return e.second.updates.Full(now) && e.second.any.Full(now); });
    budgets_after_sweep = request_budgets.size();
  }
  const Limits& lim = settings.limits;
  auto it = request_budgets.find(machine);
  if (it == request_budgets.end()) {
    RequestBudget fresh{TokenBucket(lim.request_rate, lim.request_burst),
                        TokenBucket(lim.any_request_rate, lim.any_request_burst)};
    it = request_budgets.emplace(machine, fresh).first;
  }
  auto now = std::chrono::steady_clock::now();
  if (!it->second.any.Take(now)) return false;
  return !update || it->second.updates.Take(now);
}

bool ServerState::FirstRefusalThisHour(const crypto::MachinePublic& machine) {
  // Past this many refused machines in an hour (a flood of fresh keys) keel stops logging them.
  constexpr size_t kMaxRemembered = 1 << 14;
  auto now = std::chrono::steady_clock::now();
  std::erase_if(refusals_logged, [&](const auto& e) { return now - e.second >= std::chrono::hours(1); });
  if (refusals_logged.size() >= kMaxRemembered) return false;
  return refusals_logged.try_emplace(machine, now).second;
}

std::chrono::steady_clock::duration ServerState::KeepAliveDelay() {
  std::uniform_int_distribution<int> jitter_ms(0, 9000);
  return settings.keepalive_interval + std::chrono::milliseconds(jitter_ms(rng));
}

ControlServer::ControlServer(Settings settings, ServerKeys keys, tailnet::Tailnet& tailnet,
                             asio::thread_pool& pool, asio::any_io_executor io,
                             std::shared_ptr<spdlog::logger> logger)
    : impl_(std::make_shared<Impl>(std::move(settings), std::move(keys), tailnet, pool, io,
                                   std::move(logger))) {
  if (impl_->noise_public == impl_->legacy_public) {
    throw std::invalid_argument("control: the Noise key and the legacy key must differ");
  }
  std::weak_ptr<Impl> weak = impl_;
  impl_->subscription = tailnet.Subscribe(
      io, [weak](std::shared_ptr<const tailnet::Snapshot> snap, const tailnet::Changes& changes) {
        if (auto impl = weak.lock()) impl->OnChanges(*snap, changes);
      });
  if (impl_->settings.ha_probe_interval.count() > 0) {
    asio::co_spawn(io, RunHaProber(impl_), asio::detached);
  }
}

ControlServer::~ControlServer() { impl_->Shutdown(); }

void ControlServer::RegisterRoutes(http::Router& router) {
  auto impl = impl_;
  router.Handle("/key", [impl](http::Request req) { return HandleKey(impl, std::move(req)); });
  router.HandleUpgrade("/ts2021", [impl](http::Request req, http::Upgrader& up) {
    return HandleUpgrade(impl, std::move(req), up);
  });
  RegisterLegacyRoutes(impl, router);
}

void ControlServer::SetDerpMap(nlohmann::json derp_map) {
  asio::post(impl_->io, [impl = impl_, m = std::move(derp_map)]() mutable {
    impl->settings.derp_map = std::move(m);
    impl->ResendAll();
  });
}

void ControlServer::SetAuthRequests(tailnet::AuthRequests& auth) {
  asio::post(impl_->io, [impl = impl_, a = &auth] { impl->auth = a; });
}

void ControlServer::SetDns(DnsSettings dns) {
  asio::post(impl_->io, [impl = impl_, d = std::move(dns)]() mutable {
    impl->settings.dns = std::move(d);
    impl->ResendAll();
  });
}

void ControlServer::Shutdown() { impl_->Shutdown(); }

}  // namespace keel::control
