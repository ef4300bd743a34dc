#include "cli/api_client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "http/client.h"

namespace keel::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using UnixStream = beast::basic_stream<asio::local::stream_protocol>;
using Request = bhttp::request<bhttp::string_body>;
constexpr auto kUseAwaitable = asio::as_tuple(asio::use_awaitable);

using Target = http::Url;

// "http(s)://host:port" with nothing after it but a "/"; a bare "host:port" (Headscale's
// cli.address spelling) is http.
Result<Target> ParseUrl(const std::string& url) {
  auto t = http::ParseUrl(url.find("://") == std::string::npos ? "http://" + url : url);
  if (!t || t->target != "/") {
    return MakeError(Errc::kInvalidArgument,
                     "remote address \"" + url + "\" is not http(s)://host:port");
  }
  return t;
}

Error Unreachable(const std::string& where, const boost::system::error_code& ec) {
  return MakeError(Errc::kUnavailable, "cannot reach keel at " + where + " (" + ec.message() +
                                           "): is `keel serve` running?");
}

// After the request went out: for a read-only request the caller may simply retry; for one
// that changes state the server may or may not have acted on it.
Error Broken(const std::string& where, const Request& req, bool sent,
             const boost::system::error_code& ec) {
  std::string why = ec == beast::error::timeout ? "timed out" : ec.message();
  if (sent && req.method() != bhttp::verb::get) {
    return MakeError(Errc::kDataLoss,
                     "the request was sent to keel at " + where + " but no answer came (" + why +
                         "): its outcome is unknown; check with a list command before retrying");
  }
  return MakeError(Errc::kUnavailable, "talking to keel at " + where + ": " + why);
}

// Writes the request and reads the reply on a connected stream.
template <class Stream>
asio::awaitable<Result<HttpReply>> Exchange(Stream& stream, const std::string& where,
                                            const Request& req) {
  auto [wec, written] = co_await bhttp::async_write(stream, req, kUseAwaitable);
  if (wec) co_return Broken(where, req, written > 0, wec);
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(256 * 1024 * 1024);  // a node list of a large tailnet
  auto [rec, read] = co_await bhttp::async_read(stream, buffer, parser, kUseAwaitable);
  if (rec) co_return Broken(where, req, true, rec);
  auto& res = parser.get();
  co_return HttpReply{static_cast<int>(res.result_int()), std::move(res.body())};
}

asio::awaitable<Result<HttpReply>> OverUnix(std::string path, Request req,
                                            std::chrono::seconds timeout) {
  UnixStream stream(co_await asio::this_coro::executor);
  stream.expires_after(timeout);
  auto [cec] = co_await stream.async_connect(asio::local::stream_protocol::endpoint(path),
                                             kUseAwaitable);
  if (cec) co_return Unreachable(path, cec);
  co_return co_await Exchange(stream, path, req);
}

asio::awaitable<Result<HttpReply>> OverTcp(ApiEndpoint endpoint, Target target, Request req,
                                           std::chrono::seconds timeout) {
  auto executor = co_await asio::this_coro::executor;
  const std::string& where = endpoint.url;
  asio::ip::tcp::resolver resolver(executor);
  auto [rec, results] = co_await resolver.async_resolve(target.host, target.port, kUseAwaitable);
  if (rec) co_return Unreachable(where, rec);
  beast::tcp_stream tcp(executor);
  tcp.expires_after(timeout);
  auto [cec, ep] = co_await tcp.async_connect(results, kUseAwaitable);
  if (cec) co_return Unreachable(where, cec);
  if (!target.tls) co_return co_await Exchange(tcp, where, req);

  asio::ssl::context tls(asio::ssl::context::tls_client);
  tls.set_default_verify_paths();
  tls.set_verify_mode(endpoint.insecure ? asio::ssl::verify_none : asio::ssl::verify_peer);
  if (!endpoint.insecure) tls.set_verify_callback(asio::ssl::host_name_verification(target.host));
  beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp), tls);
  SSL_set_tlsext_host_name(stream.native_handle(), target.host.c_str());
  auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, kUseAwaitable);
  if (hec) {
    co_return MakeError(Errc::kUnavailable, "TLS with keel at " + where + ": " + hec.message() +
                                                (endpoint.insecure ? "" : " (--insecure skips "
                                                                          "verification)"));
  }
  co_return co_await Exchange(stream, where, req);
}

}  // namespace

Result<HttpReply> ApiRequest(const ApiEndpoint& endpoint, const std::string& method,
                             const std::string& target, const std::string& body,
                             std::chrono::seconds timeout) {
  Request req(bhttp::string_to_verb(method), target, 11);
  req.set(bhttp::field::user_agent, "keel-cli");
  req.set(bhttp::field::connection, "close");
  if (!body.empty()) {
    req.set(bhttp::field::content_type, "application/json");
    req.body() = body;
  }
  Result<Target> tcp_target = Target{};
  if (endpoint.url.empty()) {
    req.set(bhttp::field::host, "keel");
  } else {
    tcp_target = ParseUrl(endpoint.url);
    if (!tcp_target) return tcp_target.error();
    req.set(bhttp::field::host, tcp_target->host);
    if (!endpoint.api_key.empty()) {
      req.set(bhttp::field::authorization, "Bearer " + endpoint.api_key);
    }
  }
  req.prepare_payload();

  asio::io_context io;
  Result<HttpReply> result = MakeError(Errc::kInternal, "request did not complete");
  auto done = [&result](std::exception_ptr e, Result<HttpReply> r) {
    if (e) std::rethrow_exception(e);
    result = std::move(r);
  };
  if (endpoint.url.empty()) {
    asio::co_spawn(io, OverUnix(endpoint.unix_socket, std::move(req), timeout), done);
  } else {
    asio::co_spawn(io, OverTcp(endpoint, *tcp_target, std::move(req), timeout), done);
  }
  io.run();
  return result;
}

}  // namespace keel::cli
