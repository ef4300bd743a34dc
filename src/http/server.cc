#include "http/server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/fmt/fmt.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/limits.h"
#include "http/server_internal.h"
#include "http/tls_front.h"
#include "http/tls_socket_stream.h"

namespace keel::http {

namespace asio = boost::asio;
using asio::ip::tcp;
using internal::ServerState;
using internal::Socket;

struct Server::Impl : ServerState {
  using ServerState::ServerState;
};

namespace internal {

void SpawnConnection(const std::shared_ptr<ServerState>& state, asio::awaitable<void> serve,
                     std::string remote, bool accepted) {
  if (accepted) ++state->connections;
  asio::co_spawn(state->executor, std::move(serve),
                 [state, logger = state->logger, remote, accepted](std::exception_ptr e) {
                   if (accepted) --state->connections;
                   if (!e) return;
                   try {
                     std::rethrow_exception(e);
                   } catch (const std::exception& ex) {
                     logger->warn("connection {}: {}", remote, ex.what());
                   }
                 });
}

}  // namespace internal

namespace {

// Whether a just-accepted connection must be turned away (and why), so that a flood of new
// connections cannot take what established ones need.
const char* OverLimit(const ServerState& st) {
  if (st.connections >= st.settings.max_connections) return "http_connections";
  if (st.half_open >= st.settings.max_half_open) return "http_half_open";
  return nullptr;
}

// ServerSettings::max_connections when left 0: the open-file limit less room for the store,
// logs and outgoing connections.
size_t DefaultMaxConnections() {
  constexpr size_t kReserve = 256;
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) return 1 << 20;
  return lim.rlim_cur > 2 * kReserve ? lim.rlim_cur - kReserve : lim.rlim_cur / 2;
}

// Accept errors other than a closed acceptor (EMFILE and friends) are transient: back off
// briefly instead of spinning or giving up on the listener.
// With `tls`, TCP connections are served over TLS with that context.
template <class Acceptor>
asio::awaitable<void> AcceptLoop(std::shared_ptr<ServerState> state, Acceptor& acceptor,
                                 std::string name, std::shared_ptr<SSL_CTX> tls) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (state->stopped || !acceptor.is_open()) co_return;
    if (ec) {
      state->logger->warn("accept on {}: {}", name, ec.message());
      asio::steady_timer pause(state->executor, std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    if (const char* limit = OverLimit(*state)) {
      LimitTripped(limit, *state->logger,
                   fmt::format("{}: refusing a new connection ({} open, {} half-open)", name,
                               state->connections, state->half_open));
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    std::string remote = name;
    if constexpr (std::is_same_v<Acceptor, tcp::acceptor>) {
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      auto ep = socket.remote_endpoint(ignored);
      if (!ignored) remote = ep.address().to_string() + ":" + std::to_string(ep.port());
      if (tls) {
        internal::SpawnConnection(
            state, internal::ServeTlsConnection(state, tls, std::move(socket), remote), remote,
            /*accepted=*/true);
        continue;
      }
    }
    internal::SpawnConnection(
        state, internal::ServeConnection(state, Socket(std::move(socket)), remote), remote,
        /*accepted=*/true);
  }
}

template <class Acceptor>
void StartAccepting(const std::shared_ptr<ServerState>& state, Acceptor& acceptor,
                    std::string name, std::shared_ptr<SSL_CTX> tls = nullptr) {
  asio::co_spawn(state->executor, AcceptLoop(state, acceptor, name, std::move(tls)),
                 [logger = state->logger, name](std::exception_ptr e) {
                   if (!e) return;
                   try {
                     std::rethrow_exception(e);
                   } catch (const std::exception& ex) {
                     logger->error("listener {}: {}", name, ex.what());
                   }
                 });
}

}  // namespace

Server::Server(asio::any_io_executor executor, const Router& router, ServerSettings settings,
               std::shared_ptr<spdlog::logger> logger)
    : impl_(std::make_shared<Impl>(std::move(executor), router, settings, std::move(logger))) {
  impl_->self = impl_;
  if (impl_->settings.max_connections == 0) impl_->settings.max_connections = DefaultMaxConnections();
}

Server::~Server() { Stop(); }

Result<uint16_t> Server::ListenTcp(const std::string& address, uint16_t port) {
  return Listen(address, port, nullptr);
}

Result<uint16_t> Server::ListenTls(const std::string& address, uint16_t port,
                                   const std::string& cert_path, const std::string& key_path) {
  auto ctx = LoadServerTlsContext(cert_path, key_path);
  if (!ctx) return ctx.error();
  return Listen(address, port, std::move(*ctx));
}

Result<uint16_t> Server::Listen(const std::string& address, uint16_t port,
                                std::shared_ptr<SSL_CTX> tls) {
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(address, ec);
  if (ec) return MakeError(Errc::kInvalidArgument, "bad listen address " + address);
  auto acceptor = std::make_unique<tcp::acceptor>(impl_->executor);
  tcp::endpoint endpoint(ip, port);
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return MakeError(Errc::kUnavailable,
                     "listen on " + address + ":" + std::to_string(port) + ": " + ec.message());
  }
  uint16_t bound = acceptor->local_endpoint(ec).port();
  std::string name = address + ":" + std::to_string(bound);
  StartAccepting(impl_, *acceptor, name, tls);
  impl_->tcp_acceptors.push_back(std::move(acceptor));
  impl_->logger->info("listening on {}{}", name, tls ? " (TLS)" : "");
  return bound;
}

Result<void> Server::ListenUnix(const std::string& path, unsigned mode) {
  // A socket file left by a previous run makes bind fail with EADDRINUSE.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return MakeError(Errc::kFailedPrecondition, path + " exists and is not a socket");
    }
    ::unlink(path.c_str());
  }
  boost::system::error_code ec;
  auto acceptor = std::make_unique<asio::local::stream_protocol::acceptor>(impl_->executor);
  asio::local::stream_protocol::endpoint endpoint(path);
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec && ::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0) {
    ec = boost::system::error_code(errno, boost::system::system_category());
  }
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return MakeError(Errc::kUnavailable, "listen on " + path + ": " + ec.message());
  StartAccepting(impl_, *acceptor, "unix:" + path);
  impl_->unix_acceptors.push_back(std::move(acceptor));
  impl_->logger->info("listening on unix:{}", path);
  return Result<void>();
}

void Server::Stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  boost::system::error_code ignored;
  for (auto& a : impl_->tcp_acceptors) a->close(ignored);
  for (auto& a : impl_->unix_acceptors) a->close(ignored);
  // Closers only close descriptors; completions run later, so the map is stable here, but
  // copy anyway in case a closer ever erases.
  auto live = impl_->live;
  for (auto& [id, close] : live) close();
}

}  // namespace keel::http
