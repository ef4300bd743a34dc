#include "http/chunked_stream.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <array>
#include <deque>

namespace keel::http::internal {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using namespace asio::experimental::awaitable_operators;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

class ChunkedStream : public ResponseStream {
 public:
  explicit ChunkedStream(asio::any_io_executor ex) : wake_(std::move(ex)) {}

  void Respond(int status, Headers headers) override {
    if (status_ != 0) return;
    status_ = status;
    headers_ = std::move(headers);
    wake_.cancel();
  }
  void Write(std::string data) override {
    if (closed_ || finished_ || data.empty()) return;
    buffered_ += data.size();
    queue_.push_back(std::move(data));
    wake_.cancel();
  }
  void Finish() override {
    finished_ = true;
    wake_.cancel();
  }
  bool closed() const override { return closed_; }
  size_t buffered() const override { return buffered_; }
  bool responded() const { return status_ != 0; }
  void MarkClosed() {
    closed_ = true;
    wake_.cancel();
  }

  // Writes what the handler produces until it finished and everything is out.
  asio::awaitable<void> Drain(Socket& socket, unsigned version) {
    bool head_sent = false;
    for (;;) {
      if (closed_) co_return;
      if (status_ != 0 && !head_sent) {
        if (!co_await WriteHead(socket, version)) co_return MarkClosed();
        head_sent = true;
      }
      while (head_sent && !queue_.empty()) {
        std::string data = std::move(queue_.front());
        queue_.pop_front();
        auto [ec, n] = co_await asio::async_write(socket, bhttp::make_chunk(asio::buffer(data)), kUseTuple);
        buffered_ -= data.size();
        if (ec) co_return MarkClosed();
      }
      if (finished_ && head_sent) {
        co_await asio::async_write(socket, bhttp::make_chunk_last(), kUseTuple);
        co_return;
      }
      wake_.expires_at(asio::steady_timer::time_point::max());
      co_await wake_.async_wait(kUseTuple);
      auto cs = co_await asio::this_coro::cancellation_state;
      if (cs.cancelled() != asio::cancellation_type::none) co_return;
    }
  }

 private:
  asio::awaitable<bool> WriteHead(Socket& socket, unsigned version) {
    bhttp::response<bhttp::empty_body> res;
    res.result(static_cast<unsigned>(status_));
    res.version(version);
    for (const auto& [name, value] : headers_) res.insert(name, value);
    res.keep_alive(false);
    res.chunked(true);
    bhttp::response_serializer<bhttp::empty_body> sr(res);
    auto [ec, n] = co_await bhttp::async_write_header(socket, sr, kUseTuple);
    co_return !ec;
  }

  asio::steady_timer wake_;
  int status_ = 0;
  Headers headers_;
  std::deque<std::string> queue_;
  size_t buffered_ = 0;
  bool finished_ = false;
  bool closed_ = false;
};

asio::awaitable<void> RunHandler(const StreamHandler& handler, Request req, std::shared_ptr<ChunkedStream> stream,
                                 std::shared_ptr<spdlog::logger> logger) {
  std::string path = req.path;
  try {
    co_await handler(std::move(req), stream);
  } catch (const std::exception& e) {
    logger->debug("streamed {}: {}", path, e.what());
  }
  if (!stream->responded()) stream->Respond(500, {{"content-type", "text/plain; charset=utf-8"}});
  stream->Finish();
}

// Completes when the client closes its side or the connection fails. A client waiting for a
// response sends nothing, so any read result but data means it is gone.
asio::awaitable<void> WatchPeer(Socket& socket, ChunkedStream& stream) {
  std::array<char, 512> sink;
  for (;;) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(sink), kUseTuple);
    if (ec) break;
  }
  stream.MarkClosed();
}

}  // namespace

asio::awaitable<void> ServeStreamed(Socket& socket, const StreamHandler& handler, Request req,
                                    unsigned version, std::shared_ptr<spdlog::logger> logger) {
  auto stream = std::make_shared<ChunkedStream>(co_await asio::this_coro::executor);
  co_await ((RunHandler(handler, std::move(req), stream, std::move(logger)) && stream->Drain(socket, version)) ||
            WatchPeer(socket, *stream));
}

}  // namespace keel::http::internal
