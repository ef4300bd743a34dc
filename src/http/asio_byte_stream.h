#pragma once
// AsioByteStream: a ByteStream over any Asio stream (a socket, an ssl::stream), optionally
// starting with bytes an HTTP parser already read past the request. TcpByteStream is the
// plain-socket case; the DERP mesh client uses it over ssl::stream.
// Threading: call only on the stream's executor (ByteStream rules).

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <string>

#include "base/byte_stream.h"
#include "base/leading_bytes.h"

namespace keel::http {

template <class Stream>
class AsioByteStream : public ByteStream {
 public:
  explicit AsioByteStream(Stream stream, std::string initial = {})
      : stream_(std::move(stream)), initial_(std::move(initial)) {}

  boost::asio::awaitable<Result<size_t>> ReadSome(std::span<uint8_t> out) override {
    namespace asio = boost::asio;
    if (out.empty()) co_return MakeError(Errc::kInvalidArgument, "ReadSome: empty buffer");
    if (!initial_.empty()) co_return initial_.Take(out);
    auto [ec, n] = co_await stream_.async_read_some(asio::buffer(out.data(), out.size()),
                                                    asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::eof || IsCleanEnd(ec)) co_return size_t{0};
    if (ec) co_return MakeError(Errc::kUnavailable, "read: " + ec.message());
    co_return n;
  }

  boost::asio::awaitable<Result<void>> WriteAll(std::span<const uint8_t> data) override {
    namespace asio = boost::asio;
    auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(data.data(), data.size()),
                                              asio::as_tuple(asio::use_awaitable));
    if (ec) co_return MakeError(Errc::kUnavailable, "write: " + ec.message());
    co_return Result<void>();
  }

  void Close() override {
    boost::system::error_code ec;
    stream_.lowest_layer().shutdown(boost::asio::socket_base::shutdown_both, ec);
    stream_.lowest_layer().close(ec);
  }

  boost::asio::any_io_executor executor() override { return stream_.get_executor(); }

  Stream& stream() { return stream_; }

 protected:
  // Further read errors that mean a clean end of stream on this transport.
  virtual bool IsCleanEnd(const boost::system::error_code&) const { return false; }

 private:
  Stream stream_;
  LeadingBytes initial_;  // unread bytes from before the hand-over
};

}  // namespace keel::http
