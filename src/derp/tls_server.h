#pragma once
// The relay's own TLS listener (derp.md §1.6: clients always use TLS for DERP). Each
// connection does a TLS handshake (TLS 1.2+, no ALPN, so always HTTP/1.1) on a
// TlsSocketStream, then speaks HTTP/1.1 parsed and written with Beast: /derp upgrades
// (including Derp-Fast-Start, where no 101 is written) go to the Relay; /derp/probe,
// /derp/latency-check and /generate_204 are answered; anything else is 404. The certificate list carries the DERP meta certificate after the chain so that
// clients use fast start.
// Threading: construct, Listen and Stop on the relay's executor, where the acceptors run; each
// connection runs on the loop settings.conn_executor picks for it.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <spdlog/logger.h>
#include <string>

#include "base/result.h"
#include "derp/relay.h"
#include "derp/tls_cert.h"

namespace keel::derp {

struct TlsServerSettings {
  std::chrono::milliseconds handshake_timeout{10000};  // TLS handshake
  std::chrono::milliseconds request_timeout{30000};    // each HTTP request before upgrade
  size_t max_header_bytes = 16 * 1024;
  bool meta_cert = true;  // offer the fast-start meta certificate
  // Picks the loop each accepted connection runs on (e.g. IoThreads::Next); empty: the
  // server's own executor. Every loop must be run by one thread at a time.
  std::function<boost::asio::any_io_executor()> conn_executor;
};

class TlsServer {
 public:
  // `relay` must outlive the server. Fails when the certificate or key is unusable.
  static Result<std::unique_ptr<TlsServer>> Create(boost::asio::any_io_executor executor,
                                                   Relay& relay, const TlsCertificate& cert,
                                                   TlsServerSettings settings,
                                                   std::shared_ptr<spdlog::logger> logger);
  ~TlsServer();  // Stop()

  // Binds and accepts; port 0 picks one. Returns the bound port. May be called for several
  // addresses (e.g. 127.0.0.1 and ::1).
  Result<uint16_t> Listen(const std::string& address, uint16_t port);
  // Stops accepting and closes connections not yet handed to the relay (Relay::Stop closes
  // the others).
  void Stop();

  struct State;

 private:
  explicit TlsServer(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

}  // namespace keel::derp
