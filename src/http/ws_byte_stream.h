#pragma once
// WsByteStream: a server-side WebSocket connection carrying one byte stream in binary
// messages (transport.md §2.5): reads concatenate message payloads, each write is one binary
// message, a text message is an error. Internal to the http module.
// Threading: call only on the socket's executor (ByteStream rules).

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <string>

#include "base/byte_stream.h"

namespace keel::http {

class WsByteStream final : public ByteStream {
 public:
  using Socket = boost::asio::generic::stream_protocol::socket;

  explicit WsByteStream(Socket socket);

  // Answers the handshake for `request`, selecting `subprotocol`; no permessage-deflate.
  boost::asio::awaitable<Result<void>> Accept(
      const boost::beast::http::request<boost::beast::http::string_body>& request,
      std::string subprotocol);

  boost::asio::awaitable<Result<size_t>> ReadSome(std::span<uint8_t> out) override;
  boost::asio::awaitable<Result<void>> WriteAll(std::span<const uint8_t> data) override;
  void Close() override;
  boost::asio::any_io_executor executor() override;

 private:
  boost::beast::websocket::stream<Socket> ws_;
};

}  // namespace keel::http
