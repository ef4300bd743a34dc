#include "app/app.h"

#include <unistd.h>

#include <boost/asio/post.hpp>
#include <csignal>

#include "api/admin_api.h"
#include "app/app_metrics.h"
#include "app/embedded_derp.h"
#include "app/file_watch.h"
#include "app/keys.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/run_blocking.h"
#include "control/server.h"
#include "http/server.h"
#include "login/register_page.h"
#include "store/sqlite_store.h"
#include "tailnet/auth_requests.h"
#include "tailnet/tailnet.h"

namespace keel::app {
namespace {

tailnet::Settings TailnetSettings(const config::Config& c) {
  tailnet::Settings s;
  s.prefix_v4 = c.prefixes.v4;
  s.prefix_v6 = c.prefixes.v6;
  s.ephemeral_inactivity_timeout = c.ephemeral_node_inactivity_timeout;
  s.node_expiry = c.node_expiry;
  s.load_stored_policy = c.policy.mode == "database";
  s.provider_policy_groups = c.oidc.policy_groups;
  return s;
}

control::Settings ControlSettings(const config::Config& c) {
  control::Settings s;
  s.server_url = c.server_url;
  s.base_domain = c.dns.base_domain;
  s.ha_probe_interval = c.ha_probe_interval;
  s.min_cap_version = c.capability_floor;
  s.ha_probe_timeout = c.ha_probe_timeout;
  s.limits.presession_timeout = c.presession_timeout;
  s.limits.slow_reader_timeout = c.slow_reader_timeout;
  s.limits.request_rate = c.machine_request_rate;
  s.limits.request_burst = c.machine_request_burst;
  return s;
}

// LoadOrCreateKey, with errors naming the config key that gave `path`.
Result<crypto::PrivateKey> LoadKey(const std::string& config_key, const std::string& path,
                                   spdlog::logger& logger) {
  auto key = LoadOrCreateKey(path, logger);
  if (!key) return MakeError(key.error().code, config_key + ": " + key.error().message);
  return key;
}

}  // namespace

Result<std::unique_ptr<App>> App::Create(const config::Config& config, Options options) {
  std::unique_ptr<App> app(new App(config, options));
  KEEL_TRY(app->Init());
  return app;
}

App::App(const config::Config& config, Options options)
    : config_(config), options_(options), logger_(GetLogger("keel")) {}

App::~App() {
  if (io_thread_.joinable()) {
    Stop();
    Wait();
  }
  pool_.join();
}

Result<void> App::Init() {
  if (!SetLogLevel(config_.log.level)) {
    return MakeError(Errc::kInvalidArgument, "log.level: unknown level " + config_.log.level);
  }
  if (config_.tls_cert_path.empty() != config_.tls_key_path.empty()) {
    return MakeError(Errc::kInvalidArgument,
                     "tls_cert_path and tls_key_path go together: set both to serve TLS on "
                     "listen_addr, or neither");
  }
  if (!SetLogFormat(config_.log.format)) {
    return MakeError(Errc::kInvalidArgument, "log.format: unknown format " + config_.log.format);
  }
  for (const auto& w : config_.warnings) logger_->warn("{}", w);
  KEEL_TRY(OpenState());
  KEEL_TRY(BuildServers());
  KEEL_TRY(WatchExtraRecords());
  ScheduleMaintenance();
  if (options_.handle_signals) {
    signals_.emplace(io_, SIGINT, SIGTERM);
    signals_->async_wait([this](const boost::system::error_code& ec, int signo) {
      if (ec) return;
      logger_->info("received signal {}, shutting down", signo);
      Stop();
    });
    WatchPolicyReload();
  }
  return {};
}

// Keys, database and tailnet state: everything that lives on disk.
Result<void> App::OpenState() {
  auto noise = LoadKey("noise.private_key_path", config_.noise.private_key_path, *logger_);
  if (!noise) return noise.error();
  auto legacy = LoadKey("private_key_path", config_.private_key_path, *logger_);
  if (!legacy) return legacy.error();
  if (*noise == *legacy) {
    return MakeError(Errc::kInvalidArgument,
                     "noise.private_key_path and private_key_path hold the same key; they must "
                     "differ (remove one file to generate a new key)");
  }
  KEEL_TRY(EnsureParentDir(config_.database.sqlite.path));
  if (config_.database.sqlite.path != ":memory:") {
    auto lock = DatabaseLock::Acquire(config_.database.sqlite.path);
    if (!lock) return lock.error();
    db_lock_.emplace(std::move(*lock));
  }
  auto store = store::SqliteStore::Open(config_.database.sqlite.path);
  if (!store) return store.error();
  store_ = std::move(*store);
  tailnet_ = std::make_unique<tailnet::Tailnet>(TailnetSettings(config_), *store_, clock_,
                                                GetLogger("tailnet"));
  KEEL_TRY(tailnet_->Load());
  api_keys_ = std::make_unique<api::ApiKeys>(*store_, clock_);
  KEEL_TRY(api_keys_->Load());
  auth_requests_ = std::make_unique<tailnet::AuthRequests>(clock_, config_.auth_request_timeout);
  KEEL_TRY(LoadPolicyFile());

  KEEL_TRY(BuildDerp(*noise, *legacy));
  auto derp_map =
      BuildDerpMap(config_, derp_ ? derp_->region() : nlohmann::json(), *logger_);
  if (!derp_map) return derp_map.error();
  if ((*derp_map)["Regions"].empty()) {
    logger_->warn("the DERP map is empty (no derp.paths, embedded DERP off): clients can "
                  "only connect directly");
  }
  derp_map_ = *derp_map;
  control::Settings settings = ControlSettings(config_);
  KEEL_TRY(LoadExtraRecords());
  settings.dns = DnsSettingsNow();
  settings.derp_map = std::move(*derp_map);
  control_ = std::make_unique<control::ControlServer>(
      std::move(settings), control::ServerKeys{*noise, *legacy}, *tailnet_, pool_,
      io_.get_executor(), GetLogger("control"));
  control_->SetAuthRequests(*auth_requests_);
  return {};
}

// The embedded relay: its own key, TLS and STUN listeners, and admission by node key.
Result<void> App::BuildDerp(const crypto::PrivateKey& noise, const crypto::PrivateKey& legacy) {
  const config::DerpServerConfig& c = config_.derp.server;
  if (!c.enabled) return {};
  auto key = LoadKey("derp.server.private_key_path", c.private_key_path, *logger_);
  if (!key) return key.error();
  if (*key == noise || *key == legacy) {
    return MakeError(Errc::kInvalidArgument,
                     "derp.server.private_key_path holds the same key as noise.private_key_path "
                     "or private_key_path; they must differ (remove it to generate a new key)");
  }
  std::function<bool(const crypto::NodePublic&)> admit;
  if (c.verify_clients) {
    admit = [this](const crypto::NodePublic& node_key) {
      auto snapshot = tailnet_->snapshot();
      const model::Node* node = snapshot->FindByNodeKey(node_key);
      return node != nullptr && !node->IsExpired(clock_.Now());
    };
  }
  auto derp = EmbeddedDerp::Create(c, *key, io_.get_executor(), std::move(admit));
  if (!derp) return derp.error();
  derp_ = std::move(*derp);
  logger_->info("embedded DERP region {} on tls://{}:{}, STUN on udp port {}", c.region_id,
                c.AdvertisedHostname(), derp_->derp_port(),
                c.stun_listen_addr ? std::to_string(derp_->stun_port()) : "(off)");
  return {};
}

uint16_t App::derp_port() const { return derp_ ? derp_->derp_port() : 0; }
uint16_t App::stun_port() const { return derp_ ? derp_->stun_port() : 0; }

Result<void> App::BuildMetricsServer() {
  if (!config_.metrics_listen_addr) return {};
  std::function<derp::RelayStats()> relay;
  std::function<derp::StunStats()> stun;
  if (derp_) {
    relay = [this] { return derp_->relay().stats(); };
    if (derp_->stun()) stun = [this] { return derp_->stun()->stats(); };
  }
  scrape_ = std::make_shared<ScrapeCollector>(*tailnet_, std::move(relay), std::move(stun));
  metrics_router_ = std::make_unique<http::Router>();
  metrics_router_->Handle("/metrics", [this](http::Request) -> boost::asio::awaitable<http::Response> {
    co_return http::Response{200,
                             {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}},
                             metrics::Render({scrape_})};
  });
  metrics_server_ = std::make_unique<http::Server>(io_.get_executor(), *metrics_router_,
                                                   http::ServerSettings{}, GetLogger("metrics"));
  const config::ListenAddress& addr = *config_.metrics_listen_addr;
  auto port = metrics_server_->ListenTcp(addr.host, addr.port);
  if (!port) return MakeError(port.error().code, "metrics_listen_addr: " + port.error().message);
  metrics_port_ = *port;
  logger_->info("metrics on http://{}:{}/metrics", addr.host, metrics_port_);
  return {};
}

