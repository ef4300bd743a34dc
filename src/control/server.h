#pragma once
// ControlServer: the Tailscale control API — GET /key, the /ts2021 upgrade (Noise IK, then
// HTTP/2 inside it), /machine/register, /machine/map long-poll sessions and the small
// /machine/* helpers. Turns requests into tailnet calls and tailnet changes into MapResponses.
// Threading: construct, RegisterRoutes and Shutdown on the I/O executor; sessions live there;
// blocking tailnet calls and the compression of large frames go to the worker pool (maps are
// built on the I/O thread: PeerCache has no lock).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <spdlog/logger.h>
#include <string>
#include <vector>

#include "control/map_builder.h"
#include "crypto/keys.h"
#include "http/server.h"
#include "tailnet/auth_requests.h"
#include "tailnet/tailnet.h"

namespace keel::control {

// Bounds on what one client may make the control server hold or do. Each limit that trips is
// counted in keel_limit_trips_total{limit=...} and logged, rate-limited (base/limits.h).
struct Limits {
  // ts2021 connections past the upgrade whose first HTTP/2 request has not arrived yet (Noise
  // handshake and HTTP/2 preface in flight). Past it, upgrades get 503 (limit
  // "ts2021_presession"). A joining node is in this phase for about one round trip, so even
  // hundreds of registrations in flight stay far below.
  size_t max_presession = 2048;
  // The whole pre-session phase, from the upgrade to the first complete HTTP/2 request; a
  // client that upgrades and then sends nothing is dropped after it (limit
  // "ts2021_presession_timeout"). config: tuning.presession_timeout.
  std::chrono::seconds presession_timeout{15};
  // Per machine key, two token buckets: register and map requests (request_rate a second,
  // bursts of request_burst), and any request at all on /machine/* (any_request_rate,
  // any_request_burst). Over either, the request is held for throttle_delay and answered 429
  // (limit "machine_request_rate"): holding it, rather than answering at once, caps a flooding
  // client at max_concurrent_streams requests per throttle_delay per connection. tailscaled
  // sends a handful on start-up and one per network or endpoint change, so it never comes
  // close. config: tuning.machine_request_rate / tuning.machine_request_burst.
  double request_rate = 10;
  double request_burst = 20;
  double any_request_rate = 50;
  double any_request_burst = 100;
  std::chrono::milliseconds throttle_delay{1000};
  // Bytes a map stream may have queued unsent (its client reads slowly or its flow-control
  // window is closed). While full, changes only merge into one later delta.
  size_t max_stream_queue = 1 << 20;
  // A map stream whose queue has stayed full this long is reset (limit "map_slow_reader"),
  // freeing the queue; the client reconnects and gets a full map.
  // config: tuning.slow_reader_timeout.
  std::chrono::seconds slow_reader_timeout{60};
  // A Noise connection whose socket accepts no bytes for this long is closed (limit
  // "h2_write_stall").
  std::chrono::seconds write_stall_timeout{60};
};

struct Settings {
  std::string server_url = "http://127.0.0.1:8080";
  std::string base_domain = "keel.internal";  // MagicDNS suffix: <given_name>.<base_domain>.
  DnsSettings dns;
  nlohmann::json derp_map = nlohmann::json::object();  // tailcfg.DERPMap ({"Regions": {...}})
  // Oldest client capability version served (88 = v1.62; config capability_floor). Older
  // clients are refused with a readable message.
  int min_cap_version = 88;
  // Keep-alive period on map streams; a random 0-9 s jitter is added.
  std::chrono::seconds keepalive_interval{50};
  // node.routes.ha: how often routers sharing a subnet prefix are pinged (0: never), and how
  // long each may take to answer before the tailnet moves its primary routes.
  std::chrono::seconds ha_probe_interval{10};
  std::chrono::seconds ha_probe_timeout{5};
  Limits limits;
};

struct ServerKeys {
  crypto::PrivateKey noise;   // the TS2021 control key (Noise responder static)
  crypto::PrivateKey legacy;  // the TS2019 NaCl key; must differ from `noise`
};

class ControlServer {
 public:
  // `tailnet` and `pool` must outlive the server.
  ControlServer(Settings settings, ServerKeys keys, tailnet::Tailnet& tailnet,
                boost::asio::thread_pool& pool, boost::asio::any_io_executor io,
                std::shared_ptr<spdlog::logger> logger);
  ~ControlServer();

  // Adds /key, /ts2021 and any other control routes to `router`.
  void RegisterRoutes(http::Router& router);

  // Replaces the DERP map and pushes it to every connected node.
  void SetDerpMap(nlohmann::json derp_map);
  // Replaces the DNS settings and pushes them to every connected node.
  void SetDns(DnsSettings dns);
  // Serves interactive logins (an AuthURL, then a held follow-up) and Tailscale SSH "check"
  // actions, each waiting for a verdict in `auth` (which must outlive the server). Without it,
  // registrations need a pre-auth key and checked SSH connections are refused.
  void SetAuthRequests(tailnet::AuthRequests& auth);

  // Ends every map session (clients reconnect to whoever serves next).
  void Shutdown();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Loads a DERP map file in Headscale's format (YAML or JSON: "regions" -> id -> {regionid,
// regioncode, regionname, nodes: [{name, regionid, hostname, ipv4, ipv6, stunport, stunonly,
// derpport, insecurefortests, canport80, certname}]}) and returns it as tailcfg.DERPMap JSON.
Result<nlohmann::json> LoadDerpMapFile(const std::string& path);

// Merges regions of `other` into `base` (later files win for the same region id).
void MergeDerpMaps(nlohmann::json& base, const nlohmann::json& other);

}  // namespace keel::control
