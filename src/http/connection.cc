// One HTTP/1.1 connection: read a request, route it, answer, repeat while keep-alive.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "base/limits.h"
#include "http/chunked_stream.h"
#include "http/server_internal.h"
#include "http/upgrader_impl.h"

namespace keel::http::internal {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using namespace asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

Deadline::Deadline(asio::any_io_executor ex)
    : timer_(std::move(ex)), expiry_(Clock::time_point::max()) {
  timer_.expires_at(Clock::time_point::max());
}

void Deadline::Arm(Clock::duration d) {
  expiry_ = Clock::now() + d;
  if (expiry_ < timer_.expiry()) timer_.expires_at(expiry_);  // wakes Watch to re-check
}

void Deadline::Disarm() { expiry_ = Clock::time_point::max(); }

asio::awaitable<void> Deadline::Watch(Socket& socket) {
  for (;;) {
    co_await timer_.async_wait(kUseTuple);
    auto cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none) co_return;
    if (Clock::now() >= expiry_) {
      boost::system::error_code ignored;
      socket.close(ignored);
      co_return;
    }
    timer_.expires_at(expiry_);
  }
}

namespace {

Request ToRequest(const bhttp::request<bhttp::string_body>& msg, const std::string& remote) {
  Request req;
  req.method = std::string(msg.method_string());
  req.target = std::string(msg.target());
  size_t q = req.target.find('?');
  req.path = req.target.substr(0, q);
  if (q != std::string::npos) req.query = req.target.substr(q + 1);
  for (const auto& field : msg) {
    req.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  req.body = msg.body();
  req.remote = remote;
  return req;
}

asio::awaitable<bool> WriteResponse(Socket& socket, const Response& response, unsigned version,
                                    bool keep_alive, bool head) {
  bhttp::response<bhttp::string_body> res;
  res.result(static_cast<unsigned>(response.status));
  res.version(version);
  for (const auto& [name, value] : response.headers) res.insert(name, value);
  res.keep_alive(keep_alive);
  if (head) {
    res.content_length(response.body.size());  // HEAD: announce the size, send no body
  } else {
    res.body() = response.body;
    res.prepare_payload();
  }
  bhttp::response_serializer<bhttp::string_body> sr(res);
  if (head) sr.split(true);
  auto [ec, n] = head ? co_await bhttp::async_write_header(socket, sr, kUseTuple)
                      : co_await bhttp::async_write(socket, sr, kUseTuple);
  co_return !ec;
}

// After refusing a request whose body we won't read, stop sending and swallow what the
// client is still uploading for a moment; closing with unread data would make the kernel
// answer with RST, and the client could lose our error response.
asio::awaitable<void> LingeringClose(Socket& socket, Deadline& deadline) {
  boost::system::error_code ignored;
  socket.shutdown(Socket::shutdown_send, ignored);
  deadline.Arm(std::chrono::seconds(1));
  std::array<char, 4096> sink;
  size_t total = 0;
  while (total < (8u << 20)) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(sink), kUseTuple);
    if (ec) break;
    total += n;
  }
  socket.close(ignored);
}

// Maps a failed request read to the answer owed to the client, if any.
std::optional<Response> ReadErrorResponse(const boost::system::error_code& ec) {
  if (ec == bhttp::error::body_limit) return Response::Text(413, "request body too large\n");
  if (ec == bhttp::error::header_limit) {
    return Response::Text(431, "request header fields too large\n");
  }
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
      ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
    return Response::Text(400, "malformed request: " + ec.message() + "\n");
  }
  return std::nullopt;
}

asio::awaitable<void> RequestLoop(ServerState& st, uint64_t id, Socket& socket,
                                  std::string remote, Deadline& deadline, CountedSlot& half_open) {
  const ServerSettings& cfg = st.settings;
  beast::flat_buffer buffer;
  for (;;) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(cfg.max_header_bytes));
    parser.body_limit(cfg.max_body_bytes);
    if (half_open.held()) {
      deadline.Arm(cfg.first_request_timeout);
    } else {
      deadline.Arm(buffer.size() == 0 ? cfg.idle_timeout : cfg.request_timeout);
    }
    auto [ec, n] = co_await bhttp::async_read_header(socket, buffer, parser, kUseTuple);
    if (!ec) half_open.Release();
    if (!ec && !parser.is_done()) {
      deadline.Arm(cfg.request_timeout);
      std::tie(ec, n) = co_await bhttp::async_read(socket, buffer, parser, kUseTuple);
    }
    if (ec) {
      if (auto res = ReadErrorResponse(ec)) {
        st.logger->debug("{}: bad request: {}", remote, ec.message());
        deadline.Arm(cfg.request_timeout);
        co_await WriteResponse(socket, *res, 11, false, false);
        co_await LingeringClose(socket, deadline);
      }
      co_return;
    }
    auto& msg = parser.get();
    bool keep_alive = msg.keep_alive();
    Request req = ToRequest(msg, remote);
    std::optional<Response> res;
    deadline.Disarm();
    if (const UpgradeHandler* up = st.router.FindUpgrade(req.path)) {
      UpgraderImpl upgrader(st, id, socket, buffer, msg);
      res = co_await (*up)(std::move(req), upgrader);
      if (!res || upgrader.taken()) co_return;  // the handler owned the connection
    } else if (const StreamHandler* sh = st.router.FindStream(req.path)) {
      co_await ServeStreamed(socket, *sh, std::move(req), msg.version(), st.logger);
      boost::system::error_code ignored;
      socket.shutdown(Socket::shutdown_send, ignored);
      co_return;
    } else if (const Handler* h = st.router.Find(req.path)) {
      res = co_await (*h)(std::move(req));
    } else {
      res = Response::Text(404, "not found\n");
    }
    deadline.Arm(cfg.request_timeout);
    bool head = msg.method() == bhttp::verb::head;
    if (!co_await WriteResponse(socket, *res, msg.version(), keep_alive, head)) co_return;
    if (!keep_alive) {
      boost::system::error_code ignored;
      socket.shutdown(Socket::shutdown_send, ignored);
      co_return;
    }
  }
}

}  // namespace

asio::awaitable<void> ServeConnection(std::shared_ptr<ServerState> state, Socket socket,
                                      std::string remote) {
  if (state->stopped) co_return;
  uint64_t id = state->next_id++;
  state->live[id] = [&socket] {
    boost::system::error_code ignored;
    socket.close(ignored);
  };
  struct Unregister {
    ServerState& st;
    uint64_t id;
    ~Unregister() { st.live.erase(id); }
  } unregister{*state, id};
  CountedSlot half_open(state->half_open);  // until the first request header is in
  Deadline deadline(socket.get_executor());
  co_await (RequestLoop(*state, id, socket, remote, deadline, half_open) || deadline.Watch(socket));
}

}  // namespace keel::http::internal