boost::asio::awaitable<http::Response> App::HealthReply() {
  auto r = co_await RunBlocking(pool_, [this] { return tailnet_->CheckStore(); });
  if (!r) logger_->warn("health check: database: {}", r.error().message);
  http::Response reply{r ? 200 : 500,
                       {{"Content-Type", "application/health+json; charset=utf-8"}},
                       nlohmann::json{{"status", r ? "pass" : "fail"}}.dump() + "\n"};
  co_return reply;
}

// Routers and listeners. TCP is bound first so a second `keel serve` on the same config fails
// there, before it could replace the running server's unix socket.
Result<void> App::BuildServers() {
  http_router_ = std::make_unique<http::Router>();
  control_->RegisterRoutes(*http_router_);
  if (derp_) derp_->RegisterRoutes(*http_router_);
  http_router_->Handle("/health", [this](http::Request) -> boost::asio::awaitable<http::Response> {
    co_return co_await HealthReply();
  });
  admin_router_ = std::make_unique<http::Router>();
  api_ = std::make_unique<api::AdminApi>(*tailnet_, *api_keys_, pool_, clock_, GetLogger("api"));
  if (config_.policy.mode == "file") api_->SetPolicyFileMode(config_.policy.path);
  api_->SetAuthRequests(*auth_requests_);
  api_->RegisterRoutes(*admin_router_, /*require_key=*/false);
  api_->RegisterRoutes(*http_router_, /*require_key=*/true);
  KEEL_TRY(BuildOidcLogin());
  register_page_ = std::make_unique<login::RegisterPage>(*auth_requests_, oidc_login_.get());
  register_page_->RegisterRoutes(*http_router_);

  http_server_ = std::make_unique<http::Server>(io_.get_executor(), *http_router_,
                                                http::ServerSettings{}, GetLogger("http"));
  bool tls = !config_.tls_cert_path.empty();
  auto port = tls ? http_server_->ListenTls(config_.listen_addr.host, config_.listen_addr.port,
                                            config_.tls_cert_path, config_.tls_key_path)
                  : http_server_->ListenTcp(config_.listen_addr.host, config_.listen_addr.port);
  if (!port) {
    return MakeError(port.error().code,
                     std::string(port.error().code == Errc::kInvalidArgument && tls
                                     ? "tls_cert_path/tls_key_path"
                                     : "listen_addr") +
                         ": " + port.error().message);
  }
  if (tls && config_.server_url.rfind("https://", 0) != 0) {
    logger_->warn("tls_cert_path is set but server_url {} is not https://: clients are told to "
                  "speak plain HTTP to a TLS listener",
                  config_.server_url);
  }
  http_port_ = *port;

  KEEL_TRY(EnsureParentDir(config_.unix_socket));
  admin_server_ = std::make_unique<http::Server>(io_.get_executor(), *admin_router_,
                                                 http::ServerSettings{}, GetLogger("admin"));
  auto unix = admin_server_->ListenUnix(config_.unix_socket, config_.unix_socket_permission);
  if (!unix) return MakeError(unix.error().code, "unix_socket: " + unix.error().message);

  KEEL_TRY(BuildMetricsServer());

  std::string host = config_.listen_addr.host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  logger_->info("keel listening on {}://{}:{} (control), admin API on unix:{}",
                tls ? "https" : "http", host, http_port_, config_.unix_socket);
  return {};
}

