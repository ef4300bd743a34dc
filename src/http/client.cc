#include "http/client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace keel::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

constexpr auto kUseAwaitable = asio::as_tuple(asio::use_awaitable);

// The URL as errors show it: scheme, host and path, never the query.
std::string Where(const std::string& url) { return url.substr(0, url.find('?')); }

Error Failed(const std::string& url, std::string_view what, const boost::system::error_code& ec) {
  std::string why = ec == beast::error::timeout ? "timed out" : ec.message();
  return MakeError(Errc::kUnavailable, std::string(what) + " " + Where(url) + ": " + why);
}

template <class Stream>
asio::awaitable<Result<ClientResponse>> Exchange(Stream& stream, const ClientRequest& request,
                                                 bhttp::request<bhttp::string_body>& req) {
  auto [wec, written] = co_await bhttp::async_write(stream, req, kUseAwaitable);
  if (wec) co_return Failed(request.url, "sending to", wec);
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(request.max_body_bytes);
  auto [rec, read] = co_await bhttp::async_read(stream, buffer, parser, kUseAwaitable);
  if (rec) co_return Failed(request.url, "reading the answer of", rec);
  ClientResponse out;
  auto& res = parser.get();
  out.status = static_cast<int>(res.result_int());
  for (const auto& field : res) {
    out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  out.body = std::move(res.body());
  co_return out;
}

}  // namespace

Result<Url> ParseUrl(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return MakeError(Errc::kInvalidArgument,
                     "\"" + std::string(url.substr(0, url.find('?'))) + "\" is not a usable URL: " +
                         std::string(why));
  };
  Url u;
  std::string_view rest = url;
  if (rest.starts_with("https://")) {
    u.tls = true;
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else {
    return bad("expected http:// or https://");
  }
  rest = rest.substr(0, rest.find('#'));
  size_t path_at = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, path_at);
  u.target = path_at == std::string_view::npos ? "/" : std::string(rest.substr(path_at));
  if (u.target.front() == '?') u.target.insert(0, "/");
  if (authority.find('@') != std::string_view::npos) return bad("credentials in the URL");
  size_t colon = authority.rfind(':');
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unclosed [");
    u.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return bad("junk after ]");
      u.port = std::string(authority.substr(close + 2));
    }
  } else if (colon != std::string_view::npos) {
    u.host = std::string(authority.substr(0, colon));
    u.port = std::string(authority.substr(colon + 1));
  } else {
    u.host = std::string(authority);
  }
  if (u.port.empty()) u.port = u.tls ? "443" : "80";
  if (u.host.empty()) return bad("no host");
  bool digits = u.port.size() <= 5 && std::all_of(u.port.begin(), u.port.end(), [](char c) {
                  return c >= '0' && c <= '9';
                });
  if (!digits || std::stoi(u.port) > 65535) return bad("bad port");
  return u;
}

std::string_view ClientResponse::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) return value;
  }
  return {};
}

asio::awaitable<Result<ClientResponse>> Fetch(ClientRequest request) {
  auto url = ParseUrl(request.url);
  if (!url) co_return url.error();
  bhttp::request<bhttp::string_body> req(bhttp::string_to_verb(request.method), url->target, 11);
  bool default_port = url->port == (url->tls ? "443" : "80");
  std::string host = url->host.find(':') != std::string::npos ? "[" + url->host + "]" : url->host;
  req.set(bhttp::field::host, default_port ? host : host + ":" + url->port);
  req.set(bhttp::field::user_agent, "keel");
  req.set(bhttp::field::connection, "close");
  for (const auto& [name, value] : request.headers) req.set(name, value);
  req.body() = request.body;
  req.prepare_payload();

  auto executor = co_await asio::this_coro::executor;
  asio::ip::tcp::resolver resolver(executor);
  auto [rec, results] = co_await resolver.async_resolve(url->host, url->port, kUseAwaitable);
  if (rec) co_return Failed(request.url, "resolving", rec);
  beast::tcp_stream tcp(executor);
  tcp.expires_after(request.timeout);
  auto [cec, ep] = co_await tcp.async_connect(results, kUseAwaitable);
  if (cec) co_return Failed(request.url, "connecting to", cec);
  if (!url->tls) co_return co_await Exchange(tcp, request, req);

  asio::ssl::context tls(asio::ssl::context::tls_client);
  tls.set_default_verify_paths();
  tls.set_verify_mode(asio::ssl::verify_peer);
  tls.set_verify_callback(asio::ssl::host_name_verification(url->host));
  beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp), tls);
  SSL_set_tlsext_host_name(stream.native_handle(), url->host.c_str());
  auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, kUseAwaitable);
  if (hec) co_return Failed(request.url, "TLS with", hec);
  co_return co_await Exchange(stream, request, req);
}

}  // namespace keel::http
