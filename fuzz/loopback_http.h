#pragma once
// Drives keel's real HTTP/1.1 connection code (http::internal::ServeConnection) with one
// client byte stream per fuzz input, over an in-process socket pair: no port, no network, and
// every byte the server answers is read so it never blocks on a full socket buffer.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <csignal>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "base/log.h"
#include "http/server_internal.h"

namespace keel::fuzz {

using LocalSocket = boost::asio::local::stream_protocol::socket;

// Writes `bytes` to `s` in pieces no larger than `chunk` (at least 1), ignoring errors: the
// server may close first, which is a valid outcome of a bad input.
inline boost::asio::awaitable<void> WriteChunks(LocalSocket& s, std::span<const uint8_t> bytes,
                                                size_t chunk) {
  chunk = std::max<size_t>(chunk, 1);
  boost::system::error_code ec;
  for (size_t at = 0; at < bytes.size() && !ec; at += chunk) {
    auto piece = bytes.subspan(at, std::min(chunk, bytes.size() - at));
    co_await boost::asio::async_write(s, boost::asio::buffer(piece.data(), piece.size()),
                                      boost::asio::redirect_error(boost::asio::use_awaitable, ec));
  }
}

// Reads until the server closes (or fails); returns what it sent.
inline boost::asio::awaitable<std::string> Drain(LocalSocket& s) {
  std::string got;
  char buf[4096];
  for (;;) {
    boost::system::error_code ec;
    size_t n = co_await s.async_read_some(boost::asio::buffer(buf),
                                          boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    if (ec || n == 0) co_return got;
    got.append(buf, n);
  }
}

class LoopbackHttp {
 public:
  // `router` must outlive this. Sockets live on `io`, which the caller may share with other
  // components (a ControlServer), as keel does.
  LoopbackHttp(boost::asio::io_context& io, const http::Router& router,
               http::ServerSettings settings = {})
      : io_(io), router_(router), settings_(settings) {
    std::signal(SIGPIPE, SIG_IGN);
  }

  // Serves one connection whose client side is `client` (it gets the client end of the pair
  // and should end by shutting down its send side and draining); returns when both ended.
  void Run(const std::function<boost::asio::awaitable<void>(LocalSocket&)>& client) {
    auto state = std::make_shared<http::internal::ServerState>(io_.get_executor(), router_, settings_,
                                                               GetLogger("fuzz-http"));
    state->self = state;
    LocalSocket server_end(io_), client_end(io_);
    boost::asio::local::connect_pair(server_end, client_end);
    bool server_done = false, client_done = false;
    http::internal::Socket generic(std::move(server_end));
    boost::asio::co_spawn(io_, http::internal::ServeConnection(state, std::move(generic), "fuzz"),
                          [&](std::exception_ptr) { server_done = true; });
    boost::asio::co_spawn(io_, client(client_end), [&](std::exception_ptr) { client_done = true; });
    io_.restart();
    while (!(server_done && client_done)) {
      if (io_.run_one() == 0) break;
    }
    io_.restart();
    io_.poll();  // lets cancelled timers and closed sockets finish their handlers
  }

 private:
  boost::asio::io_context& io_;
  const http::Router& router_;
  http::ServerSettings settings_;
};

// The usual client: sends `bytes` in `chunk`-sized pieces, half-closes, reads everything.
inline std::function<boost::asio::awaitable<void>(LocalSocket&)> SendAll(std::string bytes,
                                                                        size_t chunk) {
  return [bytes = std::move(bytes), chunk](LocalSocket& s) -> boost::asio::awaitable<void> {
    using namespace boost::asio::experimental::awaitable_operators;
    auto data = std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    auto send = [&]() -> boost::asio::awaitable<void> {
      co_await WriteChunks(s, data, chunk);
      boost::system::error_code ignored;
      s.shutdown(LocalSocket::shutdown_send, ignored);
    };
    co_await (send() && Drain(s));
  };
}

}  // namespace keel::fuzz
