#include "cli/unix_client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace keel::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using Stream = beast::basic_stream<asio::local::stream_protocol>;
constexpr auto kUseAwaitable = asio::as_tuple(asio::use_awaitable);

Error Unreachable(const std::string& socket_path, const boost::system::error_code& ec) {
  return MakeError(Errc::kUnavailable, "cannot reach keel at " + socket_path + " (" +
                                           ec.message() + "): is `keel serve` running?");
}

Error Broken(const std::string& socket_path, const boost::system::error_code& ec) {
  std::string why = ec == beast::error::timeout ? "timed out" : ec.message();
  return MakeError(Errc::kUnavailable, "talking to keel at " + socket_path + ": " + why);
}

asio::awaitable<Result<HttpReply>> Exchange(Stream& stream, std::string socket_path,
                                            bhttp::request<bhttp::string_body> req,
                                            std::chrono::seconds timeout) {
  stream.expires_after(timeout);
  auto [cec] = co_await stream.async_connect(
      asio::local::stream_protocol::endpoint(socket_path), kUseAwaitable);
  if (cec) co_return Unreachable(socket_path, cec);
  auto [wec, written] = co_await bhttp::async_write(stream, req, kUseAwaitable);
  if (wec) co_return Broken(socket_path, wec);
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(256 * 1024 * 1024);  // a node list of a large tailnet
  auto [rec, read] = co_await bhttp::async_read(stream, buffer, parser, kUseAwaitable);
  if (rec) co_return Broken(socket_path, rec);
  auto& res = parser.get();
  co_return HttpReply{static_cast<int>(res.result_int()), std::move(res.body())};
}

}  // namespace

Result<HttpReply> UnixHttpRequest(const std::string& socket_path, const std::string& method,
                                  const std::string& target, const std::string& body,
                                  std::chrono::seconds timeout) {
  bhttp::request<bhttp::string_body> req(bhttp::string_to_verb(method), target, 11);
  req.set(bhttp::field::host, "keel");
  req.set(bhttp::field::user_agent, "keel-cli");
  req.set(bhttp::field::connection, "close");
  if (!body.empty()) {
    req.set(bhttp::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();

  asio::io_context io;
  Stream stream(io);
  Result<HttpReply> result = MakeError(Errc::kInternal, "request did not complete");
  asio::co_spawn(io, Exchange(stream, socket_path, std::move(req), timeout),
                 [&result](std::exception_ptr e, Result<HttpReply> r) {
                   if (e) std::rethrow_exception(e);
                   result = std::move(r);
                 });
  io.run();
  return result;
}

}  // namespace keel::cli
