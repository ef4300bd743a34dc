#include "derp/tls_socket_stream.h"

#include <openssl/err.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <cstring>
#include <mutex>

namespace keel::derp {

namespace asio = boost::asio;

namespace {

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "connection lost";
  char text[256];
  ERR_error_string_n(e, text, sizeof text);
  return text;
}

}  // namespace

Result<std::unique_ptr<TlsSocketStream>> TlsSocketStream::Create(asio::ip::tcp::socket socket,
                                                                 SSL_CTX* ctx) {
  // OpenSSL writes the socket with write(2), which raises SIGPIPE when the peer is gone (Asio's
  // own sends pass MSG_NOSIGNAL). A server wants EPIPE instead, so the signal is ignored.
  static std::once_flag ignore_sigpipe;
  std::call_once(ignore_sigpipe, [] { std::signal(SIGPIPE, SIG_IGN); });
  boost::system::error_code ec;
  socket.non_blocking(true, ec);
  if (ec) return MakeError(Errc::kUnavailable, "tls: non-blocking socket: " + ec.message());
  SSL* ssl = SSL_new(ctx);
  if (ssl == nullptr) return MakeError(Errc::kInternal, "tls: SSL_new: " + OpenSslError());
  if (SSL_set_fd(ssl, static_cast<int>(socket.native_handle())) != 1) {
    SSL_free(ssl);
    return MakeError(Errc::kInternal, "tls: SSL_set_fd: " + OpenSslError());
  }
  // Record buffers go back to the allocator whenever they are empty: an idle connection
  // holds none. Writes may complete record by record (WriteAll loops).
  SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE);
  return std::unique_ptr<TlsSocketStream>(new TlsSocketStream(std::move(socket), ssl));
}

TlsSocketStream::~TlsSocketStream() { SSL_free(ssl_); }

void TlsSocketStream::Unread(std::string bytes) { initial_ = LeadingBytes(std::move(bytes)); }

asio::awaitable<Result<bool>> TlsSocketStream::Settle(int ret, const char* what) {
  int sys_errno = errno;
  int err = SSL_get_error(ssl_, ret);
  asio::socket_base::wait_type wait;
  switch (err) {
    case SSL_ERROR_WANT_READ: wait = asio::socket_base::wait_read; break;
    case SSL_ERROR_WANT_WRITE: wait = asio::socket_base::wait_write; break;
    // A close_notify, or (SSL_OP_IGNORE_UNEXPECTED_EOF on the context) a plain TCP close:
    // clients usually just drop the connection.
    case SSL_ERROR_ZERO_RETURN: co_return false;
    case SSL_ERROR_SYSCALL:
      ERR_clear_error();
      co_return MakeError(Errc::kUnavailable,
                          std::string("tls ") + what + ": " +
                              (sys_errno != 0 ? std::strerror(sys_errno) : "connection lost"));
    default:
      co_return MakeError(Errc::kUnavailable, std::string("tls ") + what + ": " + OpenSslError());
  }
  auto [ec] = co_await socket_.async_wait(wait, asio::as_tuple(asio::use_awaitable));
  if (ec) co_return MakeError(Errc::kUnavailable, std::string("tls ") + what + ": " + ec.message());
  if (closed_) co_return MakeError(Errc::kUnavailable, std::string("tls ") + what + ": closed");
  co_return true;
}

asio::awaitable<Result<void>> TlsSocketStream::Handshake() {
  if (closed_) co_return MakeError(Errc::kUnavailable, "tls handshake: closed");
  for (;;) {
    ERR_clear_error();
    int ret = SSL_accept(ssl_);
    if (ret == 1) co_return Result<void>();
    auto settled = co_await Settle(ret, "handshake");
    if (!settled) co_return settled.error();
    if (!*settled) co_return MakeError(Errc::kUnavailable, "tls handshake: peer went away");
  }
}

asio::awaitable<Result<size_t>> TlsSocketStream::ReadSome(std::span<uint8_t> out) {
  if (out.empty()) co_return MakeError(Errc::kInvalidArgument, "ReadSome: empty buffer");
  if (!initial_.empty()) co_return initial_.Take(out);
  if (closed_) co_return MakeError(Errc::kUnavailable, "tls read: closed");
  for (;;) {
    size_t n = 0;
    ERR_clear_error();
    int ret = SSL_read_ex(ssl_, out.data(), out.size(), &n);
    if (ret == 1) co_return n;
    auto settled = co_await Settle(ret, "read");
    if (!settled) co_return settled.error();
    if (!*settled) co_return size_t{0};
  }
}

asio::awaitable<Result<void>> TlsSocketStream::WriteAll(std::span<const uint8_t> data) {
  if (closed_) co_return MakeError(Errc::kUnavailable, "tls write: closed");
  while (!data.empty()) {
    size_t n = 0;
    ERR_clear_error();
    int ret = SSL_write_ex(ssl_, data.data(), data.size(), &n);
    if (ret == 1) {
      data = data.subspan(n);
      continue;
    }
    auto settled = co_await Settle(ret, "write");
    if (!settled) co_return settled.error();
    if (!*settled) co_return MakeError(Errc::kUnavailable, "tls write: peer closed");
  }
  co_return Result<void>();
}

// Shut down, not closed: OpenSSL holds the descriptor number, and a closed number can be
// reused by the next accepted connection at once. The destructor closes it.
void TlsSocketStream::Close() {
  closed_ = true;
  boost::system::error_code ec;
  socket_.shutdown(asio::socket_base::shutdown_both, ec);
  socket_.cancel(ec);
}

}  // namespace keel::derp
