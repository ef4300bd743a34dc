#include "http/upgrader_impl.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "http/tcp_byte_stream.h"
#include "http/ws_byte_stream.h"

namespace keel::http::internal {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;

namespace {

// Forwards to the real stream and keeps the server's registry entry pointing at it for as
// long as it lives, so Stop() reaches upgraded connections too.
class TrackedStream final : public ByteStream {
 public:
  TrackedStream(std::unique_ptr<ByteStream> inner, std::weak_ptr<ServerState> state, uint64_t id)
      : inner_(std::move(inner)), state_(std::move(state)), id_(id) {
    if (auto st = state_.lock()) st->live[id_] = [raw = inner_.get()] { raw->Close(); };
  }
  ~TrackedStream() override {
    auto st = state_.lock();
    if (!st) return;
    if (auto it = st->live.find(id_); it != st->live.end()) it->second = [] {};
  }
  asio::awaitable<Result<size_t>> ReadSome(std::span<uint8_t> out) override {
    return inner_->ReadSome(out);
  }
  asio::awaitable<Result<void>> WriteAll(std::span<const uint8_t> data) override {
    return inner_->WriteAll(data);
  }
  void Close() override { inner_->Close(); }
  asio::any_io_executor executor() override { return inner_->executor(); }

 private:
  std::unique_ptr<ByteStream> inner_;
  std::weak_ptr<ServerState> state_;
  uint64_t id_;
};

}  // namespace

bool UpgraderImpl::IsWebSocket() const { return beast::websocket::is_upgrade(request_); }

std::unique_ptr<ByteStream> UpgraderImpl::Track(std::unique_ptr<ByteStream> stream) {
  return std::make_unique<TrackedStream>(std::move(stream), state_.self, id_);
}

asio::awaitable<Result<std::unique_ptr<ByteStream>>> UpgraderImpl::Accept(Headers headers) {
  if (taken_) co_return MakeError(Errc::kFailedPrecondition, "connection already taken over");
  taken_ = true;
  bhttp::response<bhttp::empty_body> res{bhttp::status::switching_protocols,
                                         request_.version()};
  for (const auto& [name, value] : headers) res.insert(name, value);
  auto [ec, n] = co_await bhttp::async_write(socket_, res, asio::as_tuple(asio::use_awaitable));
  if (ec) co_return MakeError(Errc::kUnavailable, "writing 101: " + ec.message());
  co_return HandOver();
}

Result<std::unique_ptr<ByteStream>> UpgraderImpl::TakeOver() {
  if (taken_) return MakeError(Errc::kFailedPrecondition, "connection already taken over");
  taken_ = true;
  return HandOver();
}

std::unique_ptr<ByteStream> UpgraderImpl::HandOver() {
  // Bytes the client sent right behind the request (e.g. the start of its next protocol)
  // are already in our buffer; they belong to the new stream.
  std::string leftover = beast::buffers_to_string(buffer_.data());
  buffer_.consume(buffer_.size());
  return Track(std::make_unique<TcpByteStream>(std::move(socket_), std::move(leftover)));
}

asio::awaitable<Result<std::unique_ptr<ByteStream>>> UpgraderImpl::AcceptWebSocket(
    std::string subprotocol) {
  if (taken_) co_return MakeError(Errc::kFailedPrecondition, "connection already taken over");
  if (!IsWebSocket()) co_return MakeError(Errc::kInvalidArgument, "not a websocket upgrade");
  taken_ = true;
  auto ws = std::make_unique<WsByteStream>(std::move(socket_));
  auto accepted = co_await ws->Accept(request_, std::move(subprotocol));
  if (!accepted) co_return accepted.error();
  co_return Track(std::move(ws));
}

}  // namespace keel::http::internal
