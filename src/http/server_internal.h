#pragma once
// Shared state of one Server and the pieces its connection coroutines use. Internal to the
// http module. Threading: everything here lives on the server's executor.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "http/server.h"

namespace keel::http::internal {

using Socket = boost::asio::generic::stream_protocol::socket;

struct ServerState {
  ServerState(boost::asio::any_io_executor ex, const Router& r, ServerSettings s,
              std::shared_ptr<spdlog::logger> l)
      : executor(std::move(ex)), router(r), settings(s), logger(std::move(l)) {}

  boost::asio::any_io_executor executor;
  const Router& router;
  ServerSettings settings;
  std::shared_ptr<spdlog::logger> logger;
  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> tcp_acceptors;
  std::vector<std::unique_ptr<boost::asio::local::stream_protocol::acceptor>> unix_acceptors;
  // Live connections by id; each entry closes whatever currently owns that connection's
  // transport (the socket, or the stream an upgrade handed out).
  std::unordered_map<uint64_t, std::function<void()>> live;
  uint64_t next_id = 1;
  size_t connections = 0;  // accepted and not yet closed (ServerSettings::max_connections)
  size_t half_open = 0;    // served, first request header not yet complete
  std::weak_ptr<ServerState> self;  // for objects that may outlive the server
  bool stopped = false;
};

// A per-connection watchdog in the spirit of beast::tcp_stream::expires_after, but for any
// socket type: Arm before an I/O step, Disarm while a handler runs. Watch() runs beside the
// connection (raced with ||) and closes the socket when an armed deadline passes.
class Deadline {
 public:
  explicit Deadline(boost::asio::any_io_executor ex);
  void Arm(std::chrono::steady_clock::duration d);
  void Disarm();
  boost::asio::awaitable<void> Watch(Socket& socket);

 private:
  boost::asio::steady_timer timer_;
  std::chrono::steady_clock::time_point expiry_;
};

// Runs one connection's coroutine on the server's executor, logging an escaped exception.
// An `accepted` one counts in ServerState::connections until the coroutine ends.
void SpawnConnection(const std::shared_ptr<ServerState>& state, boost::asio::awaitable<void> serve,
                     std::string remote, bool accepted = false);

// Serves HTTP/1.1 requests on `socket` until it closes, fails, or is taken over.
boost::asio::awaitable<void> ServeConnection(std::shared_ptr<ServerState> state, Socket socket,
                                             std::string remote);

}  // namespace keel::http::internal
