#pragma once
// TcpByteStream: a ByteStream over a connected stream socket (TCP or unix), optionally
// starting with bytes that an HTTP parser already read past the request. Used for raw HTTP
// upgrades and by tests that dial the server in-process.
// Threading: call only on the socket's executor (ByteStream rules).

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <string>

#include "base/byte_stream.h"

namespace keel::http {

class TcpByteStream final : public ByteStream {
 public:
  using Socket = boost::asio::generic::stream_protocol::socket;

  explicit TcpByteStream(Socket socket, std::string initial = {});
  explicit TcpByteStream(boost::asio::ip::tcp::socket socket, std::string initial = {});

  boost::asio::awaitable<Result<size_t>> ReadSome(std::span<uint8_t> out) override;
  boost::asio::awaitable<Result<void>> WriteAll(std::span<const uint8_t> data) override;
  void Close() override;
  boost::asio::any_io_executor executor() override;

  Socket& socket() { return socket_; }

 private:
  Socket socket_;
  std::string initial_;  // unread bytes from before the hand-over
  size_t initial_pos_ = 0;
};

}  // namespace keel::http
