#pragma once
// UDP STUN responder for Tailscale's netcheck (derp.md §4): answers binding requests with
// the observed source address and silently ignores everything else. Not rate-limited.
// Threading: construct, Listen and Stop on the executor's thread; the receive loops run there.

#include <boost/asio/any_io_executor.hpp>
#include <memory>
#include <spdlog/logger.h>
#include <string>

#include "base/result.h"

namespace keel::derp {

struct StunStats {
  uint64_t requests = 0;   // answered binding requests
  uint64_t junk = 0;       // datagrams ignored
  uint64_t send_errors = 0;
};

class StunServer {
 public:
  StunServer(boost::asio::any_io_executor executor, std::shared_ptr<spdlog::logger> logger);
  ~StunServer();  // Stop()
  StunServer(const StunServer&) = delete;
  StunServer& operator=(const StunServer&) = delete;

  // Binds a UDP socket (an IPv6 address binds v6-only, so "0.0.0.0" and "::" can both be
  // used on one port) and starts answering. Port 0 picks one; returns the bound port.
  Result<uint16_t> Listen(const std::string& address, uint16_t port);
  void Stop();
  StunStats stats() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace keel::derp
