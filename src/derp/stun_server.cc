#include "derp/stun_server.h"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <vector>

#include "derp/stun.h"

namespace keel::derp {

namespace asio = boost::asio;
using asio::ip::udp;

struct StunServer::State {
  asio::any_io_executor executor;
  std::shared_ptr<spdlog::logger> logger;
  std::vector<std::unique_ptr<udp::socket>> sockets;
  StunStats stats;
  bool stopped = false;
};

namespace {

asio::awaitable<void> ReceiveLoop(std::shared_ptr<StunServer::State> st, udp::socket* socket) {
  std::array<uint8_t, 1500> buf;
  udp::endpoint from;
  while (!st->stopped) {
    auto [ec, n] = co_await socket->async_receive_from(asio::buffer(buf), from,
                                                       asio::as_tuple(asio::use_awaitable));
    if (st->stopped || !socket->is_open()) co_return;
    if (ec) continue;  // e.g. ICMP errors surfacing as ECONNREFUSED on Linux
    auto tx = ParseStunBindingRequest(std::span<const uint8_t>(buf.data(), n));
    if (!tx) {
      ++st->stats.junk;
      continue;
    }
    ++st->stats.requests;
    Bytes reply = BuildStunBindingResponse(*tx, from);
    boost::system::error_code send_ec;
    // UDP sends do not block in practice; a synchronous send keeps the loop simple.
    socket->send_to(asio::buffer(reply), from, 0, send_ec);
    if (send_ec) ++st->stats.send_errors;
  }
}

}  // namespace

StunServer::StunServer(asio::any_io_executor executor, std::shared_ptr<spdlog::logger> logger)
    : state_(std::make_shared<State>()) {
  state_->executor = std::move(executor);
  state_->logger = std::move(logger);
}

StunServer::~StunServer() { Stop(); }

Result<uint16_t> StunServer::Listen(const std::string& address, uint16_t port) {
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(address, ec);
  if (ec) return MakeError(Errc::kInvalidArgument, "bad STUN listen address " + address);
  auto socket = std::make_unique<udp::socket>(state_->executor);
  udp::endpoint endpoint(ip, port);
  socket->open(endpoint.protocol(), ec);
  if (!ec && ip.is_v6()) socket->set_option(asio::ip::v6_only(true), ec);
  if (!ec) socket->bind(endpoint, ec);
  if (ec) {
    return MakeError(Errc::kUnavailable,
                     "STUN listen on " + address + ":" + std::to_string(port) + ": " + ec.message());
  }
  uint16_t bound = socket->local_endpoint(ec).port();
  asio::co_spawn(state_->executor, ReceiveLoop(state_, socket.get()), asio::detached);
  state_->sockets.push_back(std::move(socket));
  state_->logger->info("derp: STUN listening on {}:{}", address, bound);
  return bound;
}

void StunServer::Stop() {
  if (!state_ || state_->stopped) return;
  state_->stopped = true;
  boost::system::error_code ignored;
  for (auto& s : state_->sockets) s->close(ignored);
}

StunStats StunServer::stats() const { return state_->stats; }

}  // namespace keel::derp
