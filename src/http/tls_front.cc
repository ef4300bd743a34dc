#include "http/tls_front.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <array>

#include "http/tls_socket_stream.h"

namespace keel::http::internal {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using Local = asio::local::stream_protocol::socket;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

namespace {

// Bounds on the parts the HTTP server's own deadlines cannot see: the handshake, one write to
// a client that stopped reading, and the wait for the client to close after we are done.
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
constexpr auto kWriteTimeout = std::chrono::seconds(30);
constexpr auto kLingerTimeout = std::chrono::seconds(5);

// Closes the TLS connection when it fires: every wait here is bounded through it.
class Watchdog {
 public:
  Watchdog(asio::any_io_executor ex, TlsSocketStream& tls) : timer_(std::move(ex)), tls_(tls) {}
  void Arm(std::chrono::steady_clock::duration d) {
    timer_.expires_after(d);
    timer_.async_wait([tls = &tls_](boost::system::error_code ec) {
      if (!ec) tls->Close();
    });
  }
  void Disarm() { timer_.cancel(); }

 private:
  asio::steady_timer timer_;
  TlsSocketStream& tls_;
};

// Client to server: decrypted bytes into the pair. A clean end half-closes the pair so the
// server reads an end of stream; a failure closes it so the server's next write fails too.
asio::awaitable<void> PumpIn(TlsSocketStream& tls, Local& pair) {
  std::array<uint8_t, 16 * 1024> buf;
  for (;;) {
    auto n = co_await tls.ReadSome(buf);
    boost::system::error_code ignored;
    if (!n) {
      pair.close(ignored);
      co_return;
    }
    if (*n == 0) {
      pair.shutdown(Local::shutdown_send, ignored);
      co_return;
    }
    auto [ec, written] = co_await asio::async_write(pair, asio::buffer(buf.data(), *n), kUseTuple);
    if (ec) co_return;
  }
}

// Server to client: what the server wrote, encrypted. When the server is done, the client gets
// a close_notify and a few seconds to hang up before the connection is dropped.
asio::awaitable<void> PumpOut(Local& pair, TlsSocketStream& tls, Watchdog& watchdog) {
  std::array<uint8_t, 16 * 1024> buf;
  for (;;) {
    auto [ec, n] = co_await pair.async_read_some(asio::buffer(buf), kUseTuple);
    if (ec) break;
    watchdog.Arm(kWriteTimeout);
    auto wrote = co_await tls.WriteAll(std::span<const uint8_t>(buf.data(), n));
    watchdog.Disarm();
    if (!wrote) {
      boost::system::error_code ignored;
      pair.close(ignored);
      co_return;
    }
  }
  watchdog.Arm(kLingerTimeout);
  co_await tls.Shutdown();
}

}  // namespace

asio::awaitable<void> ServeTlsConnection(std::shared_ptr<ServerState> state,
                                         std::shared_ptr<SSL_CTX> ctx, asio::ip::tcp::socket socket,
                                         std::string remote) {
  if (state->stopped) co_return;
  auto ex = socket.get_executor();
  auto created = TlsSocketStream::Create(std::move(socket), ctx.get());
  if (!created) {
    state->logger->warn("{}: {}", remote, created.error().message);
    co_return;
  }
  std::unique_ptr<TlsSocketStream> tls = std::move(*created);
  Local inner(ex), outer(ex);
  boost::system::error_code ec;
  asio::local::connect_pair(inner, outer, ec);
  if (ec) {
    state->logger->warn("{}: socket pair: {}", remote, ec.message());
    co_return;
  }
  uint64_t id = state->next_id++;
  state->live[id] = [&tls, &outer] {
    tls->Close();
    boost::system::error_code ignored;
    outer.close(ignored);
  };
  struct Unregister {
    ServerState& st;
    uint64_t id;
    ~Unregister() { st.live.erase(id); }
  } unregister{*state, id};

  Watchdog watchdog(ex, *tls);
  watchdog.Arm(kHandshakeTimeout);
  auto handshake = co_await tls->Handshake();
  watchdog.Disarm();
  if (!handshake) {
    state->logger->debug("{}: {}", remote, handshake.error().message);
    co_return;
  }
  SpawnConnection(state, ServeConnection(state, Socket(std::move(inner)), remote), remote);
  co_await (PumpIn(*tls, outer) && PumpOut(outer, *tls, watchdog));
  watchdog.Disarm();
  tls->Close();
}

}  // namespace keel::http::internal
