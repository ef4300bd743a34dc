#pragma once
// App: the wiring of `keel serve`. Builds every component from a Config — data directories,
// the server keys (Noise, legacy, DERP), the SQLite store, the tailnet, the embedded DERP
// relay (TLS + STUN listeners), the DERP map, the control server, the HTTP listener (control
// routes, plain-HTTP /derp, /health) and the admin API on the unix socket — and owns
// the threads: one io_context thread for all I/O and a 2-thread pool for blocking work.
//
// Threading: Create, Start, Wait and the destructor from one owner thread; Stop from any
// thread (and from the SIGINT/SIGTERM handler). Shutdown order: stop accepting, stop the
// DERP relay and STUN, end map sessions (ControlServer::Shutdown), stop both servers, drain the io_context (with a
// deadline), join the pool, then destroy services in reverse order of construction.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <spdlog/logger.h>
#include <thread>

#include "app/db_lock.h"
#include "base/clock.h"
#include "base/result.h"
#include "config/config.h"
#include "crypto/keys.h"
#include "http/message.h"

namespace keel::store {
class SqliteStore;
}
namespace keel::tailnet {
class AuthRequests;
class Tailnet;
}
namespace keel::control {
class ControlServer;
struct DnsSettings;
}
namespace keel::api {
class AdminApi;
class ApiKeys;
}
namespace keel::login {
class OidcLogin;
class RegisterPage;
}
namespace prometheus {
class Collectable;
}
namespace keel::http {
class Router;
class Server;
}  // namespace keel::http

namespace keel::app {

class EmbeddedDerp;
class FileWatch;

struct Options {
  // Install SIGINT/SIGTERM handlers that call Stop() (off in tests).
  bool handle_signals = true;
  // How long Wait() lets sessions drain after Stop() before abandoning them.
  std::chrono::seconds shutdown_deadline{10};
  // The config file, re-read on SIGHUP for its dns section; empty: no such reload.
  std::string config_path;
};

class App {
 public:
  // Builds everything and binds both listeners; no thread runs yet. Errors are for the
  // operator (bad key file, port in use, unusable database...).
  static Result<std::unique_ptr<App>> Create(const config::Config& config, Options options = {});
  ~App();

  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Starts the I/O thread.
  void Start();
  // Begins a graceful shutdown; idempotent, thread-safe.
  void Stop();
  // Blocks until Stop() (or a signal) and the shutdown that follows have finished.
  void Wait();

  // The bound TCP port (useful with listen_addr port 0).
  uint16_t http_port() const { return http_port_; }
  // The bound /metrics port (metrics_listen_addr); 0 when metrics are off.
  uint16_t metrics_port() const { return metrics_port_; }
  const std::string& unix_socket() const { return config_.unix_socket; }
  // The embedded relay's bound TLS (DERP) and UDP (STUN) ports; 0 when it is off.
  uint16_t derp_port() const;
  uint16_t stun_port() const;
  // The DERP map served to clients.
  const nlohmann::json& derp_map() const { return derp_map_; }
  // Rebuilds the DERP map from derp.paths and the embedded region (SIGHUP does this); when it
  // changed, every connected node gets the new map. A bad file keeps the old map. Call on the
  // I/O thread, or before Start().
  Result<void> ReloadDerpMap();

 private:
  App(const config::Config& config, Options options);
  Result<void> Init();
  Result<void> OpenState();
  Result<void> BuildDerp(const crypto::PrivateKey& noise, const crypto::PrivateKey& legacy);
  Result<void> BuildServers();
  // (app_oidc.cc) oidc.*: the identity provider's login, when oidc.issuer is set. Reads the
  // provider's discovery document and keys first; when they cannot be read keel refuses to
  // start, unless oidc.only_start_if_oidc_is_available is false.
  Result<void> BuildOidcLogin();
  // metrics_listen_addr: GET /metrics in Prometheus' text format.
  Result<void> BuildMetricsServer();
  // GET /health: Headscale's {"status": "pass"|"fail"} (application/health+json), "fail" with
  // 500 when the database does not answer.
  boost::asio::awaitable<http::Response> HealthReply();
  void ShutdownOnIoThread();
  // policy.path in file mode (app_policy.cc): applied at start; SIGHUP reloads it.
  Result<void> LoadPolicyFile();
  void WatchPolicyReload();
  // (app_dns.cc) The DNS clients get: dns.* of config_ and the extra_records_path records.
  control::DnsSettings DnsSettingsNow() const;
  // (app_dns.cc) Reads dns.extra_records_path into file_records_; a missing file is no records.
  Result<void> LoadExtraRecords();
  // (app_dns.cc) Watches dns.extra_records_path and pushes its records when it changes.
  Result<void> WatchExtraRecords();
  // (app_dns.cc) SIGHUP: re-reads the config file's dns section (not base_domain, which names
  // every node) and pushes the result; a bad file keeps the old settings.
  Result<void> ReloadDns();
  // (maintenance.cc) Runs the tailnet's periodic maintenance (ephemeral nodes past their
  // inactivity timeout) on the worker pool, every MaintenanceInterval() until shutdown.
  void ScheduleMaintenance();

  config::Config config_;
  Options options_;
  std::shared_ptr<spdlog::logger> logger_;
  RealClock clock_;

  // Declared first so it is destroyed last: everything below may hold handlers on it.
  boost::asio::io_context io_;
  boost::asio::thread_pool pool_{2};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::optional<DatabaseLock> db_lock_;  // held while store_ is open
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<tailnet::Tailnet> tailnet_;
  std::unique_ptr<tailnet::AuthRequests> auth_requests_;  // pending SSH checks
  // Before the HTTP server, which carries the relay's plain-HTTP routes: destroyed after it.
  std::unique_ptr<EmbeddedDerp> derp_;
  nlohmann::json derp_map_;
  std::unique_ptr<control::ControlServer> control_;
  std::unique_ptr<api::ApiKeys> api_keys_;
  std::unique_ptr<api::AdminApi> api_;
  std::unique_ptr<login::OidcLogin> oidc_login_;  // null without oidc.issuer
  std::unique_ptr<login::RegisterPage> register_page_;
  std::unique_ptr<http::Router> http_router_;
  std::unique_ptr<http::Router> admin_router_;
  std::unique_ptr<http::Server> http_server_;
  std::unique_ptr<http::Server> admin_server_;
  std::shared_ptr<prometheus::Collectable> scrape_;  // values read at scrape time
  std::unique_ptr<http::Router> metrics_router_;
  std::unique_ptr<http::Server> metrics_server_;
  uint16_t metrics_port_ = 0;
  std::optional<boost::asio::signal_set> signals_;
  std::optional<boost::asio::signal_set> reload_signals_;  // SIGHUP
  std::optional<boost::asio::steady_timer> maintenance_timer_;
  std::vector<config::DnsRecord> file_records_;  // from dns.extra_records_path
  std::unique_ptr<FileWatch> records_watch_;
  std::atomic<bool> maintenance_running_{false};
  uint16_t http_port_ = 0;
  std::thread io_thread_;

  std::mutex mu_;  // guards the following fields
  std::condition_variable cv_;
  bool stop_requested_ = false;
  bool io_done_ = false;
};

}  // namespace keel::app
