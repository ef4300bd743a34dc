#include "derp/tls_server.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <atomic>
#include <map>
#include <mutex>
#include <vector>

#include "derp/tls_byte_stream.h"

namespace keel::derp {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::ip::tcp;
using SslStream = TlsByteStream::Stream;

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
  std::map<uint64_t, std::pair<asio::any_io_executor, SslStream*>> live;  // guarded by mu
  uint64_t next_id = 1;                                                    // guarded by mu
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

asio::awaitable<bool> WriteResponse(SslStream& stream, const http::Response& resp,
                                    const bhttp::request<bhttp::string_body>& req) {
  bhttp::response<bhttp::string_body> out{static_cast<bhttp::status>(resp.status), req.version()};
  for (const auto& [name, value] : resp.headers) out.insert(name, value);
  out.body() = req.method() == bhttp::verb::head ? std::string() : resp.body;
  out.keep_alive(req.keep_alive());
  out.prepare_payload();
  auto [ec, n] = co_await bhttp::async_write(stream, out, asio::as_tuple(asio::use_awaitable));
  co_return !ec && req.keep_alive();
}

// Closes the socket when it fires; the way every pre-upgrade deadline is enforced.
void ArmWatchdog(asio::steady_timer& timer, SslStream* stream, std::chrono::milliseconds d) {
  timer.expires_after(d);
  timer.async_wait([stream](boost::system::error_code ec) {
    if (ec) return;
    boost::system::error_code ignored;
    stream->lowest_layer().close(ignored);
  });
}

// Handles a /derp request; returns the stream to the relay when it upgrades.
asio::awaitable<void> ServeDerp(std::shared_ptr<State> st, std::unique_ptr<SslStream> stream,
                                beast::flat_buffer& buffer, http::Request request) {
  bool fast_start = WantsFastStart(request);
  st->logger->debug("derp {}: /derp upgrade{}", request.remote, fast_start ? " (fast start)" : "");
  if (!fast_start) {
    bhttp::response<bhttp::empty_body> res{bhttp::status::switching_protocols, 11};
    for (const auto& [name, value] : DerpUpgradeHeaders(st->relay.public_key())) {
      res.insert(name, value);
    }
    auto [ec, n] = co_await bhttp::async_write(*stream, res, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
  }
  // A fast-start client has already sent its ClientInfo behind the request.
  std::string leftover = beast::buffers_to_string(buffer.data());
  buffer.consume(buffer.size());
  auto derp = std::make_unique<TlsByteStream>(std::move(*stream), std::move(leftover));
  co_await st->relay.Serve(std::move(derp), request.remote);
}

void Forget(State& st, uint64_t id) {
  std::lock_guard lock(st.mu);
  st.live.erase(id);
}

// Runs on the connection's own loop, which may be another thread than the acceptor's.
asio::awaitable<void> ServeConnection(std::shared_ptr<State> st, tcp::socket socket,
                                      std::string remote) {
  auto ex = socket.get_executor();
  auto stream = std::make_unique<SslStream>(std::move(socket), st->ctx);
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
  auto [hs_ec] = co_await stream->async_handshake(asio::ssl::stream_base::server,
                                                  asio::as_tuple(asio::use_awaitable));
  beast::flat_buffer buffer;
  while (!hs_ec && !st->stopped) {
    ArmWatchdog(watchdog, stream.get(), st->settings.request_timeout);
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(st->settings.max_header_bytes));
    parser.body_limit(64 * 1024);
    auto [ec, n] = co_await bhttp::async_read(*stream, buffer, parser,
                                              asio::as_tuple(asio::use_awaitable));
    if (ec) break;
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
  boost::system::error_code ignored;
  stream->lowest_layer().close(ignored);
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
      boost::system::error_code ec;
      it->second.second->lowest_layer().close(ec);
    });
  }
}

}  // namespace keel::derp
