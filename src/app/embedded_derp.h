#pragma once
// The embedded DERP relay of `keel serve` (derp.server.*): the Relay, its TLS listener, the
// STUN responder and the DERP map region that advertises them, plus the final DERP map
// (derp.paths merged with that region). Outbound mesh links start with the relay.
// Threading: Create and RegisterRoutes before the I/O thread runs (or on it); Stop on the
// I/O thread; destroy after the HTTP server that carries the relay's routes. Relay connections
// accepted on the TLS listener run on derp.server.threads loops of their own.

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <spdlog/logger.h>
#include <string>

#include "base/result.h"
#include "config/config.h"
#include "crypto/keys.h"

namespace keel {
class IoThreads;
}
namespace keel::derp {
class Relay;
class TlsServer;
class StunServer;
}  // namespace keel::derp
namespace keel::http {
class Router;
}

namespace keel::app {

class EmbeddedDerp {
 public:
  // Builds the relay and binds its TLS and STUN sockets. `admit` (may be empty: admit all)
  // runs on the I/O thread for every client that is not a mesh peer.
  static Result<std::unique_ptr<EmbeddedDerp>> Create(
      const config::DerpServerConfig& config, crypto::PrivateKey server_key,
      boost::asio::any_io_executor executor,
      std::function<bool(const crypto::NodePublic&)> admit);
  ~EmbeddedDerp();  // the listeners go before the relay

  // Plain-HTTP /derp and the probe endpoints on keel's control listener.
  void RegisterRoutes(http::Router& router);
  // The tailcfg.DERPRegion advertising this relay, with the bound ports.
  const nlohmann::json& region() const { return region_; }
  uint16_t derp_port() const { return derp_port_; }
  uint16_t stun_port() const { return stun_port_; }  // 0 when STUN is off
  derp::Relay& relay() { return *relay_; }
  // Null when STUN is off.
  const derp::StunServer* stun() const { return stun_.get(); }
  void Stop();

 private:
  EmbeddedDerp() = default;
  Result<void> Listen(const config::DerpServerConfig& config);
  void BuildRegion(const config::DerpServerConfig& config, const std::string& pin);

  std::unique_ptr<IoThreads> loops_;  // where relay connections live (derp.server.threads)
  std::unique_ptr<derp::Relay> relay_;
  std::unique_ptr<derp::TlsServer> tls_;
  std::unique_ptr<derp::StunServer> stun_;
  nlohmann::json region_;
  uint16_t derp_port_ = 0;
  uint16_t stun_port_ = 0;
};

// The DERP map keel pushes: the derp.paths files merged in order, then `embedded_region`
// (null when there is none) added, replacing any file region with the same ID; only the
// embedded region when derp.server.drop_other_regions is set.
Result<nlohmann::json> BuildDerpMap(const config::Config& config,
                                    const nlohmann::json& embedded_region, spdlog::logger& logger);

}  // namespace keel::app
