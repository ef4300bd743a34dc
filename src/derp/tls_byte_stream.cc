#include "derp/tls_byte_stream.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstring>

namespace keel::derp {

namespace asio = boost::asio;

asio::awaitable<Result<size_t>> TlsByteStream::ReadSome(std::span<uint8_t> out) {
  if (out.empty()) co_return MakeError(Errc::kInvalidArgument, "ReadSome: empty buffer");
  if (initial_pos_ < initial_.size()) {
    size_t n = std::min(out.size(), initial_.size() - initial_pos_);
    std::memcpy(out.data(), initial_.data() + initial_pos_, n);
    initial_pos_ += n;
    if (initial_pos_ == initial_.size()) {
      std::string().swap(initial_);
      initial_pos_ = 0;
    }
    co_return n;
  }
  auto [ec, n] = co_await stream_->async_read_some(asio::buffer(out.data(), out.size()),
                                                   asio::as_tuple(asio::use_awaitable));
  // Clients usually drop the TCP connection without a close_notify.
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) co_return size_t{0};
  if (ec) co_return MakeError(Errc::kUnavailable, "tls read: " + ec.message());
  co_return n;
}

asio::awaitable<Result<void>> TlsByteStream::WriteAll(std::span<const uint8_t> data) {
  auto [ec, n] = co_await asio::async_write(*stream_, asio::buffer(data.data(), data.size()),
                                            asio::as_tuple(asio::use_awaitable));
  if (ec) co_return MakeError(Errc::kUnavailable, "tls write: " + ec.message());
  co_return Result<void>();
}

void TlsByteStream::Close() {
  boost::system::error_code ec;
  stream_->lowest_layer().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  stream_->lowest_layer().close(ec);
}

}  // namespace keel::derp
