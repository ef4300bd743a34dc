#include "http/ws_byte_stream.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/websocket/error.hpp>

namespace keel::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

namespace {
// A Noise record is at most 4 KiB; 1 MiB leaves room for any sane peer batching.
constexpr size_t kMaxMessageBytes = 1 << 20;
}  // namespace

WsByteStream::WsByteStream(Socket socket) : ws_(std::move(socket)) {}

asio::awaitable<Result<void>> WsByteStream::Accept(
    const beast::http::request<beast::http::string_body>& request, std::string subprotocol) {
  ws_.set_option(websocket::stream_base::decorator(
      [subprotocol](websocket::response_type& res) {
        res.set(beast::http::field::sec_websocket_protocol, subprotocol);
      }));
  websocket::permessage_deflate pmd;
  pmd.server_enable = false;
  pmd.client_enable = false;
  ws_.set_option(pmd);
  ws_.read_message_max(kMaxMessageBytes);
  ws_.binary(true);
  auto [ec] = co_await ws_.async_accept(request, asio::as_tuple(asio::use_awaitable));
  if (ec) co_return MakeError(Errc::kUnavailable, "websocket accept: " + ec.message());
  co_return Result<void>();
}

asio::awaitable<Result<size_t>> WsByteStream::ReadSome(std::span<uint8_t> out) {
  if (out.empty()) co_return MakeError(Errc::kInvalidArgument, "ReadSome: empty buffer");
  for (;;) {
    auto [ec, n] = co_await ws_.async_read_some(asio::buffer(out.data(), out.size()),
                                                asio::as_tuple(asio::use_awaitable));
    if (ec == websocket::error::closed) co_return size_t{0};
    if (ec) co_return MakeError(Errc::kUnavailable, "websocket read: " + ec.message());
    if (ws_.got_text()) {
      Close();
      co_return MakeError(Errc::kInvalidArgument, "websocket: text message on a binary stream");
    }
    if (n > 0) co_return n;  // empty frames carry nothing; keep reading
  }
}

asio::awaitable<Result<void>> WsByteStream::WriteAll(std::span<const uint8_t> data) {
  auto [ec, n] = co_await ws_.async_write(asio::buffer(data.data(), data.size()),
                                          asio::as_tuple(asio::use_awaitable));
  if (ec) co_return MakeError(Errc::kUnavailable, "websocket write: " + ec.message());
  co_return Result<void>();
}

void WsByteStream::Close() {
  boost::system::error_code ec;
  ws_.next_layer().shutdown(Socket::shutdown_both, ec);
  ws_.next_layer().close(ec);
}

asio::any_io_executor WsByteStream::executor() { return ws_.get_executor(); }

}  // namespace keel::http
