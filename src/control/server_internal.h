#pragma once
// Internals of ControlServer shared by server.cc (routes, /key, /ts2021) and machine.cc
// (the /machine/* handlers and map sessions). Threading: everything here lives on the I/O
// executor; only the lambdas given to RunBlocking run on the pool.

#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <map>
#include <random>
#include <unordered_set>

#include "base/limits.h"
#include "control/map_builder.h"
#include "control/server.h"
#include "http/h2_server.h"
#include "tailcfg/encode.h"
#include "tailnet/auth_requests.h"

namespace keel::control {

// One /machine/map long poll.
struct MapSession {
  explicit MapSession(boost::asio::any_io_executor ex) : timer(ex) {}
  model::NodeId node = 0;
  int capver = 0;  // the client's capability version, which decides what it is sent
  bool ts2019 = false;  // a legacy client: it cannot answer pings over Noise
  PendingChanges pending;
  PeerView view;  // policy-dependent state last sent (peers, filters, SSH policy)
  uint64_t rendered_version = 0;  // snapshot of the last full map; older changes are in it
  boost::asio::steady_timer timer;  // keep-alive deadline; cancel() wakes the session early
  std::vector<std::string> ping_urls;  // PingRequests to send (ha_probe.cc)
  bool stop = false;
  // Deltas are paced by a token bucket (machine.cc kDeltaPeriod): next_delta is when the bucket
  // next holds a token, and `batching` says the session waits for it, so new changes only
  // merge and the timer ends the wait.
  std::chrono::steady_clock::time_point next_delta{};
  bool batching = false;
  void Wake() {
    if (!batching) timer.cancel();
  }
  void Interrupt() { timer.cancel(); }
};

// ControlServer::Impl derives from this; a public name keeps it reachable from free functions.
struct ServerState {
  ServerState(Settings s, ServerKeys k, tailnet::Tailnet& t, boost::asio::thread_pool& p,
       boost::asio::any_io_executor e, std::shared_ptr<spdlog::logger> l);

  void Reconfigure();  // re-renders what depends on settings
  void ResendAll();    // Reconfigure, then every session gets a full map
  void OnChanges(const tailnet::Snapshot& snapshot, const tailnet::Changes& changes);
  void Shutdown();
  std::chrono::steady_clock::duration KeepAliveDelay();
  // Whether a refusal of `machine` is the first in the past hour, so worth logging: refused
  // clients retry every few seconds.
  bool FirstRefusalThisHour(const crypto::MachinePublic& machine);

  Settings settings;
  ServerKeys keys;
  crypto::MachinePublic noise_public;
  crypto::MachinePublic legacy_public;
  tailnet::Tailnet& tailnet;
  boost::asio::thread_pool& pool;
  boost::asio::any_io_executor io;
  std::shared_ptr<spdlog::logger> log;

