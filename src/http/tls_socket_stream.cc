#include "http/tls_socket_stream.h"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <cstring>
#include <mutex>

namespace keel::http {

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

Result<std::shared_ptr<SSL_CTX>> LoadServerTlsContext(const std::string& cert_path,
                                                      const std::string& key_path) {
  ERR_clear_error();
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) return MakeError(Errc::kInternal, "tls: SSL_CTX_new: " + OpenSslError());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_path.c_str()) != 1) {
    return MakeError(Errc::kInvalidArgument, cert_path + ": no usable certificate (" +
                                                 OpenSslError() + ")");
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key_path.c_str(), SSL_FILETYPE_PEM) != 1) {
    if (ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
      return MakeError(Errc::kInvalidArgument,
                       key_path + ": no usable private key (" + OpenSslError() + ")");
    }
    ERR_clear_error();
    return MakeError(Errc::kInvalidArgument,
                     key_path + ": the private key does not match the certificate in " + cert_path);
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    ERR_clear_error();
    return MakeError(Errc::kInvalidArgument,
                     key_path + ": the private key does not match the certificate in " + cert_path);
  }
  return ctx;
}

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

asio::awaitable<Result<void>> TlsSocketStream::Shutdown() {
  if (closed_) co_return MakeError(Errc::kUnavailable, "tls shutdown: closed");
  for (;;) {
    ERR_clear_error();
    // 0: our close_notify is out (the peer's is not awaited); 1: both sides are done.
    int ret = SSL_shutdown(ssl_);
    if (ret >= 0) break;
    auto settled = co_await Settle(ret, "shutdown");
    if (!settled) co_return settled.error();
    if (!*settled) break;
  }
  boost::system::error_code ec;
  socket_.shutdown(asio::socket_base::shutdown_send, ec);
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

}  // namespace keel::http
