#include "derp/tls_server.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <atomic>
#include <map>
#include <mutex>
#include <sstream>
#include <vector>

#include "http/tls_socket_stream.h"

namespace keel::derp {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::ip::tcp;
using http::TlsSocketStream;

struct TlsServer::State {
  State(asio::any_io_executor ex, Relay& r, TlsServerSettings s, std::shared_ptr<spdlog::logger> l)
      : executor(std::move(ex)), relay(r), settings(std::move(s)), logger(std::move(l)),
        ctx(asio::ssl::context::tls_server) {}

  // The loop a new connection goes to.
  asio::any_io_executor ConnExecutor() {
    return settings.conn_executor ? settings.conn_executor() : executor;
  }

  // Constant after Create (the SSL_CTX is safe to share between threads).
  asio::any_io_executor executor;
  Relay& relay;
  TlsServerSettings settings;
  std::shared_ptr<spdlog::logger> logger;
  asio::ssl::context ctx;
  // Only on `executor`.
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::atomic<bool> stopped{false};
  // Connections not yet handed to the relay, each with the loop it runs on.
  std::mutex mu;
  std::map<uint64_t, std::pair<asio::any_io_executor, TlsSocketStream*>> live;  // guarded by mu
  uint64_t next_id = 1;                                                          // guarded by mu
};

namespace {

using State = TlsServer::State;

Result<void> ConfigureContext(State& st, const TlsCertificate& cert) {
  boost::system::error_code ec;
  st.ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                         asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                         asio::ssl::context::no_tlsv1_1,
                     ec);
  if (!ec) st.ctx.use_certificate_chain(asio::buffer(cert.chain_pem), ec);
  if (!ec) st.ctx.use_private_key(asio::buffer(cert.key_pem), asio::ssl::context::pem, ec);
  if (ec) return MakeError(Errc::kInvalidArgument, "TLS certificate: " + ec.message());
  SSL_CTX_set_mode(st.ctx.native_handle(), SSL_MODE_NO_AUTO_CHAIN);
  // Clients drop the TCP connection without a close_notify: that is an end of stream, not an
  // error. Renegotiation would let a write wait on reads; nothing needs it.
  SSL_CTX_set_options(st.ctx.native_handle(),
                      SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
  if (!st.settings.meta_cert) return Result<void>();
  auto meta = GenerateMetaCertificate(std::span<const uint8_t, 32>(st.relay.public_key()));
  if (!meta) return meta.error();
  const unsigned char* p = meta->data();
  X509* x = d2i_X509(nullptr, &p, static_cast<long>(meta->size()));
  if (x == nullptr || SSL_CTX_add0_chain_cert(st.ctx.native_handle(), x) != 1) {
    X509_free(x);
    return MakeError(Errc::kInternal, "cannot add DERP meta certificate");
  }
  return Result<void>();
}

http::Request ToRequest(const bhttp::request<bhttp::string_body>& req, const std::string& remote) {
  http::Request r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  auto q = r.target.find('?');
  r.path = r.target.substr(0, q);
  if (q != std::string::npos) r.query = r.target.substr(q + 1);
  for (const auto& field : req) {
    r.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  r.remote = remote;
  return r;
}

// Serializes a response (or the 101) and writes it.
template <class Body>
asio::awaitable<bool> Write(TlsSocketStream& stream, bhttp::response<Body>& out) {
  std::ostringstream text;
  text << out;
  std::string bytes = std::move(text).str();
  co_return static_cast<bool>(co_await stream.WriteAll(AsBytes(bytes)));
}

asio::awaitable<bool> WriteResponse(TlsSocketStream& stream, const http::Response& resp,
                                    const bhttp::request<bhttp::string_body>& req) {
  bhttp::response<bhttp::string_body> out{static_cast<bhttp::status>(resp.status), req.version()};
  for (const auto& [name, value] : resp.headers) out.insert(name, value);
  out.body() = req.method() == bhttp::verb::head ? std::string() : resp.body;
  out.keep_alive(req.keep_alive());
  out.prepare_payload();
  co_return co_await Write(stream, out) && req.keep_alive();
}

// Reads one request into `parser`, feeding it from `buffer` (which keeps what follows it).
asio::awaitable<bool> ReadRequest(TlsSocketStream& stream, beast::flat_buffer& buffer,
                                  bhttp::request_parser<bhttp::string_body>& parser) {
  for (;;) {
    if (buffer.size() > 0) {
      boost::system::error_code ec;
      size_t used = parser.put(buffer.data(), ec);
      buffer.consume(used);
      if (parser.is_done()) co_return true;
      if (ec && ec != bhttp::error::need_more) co_return false;
      if (used > 0 && buffer.size() > 0) continue;
    }
    auto space = buffer.prepare(4096);
    auto n = co_await stream.ReadSome(
        std::span<uint8_t>(static_cast<uint8_t*>(space.data()), space.size()));
    if (!n || *n == 0) co_return false;
    buffer.commit(*n);
  }
}

// Closes the socket when it fires; the way every pre-upgrade deadline is enforced.
void ArmWatchdog(asio::steady_timer& timer, TlsSocketStream* stream, std::chrono::milliseconds d) {
  timer.expires_after(d);
  timer.async_wait([stream](boost::system::error_code ec) {
    if (!ec) stream->Close();
  });
}

// Handles a /derp request; hands the stream to the relay when it upgrades.
asio::awaitable<void> ServeDerp(std::shared_ptr<State> st, std::unique_ptr<TlsSocketStream> stream,
                                beast::flat_buffer& buffer, http::Request request) {
  bool fast_start = WantsFastStart(request);
  st->logger->debug("derp {}: /derp upgrade{}", request.remote, fast_start ? " (fast start)" : "");
  if (!fast_start) {
    bhttp::response<bhttp::empty_body> res{bhttp::status::switching_protocols, 11};
    for (const auto& [name, value] : DerpUpgradeHeaders(st->relay.public_key())) {
      res.insert(name, value);
    }
    if (!co_await Write(*stream, res)) co_return;
  }
  // A fast-start client has already sent its ClientInfo behind the request.
  stream->Unread(beast::buffers_to_string(buffer.data()));
  buffer.consume(buffer.size());
  co_await st->relay.Serve(std::move(stream), request.remote);
}

void Forget(State& st, uint64_t id) {
  std::lock_guard lock(st.mu);
  st.live.erase(id);
}

// Runs on the connection's own loop, which may be another thread than the acceptor's.
asio::awaitable<void> ServeConnection(std::shared_ptr<State> st, tcp::socket socket,
                                      std::string remote) {
  auto ex = socket.get_executor();
  auto created = TlsSocketStream::Create(std::move(socket), st->ctx.native_handle());
  if (!created) {
    st->logger->warn("derp {}: {}", remote, created.error().message);
    co_return;
  }
  std::unique_ptr<TlsSocketStream> stream = std::move(*created);
  uint64_t id = 0;
  {
    std::lock_guard lock(st->mu);
    id = st->next_id++;
    st->live[id] = {ex, stream.get()};
  }
  if (st->stopped) {  // Stop ran before this connection was listed: it closes itself
    Forget(*st, id);
    co_return;
  }
  asio::steady_timer watchdog(ex);
  ArmWatchdog(watchdog, stream.get(), st->settings.handshake_timeout);
  auto handshake = co_await stream->Handshake();
  if (!handshake) st->logger->debug("derp {}: {}", remote, handshake.error().message);
  beast::flat_buffer buffer;
  while (handshake && !st->stopped) {
    ArmWatchdog(watchdog, stream.get(), st->settings.request_timeout);
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(st->settings.max_header_bytes));
    parser.body_limit(64 * 1024);
    if (!co_await ReadRequest(*stream, buffer, parser)) break;
    const auto& req = parser.get();
    http::Request request = ToRequest(req, remote);
    if (request.path == "/derp" && ClassifyDerpUpgrade(request) == DerpUpgradeKind::kRaw) {
      watchdog.cancel();
      Forget(*st, id);
      co_await ServeDerp(st, std::move(stream), buffer, std::move(request));
      co_return;
    }
    http::Response resp;
    if (request.path == "/derp") {
      // WebSocket DERP is only served on the plain router; native clients never use it.
      resp = http::Response::Text(426, "DERP requires connection upgrade");
    } else {
      resp = ProbeResponse(request).value_or(http::Response::Text(404, "not found\n"));
    }
    if (!co_await WriteResponse(*stream, resp, req)) break;
  }
  watchdog.cancel();
  Forget(*st, id);
  stream->Close();
}

asio::awaitable<void> AcceptLoop(std::shared_ptr<State> st, tcp::acceptor* acceptor) {
  for (;;) {
    auto [ec, socket] =
        co_await acceptor->async_accept(st->ConnExecutor(), asio::as_tuple(asio::use_awaitable));
    if (st->stopped || !acceptor->is_open()) co_return;
    if (ec) {
      asio::steady_timer pause(st->executor, std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto ep = socket.remote_endpoint(ignored);
    std::string remote = ep.address().to_string() + ":" + std::to_string(ep.port());
    auto ex = socket.get_executor();
    asio::co_spawn(ex, ServeConnection(st, std::move(socket), std::move(remote)), asio::detached);
  }
}

}  // namespace

Result<std::unique_ptr<TlsServer>> TlsServer::Create(asio::any_io_executor executor, Relay& relay,
                                                     const TlsCertificate& cert,
                                                     TlsServerSettings settings,
                                                     std::shared_ptr<spdlog::logger> logger) {
  auto st = std::make_shared<State>(std::move(executor), relay, settings, std::move(logger));
  auto configured = ConfigureContext(*st, cert);
  if (!configured) return configured.error();
  return std::unique_ptr<TlsServer>(new TlsServer(std::move(st)));
}

TlsServer::~TlsServer() { Stop(); }

Result<uint16_t> TlsServer::Listen(const std::string& address, uint16_t port) {
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(address, ec);
  if (ec) return MakeError(Errc::kInvalidArgument, "bad listen address " + address);
  auto acceptor = std::make_unique<tcp::acceptor>(state_->executor);
  tcp::endpoint endpoint(ip, port);
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && ip.is_v6()) acceptor->set_option(asio::ip::v6_only(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return MakeError(Errc::kUnavailable, "derp tls listen on " + address + ":" +
                                             std::to_string(port) + ": " + ec.message());
  }
  uint16_t bound = acceptor->local_endpoint(ec).port();
  asio::co_spawn(state_->executor, AcceptLoop(state_, acceptor.get()), asio::detached);
  state_->acceptors.push_back(std::move(acceptor));
  state_->logger->info("derp: TLS listening on {}:{}", address, bound);
  return bound;
}

void TlsServer::Stop() {
  if (!state_ || state_->stopped) return;
  state_->stopped = true;
  boost::system::error_code ignored;
  for (auto& a : state_->acceptors) a->close(ignored);
  // Each connection is closed on its own loop, if it is still there by then.
  std::lock_guard lock(state_->mu);
  for (const auto& [id, conn] : state_->live) {
    asio::post(conn.first, [st = state_, id = id] {
      std::lock_guard lock(st->mu);
      auto it = st->live.find(id);
      if (it == st->live.end()) return;
      it->second.second->Close();
    });
  }
}

}  // namespace keel::derp
