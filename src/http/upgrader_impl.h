#pragma once
// The Upgrader a connection hands to an upgrade handler: raw 101 take-over or a WebSocket
// handshake. Internal to the http module. Threading: the server's executor.

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "http/server_internal.h"

namespace keel::http::internal {

class UpgraderImpl final : public Upgrader {
 public:
  using BeastRequest = boost::beast::http::request<boost::beast::http::string_body>;

  UpgraderImpl(ServerState& state, uint64_t id, Socket& socket,
               boost::beast::flat_buffer& buffer, const BeastRequest& request)
      : state_(state), id_(id), socket_(socket), buffer_(buffer), request_(request) {}

  bool IsWebSocket() const override;
  boost::asio::awaitable<Result<std::unique_ptr<ByteStream>>> Accept(Headers headers) override;
  Result<std::unique_ptr<ByteStream>> TakeOver() override;
  boost::asio::awaitable<Result<std::unique_ptr<ByteStream>>> AcceptWebSocket(
      std::string subprotocol) override;

  // True once the socket has been handed over (whether or not the handshake succeeded).
  bool taken() const { return taken_; }

 private:
  // The raw socket as a stream, with what the parser buffered past the request.
  std::unique_ptr<ByteStream> HandOver();
  // Wraps `stream` so Server::Stop can still close the connection it came from.
  std::unique_ptr<ByteStream> Track(std::unique_ptr<ByteStream> stream);

  ServerState& state_;
  uint64_t id_;
  Socket& socket_;
  boost::beast::flat_buffer& buffer_;
  const BeastRequest& request_;
  bool taken_ = false;
};

}  // namespace keel::http::internal
