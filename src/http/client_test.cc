#include "http/client.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace keel::http {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

TEST(ParseUrl, SplitsSchemeHostPortAndTarget) {
  auto u = ParseUrl("https://idp.example.com/token?x=1#frag");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "idp.example.com");
  EXPECT_EQ(u->port, "443");
  EXPECT_EQ(u->target, "/token?x=1");
  u = ParseUrl("http://[::1]:9400");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, "9400");
  EXPECT_EQ(u->target, "/");
  for (const char* bad : {"ftp://x", "http://", "http://a:99999/", "http://u:p@h/", "http://h:x/"}) {
    EXPECT_FALSE(ParseUrl(bad)) << bad;
  }
}

// Accepts one connection, reads one request and answers `reply` (or nothing, when empty).
class OneShotServer {
 public:
  OneShotServer(asio::io_context& io, std::string reply)
      : acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    asio::co_spawn(io, Serve(std::move(reply)), asio::detached);
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + path;
  }
  const std::string& request() const { return request_; }

 private:
  asio::awaitable<void> Serve(std::string reply) {
    tcp::socket s = co_await acceptor_.async_accept(asio::use_awaitable);
    co_await asio::async_read_until(s, asio::dynamic_buffer(request_), "\r\n\r\n",
                                    asio::use_awaitable);
    if (reply.empty()) {
      held_ = std::move(s);  // never answers
      co_return;
    }
    co_await asio::async_write(s, asio::buffer(reply), asio::use_awaitable);
  }
  tcp::acceptor acceptor_;
  std::string request_;
  std::optional<tcp::socket> held_;
};

Result<ClientResponse> RunFetch(asio::io_context& io, ClientRequest req) {
  Result<ClientResponse> out = MakeError(Errc::kInternal, "did not run");
  asio::co_spawn(io, Fetch(std::move(req)), [&](std::exception_ptr e, Result<ClientResponse> r) {
    if (e) std::rethrow_exception(e);
    out = std::move(r);
  });
  io.run();
  return out;
}

TEST(Fetch, SendsTheRequestAndReadsTheAnswer) {
  asio::io_context io;
  OneShotServer server(io, "HTTP/1.1 201 Created\r\nX-Thing: yes\r\nContent-Length: 2\r\n\r\nok");
  ClientRequest req;
  req.method = "POST";
  req.url = server.url("/token?a=b");
  req.body = "x=1";
  req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  auto r = RunFetch(io, req);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "ok");
  EXPECT_EQ(r->Header("x-thing"), "yes");
  EXPECT_TRUE(server.request().starts_with("POST /token?a=b HTTP/1.1\r\n")) << server.request();
  EXPECT_NE(server.request().find("Content-Type: application/x-www-form-urlencoded"),
            std::string::npos);
}

TEST(Fetch, RefusesAnOversizedBody) {
  asio::io_context io;
  OneShotServer server(io, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'a'));
  ClientRequest req;
  req.url = server.url("/");
  req.max_body_bytes = 10;
  auto r = RunFetch(io, req);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUnavailable);
}

TEST(Fetch, TimesOutWithoutShowingTheQuery) {
  asio::io_context io;
  OneShotServer server(io, "");
  ClientRequest req;
  req.url = server.url("/slow?secret=s3");
  req.timeout = std::chrono::milliseconds(200);
  auto r = RunFetch(io, req);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("timed out"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find("s3"), std::string::npos) << r.error().message;
}

TEST(Fetch, SaysWhenNothingListens) {
  asio::io_context io;
  uint16_t port = 0;
  {
    tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }
  ClientRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(port) + "/";
  auto r = RunFetch(io, req);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("connecting to"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace keel::http
