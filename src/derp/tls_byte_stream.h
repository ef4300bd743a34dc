#pragma once
// A ByteStream over a server-side TLS stream, starting with bytes the HTTP parser had already
// read past the upgrade request. Threading: the socket's executor (ByteStream rules).

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <memory>
#include <string>

#include "base/byte_stream.h"

namespace keel::derp {

class TlsByteStream final : public ByteStream {
 public:
  using Stream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;

  TlsByteStream(std::unique_ptr<Stream> stream, std::string initial)
      : stream_(std::move(stream)), initial_(std::move(initial)) {}

  boost::asio::awaitable<Result<size_t>> ReadSome(std::span<uint8_t> out) override;
  boost::asio::awaitable<Result<void>> WriteAll(std::span<const uint8_t> data) override;
  void Close() override;
  boost::asio::any_io_executor executor() override { return stream_->get_executor(); }

 private:
  std::unique_ptr<Stream> stream_;
  std::string initial_;
  size_t initial_pos_ = 0;
};

}  // namespace keel::derp
