#include "app/embedded_derp.h"

#include <algorithm>
#include <filesystem>
#include <thread>

#include "base/bytes.h"
#include "base/file.h"
#include "base/io_threads.h"
#include "base/log.h"
#include "control/server.h"
#include "derp/relay.h"
#include "derp/stun_server.h"
#include "derp/tls_cert.h"
#include "derp/tls_server.h"

namespace keel::app {
namespace {

Error Named(const std::string& what, const Error& e) {
  return MakeError(e.code, what + ": " + e.message);
}

// Where an advertised IPv6 address is also served: the v6 twin of an IPv4 wildcard or
// loopback listen address; "" when there is no obvious twin.
std::string V6Twin(const std::string& host) {
  if (host == "127.0.0.1") return "::1";
  if (host == "0.0.0.0") return "::";
  return "";
}

Result<derp::TlsCertificate> LoadCertificate(const config::DerpServerConfig& c) {
  if (!c.tls_cert_path.empty()) {
    auto cert = derp::LoadTlsCertificate(c.tls_cert_path, c.tls_key_path);
    if (!cert) return Named("derp.server.tls_cert_path", cert.error());
    return cert;
  }
  // Self-signed, next to the relay's key so it survives restarts (its pin is in the map).
  std::string dir = std::filesystem::path(c.private_key_path).parent_path().string();
  auto cert = derp::LoadOrCreateSelfSigned(dir.empty() ? "." : dir, c.AdvertisedHostname());
  if (!cert) return Named("derp.server self-signed certificate", cert.error());
  return cert;
}

// derp.server.mesh_key, or the key in the file at mesh_key_path (surrounding space ignored).
Result<std::string> LoadMeshKey(const config::DerpServerConfig& c) {
  if (c.mesh_key_path.empty()) return c.mesh_key;
  auto text = ReadFileText(c.mesh_key_path);
  if (!text) return Named("derp.server.mesh_key_path", text.error());
  std::string key(TrimSpace(*text));
  if (std::string why = config::MeshKeyProblem(key); !why.empty()) {
    return MakeError(Errc::kInvalidArgument,
                     "derp.server.mesh_key_path: " + c.mesh_key_path + ": key " + why);
  }
  return key;
}

}  // namespace

Result<std::unique_ptr<EmbeddedDerp>> EmbeddedDerp::Create(
    const config::DerpServerConfig& config, crypto::PrivateKey server_key,
    boost::asio::any_io_executor executor, std::function<bool(const crypto::NodePublic&)> admit) {
  auto cert = LoadCertificate(config);
  if (!cert) return cert.error();
  auto mesh_key = LoadMeshKey(config);
  if (!mesh_key) return mesh_key.error();
  std::unique_ptr<EmbeddedDerp> d(new EmbeddedDerp());
  size_t threads = config.threads > 0 ? static_cast<size_t>(config.threads)
                                      : std::max(1u, std::thread::hardware_concurrency());
  d->loops_ = std::make_unique<IoThreads>(threads);
  derp::RelaySettings rs;
  rs.server_key = server_key;
  rs.verify_client = std::move(admit);
  rs.mesh_key = *mesh_key;
  d->relay_ = std::make_unique<derp::Relay>(executor, std::move(rs), GetLogger("derp"));
  derp::TlsServerSettings ts;
  ts.conn_executor = [loops = d->loops_.get()] { return loops->Next(); };
  auto tls = derp::TlsServer::Create(executor, *d->relay_, *cert, ts, GetLogger("derp-tls"));
  if (!tls) return Named("derp.server TLS", tls.error());
  d->tls_ = std::move(*tls);
  d->stun_ = std::make_unique<derp::StunServer>(executor, GetLogger("stun"));
  KEEL_TRY(d->Listen(config));
  for (const auto& url : config.mesh_with) {
    auto added = d->relay_->AddMeshPeer(url);
    if (!added) return Named("derp.server.mesh_with", added.error());
  }
  // A configured certificate is verified by name, as for any public DERP server.
  d->BuildRegion(config, config.tls_cert_path.empty() ? cert->pin : "");
  return d;
}

EmbeddedDerp::~EmbeddedDerp() {
  if (tls_) tls_->Stop();
  if (relay_) relay_->Stop();
  // The loops drain what the listener and the relay closed before anything they use goes.
  if (loops_) loops_->Join();
  tls_.reset();
  stun_.reset();
  relay_.reset();
}

Result<void> EmbeddedDerp::Listen(const config::DerpServerConfig& c) {
  bool v6 = c.ipv6 != "none";
  auto port = tls_->Listen(c.listen_addr.host, c.listen_addr.port);
  if (!port) return Named("derp.server.listen_addr", port.error());
  derp_port_ = *port;
  if (std::string twin = V6Twin(c.listen_addr.host); v6 && !twin.empty()) {
    auto p6 = tls_->Listen(twin, derp_port_);
    if (!p6) return Named("derp.server.listen_addr (" + twin + ")", p6.error());
  }
  if (!c.stun_listen_addr) return {};
  auto stun = stun_->Listen(c.stun_listen_addr->host, c.stun_listen_addr->port);
  if (!stun) return Named("derp.server.stun_listen_addr", stun.error());
  stun_port_ = *stun;
  if (std::string twin = V6Twin(c.stun_listen_addr->host); v6 && !twin.empty()) {
    auto s6 = stun_->Listen(twin, stun_port_);
    if (!s6) return Named("derp.server.stun_listen_addr (" + twin + ")", s6.error());
  }
  return {};
}

void EmbeddedDerp::BuildRegion(const config::DerpServerConfig& c, const std::string& pin) {
  nlohmann::json node = {
      {"Name", std::to_string(c.region_id)},
      {"RegionID", c.region_id},
      {"HostName", c.AdvertisedHostname()},
      {"IPv4", c.AdvertisedIPv4()},
      {"IPv6", c.ipv6},
      {"STUNPort", c.stun_listen_addr ? static_cast<int>(stun_port_) : -1},
      {"DERPPort", derp_port_},
  };
  if (!pin.empty()) node["CertName"] = pin;
  region_ = {{"RegionID", c.region_id},
             {"RegionCode", c.region_code},
             {"RegionName", c.region_name},
             {"Nodes", nlohmann::json::array({node})}};
}

void EmbeddedDerp::RegisterRoutes(http::Router& router) { relay_->RegisterRoutes(router); }

void EmbeddedDerp::Stop() {
  tls_->Stop();
  relay_->Stop();
  stun_->Stop();
}

Result<nlohmann::json> BuildDerpMap(const config::Config& config,
                                    const nlohmann::json& embedded_region, spdlog::logger& logger) {
  nlohmann::json merged = {{"Regions", nlohmann::json::object()}};
  if (!config.derp.server.drop_other_regions) {
    for (const auto& path : config.derp.paths) {
      auto map = control::LoadDerpMapFile(path);
      if (!map) return Named("derp.paths", map.error());
      control::MergeDerpMaps(merged, *map);
    }
  }
  if (!embedded_region.is_null()) {
    std::string id = std::to_string(embedded_region["RegionID"].get<int>());
    if (merged["Regions"].contains(id)) {
      logger.warn("derp.server.region_id {} replaces the region with that ID from derp.paths", id);
    }
    merged["Regions"][id] = embedded_region;
  }
  return Result<nlohmann::json>(boost::system::in_place_value, std::move(merged));
}

}  // namespace keel::app
