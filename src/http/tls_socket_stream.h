#pragma once
// TlsSocketStream: the server side of TLS straight on a non-blocking TCP socket. OpenSSL reads
// and writes the socket itself; the stream only waits for readiness through Asio. Unlike
// asio::ssl::stream it keeps no transport buffers of its own (asio holds two 17 KiB buffers
// and a BIO pair per connection), so an idle relay connection costs OpenSSL's state alone and
// every record is copied once less. The relay's TLS listener and the HTTP server's TLS
// listeners (tls_front.h) use it.
// Threading: the socket's executor; ByteStream rules (one ReadSome and one WriteAll at a time).

#include <openssl/ssl.h>

#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>

#include "base/byte_stream.h"
#include "base/leading_bytes.h"

namespace keel::http {

// A server context from PEM files (the certificate file may hold the chain, leaf first):
// TLS 1.2 or newer, no renegotiation, a TCP close without close_notify read as an end of
// stream. No ALPN is offered, so clients speak HTTP/1.1. The error names the failing file.
Result<std::shared_ptr<SSL_CTX>> LoadServerTlsContext(const std::string& cert_path,
                                                      const std::string& key_path);

class TlsSocketStream final : public ByteStream {
 public:
  // Takes the socket (made non-blocking). Fails when OpenSSL cannot make a connection object.
  // The first call makes the process ignore SIGPIPE (see the .cc).
  static Result<std::unique_ptr<TlsSocketStream>> Create(boost::asio::ip::tcp::socket socket,
                                                         SSL_CTX* ctx);
  ~TlsSocketStream() override;
  TlsSocketStream(const TlsSocketStream&) = delete;
  TlsSocketStream& operator=(const TlsSocketStream&) = delete;

  // The server handshake; kUnavailable when the peer goes away or TLS fails.
  boost::asio::awaitable<Result<void>> Handshake();
  // Sends close_notify and shuts the TCP write side; reading may go on. For a server that is
  // done answering, so the client can tell a complete response from a cut one.
  boost::asio::awaitable<Result<void>> Shutdown();
  // `bytes` come back from ReadSome before anything else (what a parser read past a request).
  void Unread(std::string bytes);

  boost::asio::awaitable<Result<size_t>> ReadSome(std::span<uint8_t> out) override;
  boost::asio::awaitable<Result<void>> WriteAll(std::span<const uint8_t> data) override;
  void Close() override;
  boost::asio::any_io_executor executor() override { return socket_.get_executor(); }

 private:
  TlsSocketStream(boost::asio::ip::tcp::socket socket, SSL* ssl)
      : socket_(std::move(socket)), ssl_(ssl) {}
  // After an OpenSSL call returned `ret`: waits for the readiness it asked for (true), reports
  // a clean end of stream (false), or says why the call failed for good.
  boost::asio::awaitable<Result<bool>> Settle(int ret, const char* what);

  boost::asio::ip::tcp::socket socket_;
  SSL* ssl_;
  LeadingBytes initial_;
  bool closed_ = false;  // by Close(): no OpenSSL call touches the socket after it
};

}  // namespace keel::http
