#pragma once
// HTTP/1.1 server on Boost.Beast: one coroutine per connection, keep-alive, size limits and
// deadlines, plain handlers and connection upgrades, over TCP (optionally TLS) or a unix socket.
// Threading: construct, Listen* and Stop on the executor's thread; handlers run there too.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <spdlog/logger.h>
#include <string>

#include "base/byte_stream.h"
#include "base/result.h"
#include "http/message.h"
#include "http/response_stream.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace keel::http {

using Handler = std::function<boost::asio::awaitable<Response>(Request)>;

// Handed to an upgrade handler; valid only during that handler call.
class Upgrader {
 public:
  virtual ~Upgrader() = default;
  // True when the request is an RFC 6455 WebSocket upgrade.
  virtual bool IsWebSocket() const = 0;
  // Writes "101 Switching Protocols" with `headers` and hands over the raw connection,
  // including any bytes the parser had already buffered past the request.
  virtual boost::asio::awaitable<Result<std::unique_ptr<ByteStream>>> Accept(Headers headers) = 0;
  // Hands over the raw connection like Accept but writes nothing: for clients that start the
  // new protocol without waiting for a 101 (DERP fast start).
  virtual Result<std::unique_ptr<ByteStream>> TakeOver() = 0;
  // Completes the WebSocket handshake selecting `subprotocol` (no permessage-deflate); the
  // stream carries binary messages as one byte stream and fails on a text message.
  virtual boost::asio::awaitable<Result<std::unique_ptr<ByteStream>>> AcceptWebSocket(
      std::string subprotocol) = 0;
};

// A handler that answers through a ResponseStream (chunked, flushed per Write) instead of one
// Response: for long polls over HTTP/1.1. Its coroutine's cancellation slot fires when the
// client goes away; the connection closes after the response.
using StreamHandler = std::function<boost::asio::awaitable<void>(Request, std::shared_ptr<ResponseStream>)>;

// Returns a Response to answer normally (before accepting), or nullopt once it has accepted
// and finished with the stream.
using UpgradeHandler =
    std::function<boost::asio::awaitable<std::optional<Response>>(Request, Upgrader&)>;

class Router {
 public:
  // Exact path match, any method.
  void Handle(std::string path, Handler handler);
  // Longest matching prefix wins, after exact matches.
  void HandlePrefix(std::string prefix, Handler handler);
  // Requests to `path` that carry an Upgrade header (or are WebSocket requests).
  void HandleUpgrade(std::string path, UpgradeHandler handler);
  // Requests under `prefix` answered as a stream; checked before Handle and HandlePrefix.
  void HandleStreamPrefix(std::string prefix, StreamHandler handler);

  const Handler* Find(std::string_view path) const;
  const UpgradeHandler* FindUpgrade(std::string_view path) const;
  const StreamHandler* FindStream(std::string_view path) const;

 private:
  std::map<std::string, Handler, std::less<>> exact_;
  std::map<std::string, Handler, std::less<>> prefix_;
  std::map<std::string, UpgradeHandler, std::less<>> upgrade_;
  std::map<std::string, StreamHandler, std::less<>> stream_;
};

struct ServerSettings {
  size_t max_header_bytes = 16 * 1024;  // larger headers get 431
  size_t max_body_bytes = 1024 * 1024;  // larger bodies get 413
  std::chrono::seconds request_timeout{30};  // to read one request once it started
  std::chrono::seconds idle_timeout{120};    // keep-alive connection with no request
  // A new connection must have sent its first request's header within this: a slowloris
  // client trickling a header holds its slot no longer. Real clients send at once.
  std::chrono::seconds first_request_timeout{10};
  // Connections that have not yet sent a complete first request header (limit
  // "http_half_open"). Past it, new connections are closed at once; established ones are
  // never touched. Generous: every client of a benchmark shares one address, and a joining
  // node is half-open only for one round trip.
  size_t max_half_open = 4096;
  // Every connection, upgraded ones (map streams) included (limit "http_connections"); new ones
  // past it are closed at once. 0: the open-file limit less a reserve for the store and logs.
  size_t max_connections = 0;
};

class Server {
 public:
  // `router` must outlive the server.
  Server(boost::asio::any_io_executor executor, const Router& router, ServerSettings settings,
         std::shared_ptr<spdlog::logger> logger);
  ~Server();

  // Binds and starts accepting; port 0 picks one. Returns the bound port.
  Result<uint16_t> ListenTcp(const std::string& address, uint16_t port);
  // Like ListenTcp, serving TLS with the PEM certificate chain and key at these paths; fails
  // when either is unusable or they do not match.
  Result<uint16_t> ListenTls(const std::string& address, uint16_t port,
                             const std::string& cert_path, const std::string& key_path);
  // Binds a unix socket at `path` (replacing a stale file) with file mode `mode`.
  Result<void> ListenUnix(const std::string& path, unsigned mode = 0660);
  // Stops accepting and closes every connection.
  void Stop();

 private:
  Result<uint16_t> Listen(const std::string& address, uint16_t port,
                          std::shared_ptr<ssl_ctx_st> tls);

  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace keel::http