void App::Start() {
  work_.emplace(io_.get_executor());
  io_thread_ = std::thread([this] {
    for (;;) {
      // A throwing handler is a bug in one task; keep serving everyone else.
      try {
        io_.run();
        break;
      } catch (const std::exception& e) {
        logger_->error("unhandled exception on the I/O thread: {}", e.what());
      }
    }
    std::lock_guard lock(mu_);
    io_done_ = true;
    cv_.notify_all();
  });
}

void App::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_requested_) return;
    stop_requested_ = true;
    cv_.notify_all();
  }
  boost::asio::post(io_, [this] { ShutdownOnIoThread(); });
}

void App::ShutdownOnIoThread() {
  logger_->info("shutting down");
  if (signals_) signals_->cancel();
  if (reload_signals_) reload_signals_->cancel();
  if (maintenance_timer_) maintenance_timer_->cancel();
  if (records_watch_) records_watch_->Stop();
  http_server_->Stop();
  if (derp_) derp_->Stop();
  control_->Shutdown();
  admin_server_->Stop();
  if (metrics_server_) metrics_server_->Stop();
  ::unlink(config_.unix_socket.c_str());
  work_.reset();
}

void App::Wait() {
  if (!io_thread_.joinable()) return;
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return stop_requested_ || io_done_; });
  if (!cv_.wait_for(lock, options_.shutdown_deadline, [this] { return io_done_; })) {
    logger_->warn("sessions did not end within {}s; abandoning them",
                  options_.shutdown_deadline.count());
    io_.stop();
  }
  lock.unlock();
  io_thread_.join();
  pool_.join();
  logger_->info("stopped");
}

}  // namespace keel::app
