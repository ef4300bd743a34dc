// ServeHttp2: the reader and writer loops that pump bytes between a ByteStream and nghttp2.
#include "http/h2_server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "base/limits.h"
#include "http/h2_session.h"

namespace keel::http {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

namespace internal {
namespace {
// Per connection, not per stream: an idle long poll costs only its stream bookkeeping.
// One Noise record's plaintext at most comes out of a read, so a larger buffer would sit
// unused in every idle session.
constexpr size_t kReadBufferBytes = 4 * 1024;
// Coalesce frames nghttp2 has ready into one write of up to this size.
constexpr size_t kWriteBatchBytes = 16 * 1024;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
}  // namespace

void H2Session::Wake() {
  wake_pending_ = true;
  wake_timer_.cancel();
}

asio::awaitable<void> H2Session::Run() {
  // Handlers must be waited for even when we are cancelled.
  co_await asio::this_coro::throw_if_cancelled(false);
  try {
    co_await (ReadLoop() && WriteLoop());
  } catch (const std::exception& e) {
    logger_->debug("h2 session: {}", e.what());
  }
  CloseAll();
  co_await WaitForHandlers();
}

asio::awaitable<void> H2Session::ReadLoop() {
  co_await asio::this_coro::throw_if_cancelled(false);
  auto buf = std::make_unique<uint8_t[]>(kReadBufferBytes);
  while (!writer_done_) {
    auto n = co_await stream_.ReadSome(std::span<uint8_t>(buf.get(), kReadBufferBytes));
    if (!n) {
      logger_->debug("h2 read: {}", n.error().message);
      break;
    }
    if (*n == 0) break;
    ssize_t rv = nghttp2_session_mem_recv(session_, buf.get(), *n);
    if (rv < 0) {
      logger_->debug("h2 protocol error: {}", nghttp2_strerror(static_cast<int>(rv)));
      nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);
      break;
    }
    Wake();
    if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) break;
  }
  reader_done_ = true;
  Wake();
}

asio::awaitable<void> H2Session::WriteLoop() {
  co_await asio::this_coro::throw_if_cancelled(false);
  std::string batch;
  for (;;) {
    wake_pending_ = false;
    bool failed = false;
    while (batch.size() < kWriteBatchBytes) {
      const uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) {
        logger_->debug("h2 send: {}", nghttp2_strerror(static_cast<int>(n)));
        failed = true;
        break;
      }
      if (n == 0) break;
      batch.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    if (failed) break;
    if (!batch.empty()) {
      ArmStallTimer();
      auto written = co_await stream_.WriteAll(
          std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(batch.data()), batch.size()));
      stall_timer_.cancel();
      if (!written) {
        logger_->debug("h2 write: {}", written.error().message);
        break;
      }
      batch.clear();
      continue;
    }
    if (reader_done_) break;
    if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) break;
    auto cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none) break;
    if (!wake_pending_) {
      // An idle session keeps no write buffer: most of them wait far longer than they write.
      std::string().swap(batch);
      wake_timer_.expires_at(asio::steady_timer::time_point::max());
      co_await wake_timer_.async_wait(kUseTuple);
    }
  }
  writer_done_ = true;
  // The reader may be parked in ReadSome; closing is the ByteStream way to release it.
  if (!reader_done_) stream_.Close();
}

void H2Session::ArmStallTimer() {
  if (settings_.write_stall_timeout.count() <= 0) return;
  stall_timer_.expires_after(settings_.write_stall_timeout);
  // Closing is what releases a write parked on a full socket. A firing that raced with the
  // write's completion may run after the session is gone: `alive` tells.
  std::weak_ptr<int> alive = alive_;
  stall_timer_.async_wait([this, alive](boost::system::error_code ec) {
    if (ec || alive.expired()) return;
    LimitTripped("h2_write_stall", *logger_, "peer stopped reading; ending its HTTP/2 session");
    stream_.Close();
  });
}

asio::awaitable<void> H2Session::WaitForHandlers() {
  while (active_handlers_ > 0) {
    handlers_timer_.expires_at(asio::steady_timer::time_point::max());
    co_await handlers_timer_.async_wait(kUseTuple);
  }
}

}  // namespace internal

asio::awaitable<void> ServeHttp2(ByteStream& stream, H2Handler handler, H2Settings settings,
                                 std::shared_ptr<spdlog::logger> logger) {
  internal::H2Session session(stream, std::move(handler), settings, std::move(logger));
  // A thread of its own, so our cancellation settings do not leak into the caller's.
  co_await asio::co_spawn(stream.executor(), session.Run(), asio::use_awaitable);
}

}  // namespace keel::http