  MapConfig map_config;
  std::string static_fields;
  std::string static_fields_unpinned;  // for clients before tailcfg::kCertPinCapVer
  PeerCache cache;
  // The last delta framed and its frame: a change fanned out to every session mostly yields
  // the same delta for each, which is then compressed once, not once per session.
  struct SharedFrame {
    bool zstd = false;
    std::string json;
    std::string frame;
  } last_delta;
  std::string keepalive_zstd;
  std::string keepalive_raw;
  std::map<uint64_t, std::shared_ptr<MapSession>> sessions;
  uint64_t next_session_id = 1;
  uint64_t subscription = 0;
  bool shut_down = false;
  std::mt19937 rng{std::random_device{}()};
  // Pending logins and Tailscale SSH checks (ControlServer::SetAuthRequests); null: both are
  // refused.
  tailnet::AuthRequests* auth = nullptr;
  // The policy whose SSH approvals AuthRequests remembers; a new policy forgets them.
  const void* approvals_policy = nullptr;
  // HA probes awaiting their HEAD (ha_probe.cc): ping id -> node, and whether it answered.
  struct Ping {
    model::NodeId node = 0;
    bool answered = false;
  };
  std::map<uint64_t, Ping> pings;
  boost::asio::steady_timer ha_timer;
  uint64_t next_ping_id = 0;  // starts random, so a restarted server's URLs are new to clients
  std::map<crypto::MachinePublic, std::chrono::steady_clock::time_point> refusals_logged;
  // Nonces of the TS2019 boxes opened lately, against replay (legacy.cc).
  std::unordered_set<std::string> legacy_nonces;
  std::deque<std::string> legacy_nonce_order;
  // ts2021 connections in their pre-session phase (Limits::max_presession).
  size_t presession = 0;
  // Request budgets per machine (Limits::request_rate); full ones are swept now and then.
  struct RequestBudget {
    TokenBucket updates;  // register and map
    TokenBucket any;
  };
  std::map<crypto::MachinePublic, RequestBudget> request_budgets;
  size_t budgets_after_sweep = 0;
  // Whether `machine` may make one more request now; `update`: a register or map request.
  bool TakeRequestBudget(const crypto::MachinePublic& machine, bool update);
};

// Responds with a plain-text (or JSON) body and finishes the stream.
void Reply(http::H2Stream& stream, int status, const std::string& body,
           const char* content_type = "text/plain; charset=utf-8");

// The RegisterResponse for a tailnet outcome (machine.cc); kLoginRequired gives an empty one.
tailcfg::RegisterResponse ToRegisterResponse(const tailnet::RegisterOutcome& out);

// A register request that needs someone to log in (login.cc, control.md §1.3 B). A first
// request gets an AuthURL on keel's /register/<auth-id>; a follow-up naming it waits until the
// login is completed, rejected or expires, and gets the outcome (or a fresh AuthURL).
boost::asio::awaitable<tailcfg::RegisterResponse> HandleLogin(
    std::shared_ptr<ServerState> impl, std::shared_ptr<tailnet::RegisterInput> input,
    std::string followup, std::shared_ptr<http::H2Stream> stream);

// Waits until `r` is decided or expires, or the stream waiting on it closes (which cancels the
// caller's coroutine); login.cc.
boost::asio::awaitable<void> AwaitVerdict(ServerState& impl,
                                          const tailnet::AuthRequests::Request& r);

inline constexpr std::string_view kSshActionPath = "/machine/ssh/action/";

// GET /machine/ssh/action/<src>/to/<dst>?local_user=U[&auth_id=ID] (ssh_action.cc): the
// destination's tailscaled asking what to do with an SSH connection a "check" rule holds.
boost::asio::awaitable<void> HandleSshAction(std::shared_ptr<ServerState> impl,
                                             crypto::MachinePublic machine, http::Request req,
                                             std::shared_ptr<http::H2Stream> stream);

inline constexpr std::string_view kPingResponsePath = "/machine/ping-response";

// Probes the routers that share a subnet prefix with another router every
// Settings::ha_probe_interval, and reports to the tailnet which answered (ha_probe.cc).
boost::asio::awaitable<void> RunHaProber(std::shared_ptr<ServerState> impl);

// HEAD /machine/ping-response?id=N: a node answering a probe's PingRequest.
void HandlePingResponse(ServerState& impl, const crypto::MachinePublic& machine,
                        const http::Request& req, http::H2Stream& stream);

// POST /machine/<machine-key-hex>[/map]: the TS2019 endpoints (legacy.cc).
void RegisterLegacyRoutes(std::shared_ptr<ServerState> impl, http::Router& router);

// Serves one request of `machine`: an HTTP/2 request on its Noise connection, or an opened
// TS2019 request.
boost::asio::awaitable<void> ServeMachine(std::shared_ptr<ServerState> impl,
                                          crypto::MachinePublic machine, http::Request req,
                                          std::shared_ptr<http::H2Stream> stream, bool ts2019 = false);

}  // namespace keel::control
