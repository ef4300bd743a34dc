#include "http/tcp_byte_stream.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstring>

namespace keel::http {

namespace asio = boost::asio;

TcpByteStream::TcpByteStream(Socket socket, std::string initial)
    : socket_(std::move(socket)), initial_(std::move(initial)) {}

TcpByteStream::TcpByteStream(asio::ip::tcp::socket socket, std::string initial)
    : socket_(std::move(socket)), initial_(std::move(initial)) {}

asio::awaitable<Result<size_t>> TcpByteStream::ReadSome(std::span<uint8_t> out) {
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
  auto [ec, n] = co_await socket_.async_read_some(asio::buffer(out.data(), out.size()),
                                                  asio::as_tuple(asio::use_awaitable));
  if (ec == asio::error::eof) co_return size_t{0};
  if (ec) co_return MakeError(Errc::kUnavailable, "read: " + ec.message());
  co_return n;
}

asio::awaitable<Result<void>> TcpByteStream::WriteAll(std::span<const uint8_t> data) {
  auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(data.data(), data.size()),
                                            asio::as_tuple(asio::use_awaitable));
  if (ec) co_return MakeError(Errc::kUnavailable, "write: " + ec.message());
  co_return Result<void>();
}

void TcpByteStream::Close() {
  boost::system::error_code ec;
  socket_.shutdown(Socket::shutdown_both, ec);
  socket_.close(ec);
}

asio::any_io_executor TcpByteStream::executor() { return socket_.get_executor(); }

}  // namespace keel::http
