#pragma once
// TcpByteStream: a ByteStream over a connected stream socket (TCP or unix), optionally
// starting with bytes that an HTTP parser already read past the request. Used for raw HTTP
// upgrades and by tests that dial the server in-process.
// Threading: call only on the socket's executor (ByteStream rules).

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <string>

#include "http/asio_byte_stream.h"

namespace keel::http {

// Compiled once, in tcp_byte_stream.cc.
extern template class AsioByteStream<boost::asio::generic::stream_protocol::socket>;

class TcpByteStream final : public AsioByteStream<boost::asio::generic::stream_protocol::socket> {
 public:
  using Socket = boost::asio::generic::stream_protocol::socket;

  explicit TcpByteStream(Socket socket, std::string initial = {})
      : AsioByteStream(std::move(socket), std::move(initial)) {}
  explicit TcpByteStream(boost::asio::ip::tcp::socket socket, std::string initial = {})
      : AsioByteStream(Socket(std::move(socket)), std::move(initial)) {}

  Socket& socket() { return stream(); }
};

}  // namespace keel::http
