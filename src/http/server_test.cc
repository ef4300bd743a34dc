// HTTP/1.1 server over real loopback sockets. The server runs on an io_context thread; the
// test drives blocking clients from the main thread.
#include "http/server.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <atomic>
#include <future>
#include <thread>

#include "base/limits.h"
#include "base/log.h"

namespace keel::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::ip::tcp;
using UpgradeResult = asio::awaitable<std::optional<Response>>;

// Echoes the upgraded stream back until EOF.
asio::awaitable<void> Echo(ByteStream& s) {
  std::array<uint8_t, 1024> buf;
  for (;;) {
    auto n = co_await s.ReadSome(buf);
    if (!n || *n == 0) co_return;
    if (!co_await s.WriteAll(std::span<const uint8_t>(buf.data(), *n))) co_return;
  }
}

template <class Socket>
void SetReadTimeout(Socket& s) {
  timeval tv{5, 0};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

class ServerTest : public ::testing::Test {
 protected:
  ServerTest() {
    router_.Handle("/hello", [](Request r) -> asio::awaitable<Response> {
      co_return Response::Text(200, "hello " + r.Query("name").value_or("?"));
    });
    router_.HandlePrefix("/p/", [](Request r) -> asio::awaitable<Response> {
      co_return Response::Text(200, "prefix " + r.path + " " + r.body);
    });
    router_.HandlePrefix("/p/deeper/", [](Request r) -> asio::awaitable<Response> {
      co_return Response::Text(200, "deeper " + r.path);
    });
    router_.HandleUpgrade("/up", [](Request r, Upgrader& up) -> UpgradeResult {
      if (r.Header("Upgrade") != "test-proto") {
        co_return Response::Text(400, "missing next protocol");
      }
      Headers h{{"Upgrade", "test-proto"}, {"Connection", "upgrade"}};
      auto s = co_await up.Accept(std::move(h));
      if (!s) co_return std::nullopt;
      co_await Echo(**s);
      co_return std::nullopt;
    });
    router_.HandleStreamPrefix("/stream/", [this](Request r, std::shared_ptr<ResponseStream> s) -> asio::awaitable<void> {
      s->Respond(200, {{"content-type", "application/octet-stream"}});
      s->Write("first:" + r.body);
      asio::steady_timer t(co_await asio::this_coro::executor);
      t.expires_after(r.path == "/stream/hold" ? std::chrono::seconds(30) : std::chrono::milliseconds(50));
      auto [ec] = co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) {  // cancelled: the client went away
        stream_cancelled_ = true;
        co_return;
      }
      s->Write(",second");
      s->Finish();
    });
    router_.HandleUpgrade("/ws", [](Request, Upgrader& up) -> UpgradeResult {
      if (!up.IsWebSocket()) co_return Response::Text(400, "not websocket");
      auto s = co_await up.AcceptWebSocket("tailscale-control-protocol");
      if (!s) co_return std::nullopt;
      co_await Echo(**s);
      co_return std::nullopt;
    });
  }
  ~ServerTest() override {
    if (thread_.joinable()) {
      std::promise<void> stopped;
      asio::post(io_, [&] {
        server_->Stop();
        stopped.set_value();
      });
      stopped.get_future().wait();
      io_.stop();
      thread_.join();
    }
  }

  void Start() {
    server_ = std::make_unique<Server>(io_.get_executor(), router_, settings_,
                                       GetLogger("http_test"));
    port_ = server_->ListenTcp("127.0.0.1", 0).value();
    thread_ = std::thread([this] { io_.run(); });
  }

  tcp::socket Dial() {
    tcp::socket s(client_io_);
    s.connect({asio::ip::make_address("127.0.0.1"), port_});
    SetReadTimeout(s);
    return s;
  }

  template <class Stream>
  bhttp::response<bhttp::string_body> Send(Stream& s, bhttp::verb method, std::string target,
                                           std::string body = "") {
    bhttp::request<bhttp::string_body> req{method, target, 11};
    req.set(bhttp::field::host, "localhost");
    req.body() = body;
    req.prepare_payload();
    bhttp::write(s, req);
    bhttp::response<bhttp::string_body> res;
    bhttp::read(s, buffer_, res);
    return res;
  }

  asio::io_context io_;
  // Keeps run() going after Stop() drains every task, so the destructor can still post.
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  asio::io_context client_io_;
  Router router_;
  ServerSettings settings_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
  std::thread thread_;
  beast::flat_buffer buffer_;
  std::atomic<bool> stream_cancelled_ = false;
};

TEST_F(ServerTest, RoutesAndKeepAlive) {
  Start();
  auto s = Dial();
  auto r1 = Send(s, bhttp::verb::get, "/hello?name=a%20b");
  EXPECT_EQ(r1.result_int(), 200);
  EXPECT_EQ(r1.body(), "hello a b");
  EXPECT_EQ(r1[bhttp::field::content_type], "text/plain; charset=utf-8");
  auto r2 = Send(s, bhttp::verb::get, "/missing");  // same connection
  EXPECT_EQ(r2.result_int(), 404);
  auto r3 = Send(s, bhttp::verb::post, "/p/x", "data");
  EXPECT_EQ(r3.body(), "prefix /p/x data");
  auto r4 = Send(s, bhttp::verb::get, "/p/deeper/y");
  EXPECT_EQ(r4.body(), "deeper /p/deeper/y");
}

TEST_F(ServerTest, StreamedResponseIsChunkedAndCloses) {
  Start();
  auto s = Dial();
  auto r = Send(s, bhttp::verb::post, "/stream/x", "body");
  EXPECT_EQ(r.result_int(), 200);
  EXPECT_TRUE(r.chunked());
  EXPECT_FALSE(r.keep_alive());
  EXPECT_EQ(r.body(), "first:body,second");
  EXPECT_EQ(r[bhttp::field::content_type], "application/octet-stream");
}

TEST_F(ServerTest, StreamedHandlerIsCancelledWhenClientLeaves) {
  Start();
  {
    auto s = Dial();
    bhttp::request<bhttp::string_body> req{bhttp::verb::post, "/stream/hold", 11};
    req.set(bhttp::field::host, "localhost");
    req.prepare_payload();
    bhttp::write(s, req);
    std::string got;
    asio::read_until(s, asio::dynamic_buffer(got), "first:");  // the first chunk is out at once
  }
  for (int i = 0; i < 200 && !stream_cancelled_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(stream_cancelled_);
}

TEST_F(ServerTest, BodyTooLargeIs413) {
  settings_.max_body_bytes = 1000;
  Start();
  auto s = Dial();
  auto r = Send(s, bhttp::verb::post, "/hello", std::string(5000, 'x'));
  EXPECT_EQ(r.result_int(), 413);
  EXPECT_FALSE(r.keep_alive());
}

TEST_F(ServerTest, GarbageIs400) {
  Start();
  auto s = Dial();
  asio::write(s, asio::buffer(std::string("GARBAGE\x01 LINE\r\n\r\n")));
  bhttp::response<bhttp::string_body> res;
  bhttp::read(s, buffer_, res);
  EXPECT_EQ(res.result_int(), 400);
  EXPECT_NE(res.body().find("malformed request"), std::string::npos);
}

TEST_F(ServerTest, UpgradeCarriesBytesBothWays) {
  Start();
  auto s = Dial();
  // The bytes right behind the request must reach the upgraded stream.
  asio::write(s, asio::buffer(std::string(
                     "POST /up HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\n"
                     "Upgrade: test-proto\r\nContent-Length: 0\r\n\r\nearly")));
  std::string in;
  size_t header_end = asio::read_until(s, asio::dynamic_buffer(in), "\r\n\r\n");
  std::string head = in.substr(0, header_end);
  in.erase(0, header_end);
  EXPECT_EQ(head.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0u) << head;
  EXPECT_NE(head.find("Upgrade: test-proto"), std::string::npos);
  while (in.size() < 5) asio::read(s, asio::dynamic_buffer(in), asio::transfer_at_least(1));
  EXPECT_EQ(in, "early");
  asio::write(s, asio::buffer(std::string("more")));
  std::string more(4, '\0');
  asio::read(s, asio::buffer(more));
  EXPECT_EQ(more, "more");
}

TEST_F(ServerTest, UpgradeHandlerMayAnswerNormally) {
  Start();
  auto s = Dial();
  auto r = Send(s, bhttp::verb::post, "/up");
  EXPECT_EQ(r.result_int(), 400);
  EXPECT_EQ(r.body(), "missing next protocol");
  EXPECT_EQ(Send(s, bhttp::verb::get, "/hello").result_int(), 200);  // still keep-alive
}

TEST_F(ServerTest, WebSocketRoundTrip) {
  Start();
  beast::websocket::stream<tcp::socket> ws(Dial());
  ws.set_option(beast::websocket::stream_base::decorator([](beast::websocket::request_type& req) {
    req.set(bhttp::field::sec_websocket_protocol, "tailscale-control-protocol");
  }));
  beast::websocket::response_type res;
  ws.handshake(res, "localhost", "/ws?X-Tailscale-Handshake=abc");
  EXPECT_EQ(res[bhttp::field::sec_websocket_protocol], "tailscale-control-protocol");
  EXPECT_TRUE(res[bhttp::field::sec_websocket_extensions].empty());
  ws.binary(true);
  ws.write(asio::buffer(std::string("hello")));
  ws.write(asio::buffer(std::string(" world")));
  std::string got;
  while (got.size() < 11) {
    beast::flat_buffer b;
    ws.read(b);
    got += beast::buffers_to_string(b.data());
  }
  EXPECT_EQ(got, "hello world");
  // A text message breaks the byte stream: the server drops the connection.
  ws.text(true);
  ws.write(asio::buffer(std::string("text")));
  beast::flat_buffer b;
  boost::system::error_code ec;
  ws.read(b, ec);
  EXPECT_TRUE(ec);
}

TEST_F(ServerTest, UnixSocket) {
  std::string path = ::testing::TempDir() + "keel_http_test.sock";
  server_ = std::make_unique<Server>(io_.get_executor(), router_, settings_,
                                     GetLogger("http_test"));
  ASSERT_TRUE(server_->ListenUnix(path));
  ASSERT_TRUE(server_->ListenUnix(path)) << "stale socket file must be replaced";
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  thread_ = std::thread([this] { io_.run(); });
  asio::local::stream_protocol::socket s(client_io_);
  s.connect(asio::local::stream_protocol::endpoint(path));
  SetReadTimeout(s);
  auto r = Send(s, bhttp::verb::get, "/hello?name=unix");
  EXPECT_EQ(r.body(), "hello unix");
}

TEST_F(ServerTest, StopClosesConnections) {
  Start();
  auto plain = Dial();
  EXPECT_EQ(Send(plain, bhttp::verb::get, "/hello").result_int(), 200);
  auto upgraded = Dial();
  asio::write(upgraded, asio::buffer(std::string(
                            "POST /up HTTP/1.1\r\nHost: x\r\nUpgrade: test-proto\r\n\r\n")));
  std::string in;
  asio::read_until(upgraded, asio::dynamic_buffer(in), "\r\n\r\n");
  std::promise<void> stopped;
  asio::post(io_, [&] {
    server_->Stop();
    stopped.set_value();
  });
  stopped.get_future().wait();
  char c;
  boost::system::error_code ec;
  plain.read_some(asio::buffer(&c, 1), ec);
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
  upgraded.read_some(asio::buffer(&c, 1), ec);
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
  boost::system::error_code connect_ec;
  tcp::socket late(client_io_);
  late.connect({asio::ip::make_address("127.0.0.1"), port_}, connect_ec);
  EXPECT_TRUE(connect_ec);
}

TEST_F(ServerTest, HeaderTooLargeIs431) {
  settings_.max_header_bytes = 1024;
  Start();
  auto s = Dial();
  bhttp::request<bhttp::string_body> req{bhttp::verb::get, "/hello", 11};
  req.set(bhttp::field::host, "localhost");
  req.set("X-Padding", std::string(4000, 'p'));
  bhttp::write(s, req);
  bhttp::response<bhttp::string_body> res;
  bhttp::read(s, buffer_, res);
  EXPECT_EQ(res.result_int(), 431);
  EXPECT_FALSE(res.keep_alive());
}

// Whether the server hangs up on `s` (EOF or reset) within the socket's read timeout.
bool ClosedByServer(tcp::socket& s) {
  char c;
  boost::system::error_code ec;
  s.read_some(asio::buffer(&c, 1), ec);
  return ec == asio::error::eof || ec == asio::error::connection_reset;
}

TEST_F(ServerTest, SlowlorisIsDroppedAfterTheFirstRequestTimeout) {
  settings_.first_request_timeout = std::chrono::seconds(1);
  Start();
  auto s = Dial();
  asio::write(s, asio::buffer(std::string("GET /hello HTTP/1.1\r\nHost: x\r\n")));
  auto start = std::chrono::steady_clock::now();
  asio::write(s, asio::buffer(std::string("X-A: 1\r\n")));  // trickling keeps nothing alive
  EXPECT_TRUE(ClosedByServer(s));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::milliseconds(2500));
  EXPECT_GT(took, std::chrono::milliseconds(500));
  // A connection that made its first request in time gets the keep-alive idle timeout.
  auto ok = Dial();
  EXPECT_EQ(Send(ok, bhttp::verb::get, "/hello").result_int(), 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(Send(ok, bhttp::verb::get, "/hello").result_int(), 200);
}

class LimitTest : public ServerTest {
 protected:
  tcp::socket Upgraded() {
    auto s = Dial();
    asio::write(s, asio::buffer(std::string(
                       "POST /up HTTP/1.1\r\nHost: x\r\nUpgrade: test-proto\r\n\r\n")));
    std::string in;
    asio::read_until(s, asio::dynamic_buffer(in), "\r\n\r\n");
    return s;
  }
  static bool Echoes(tcp::socket& s) {
    asio::write(s, asio::buffer(std::string("ping")));
    std::string got(4, '\0');
    boost::system::error_code ec;
    asio::read(s, asio::buffer(got), ec);
    return !ec && got == "ping";
  }
  // Lets the server's accept loop catch up with connections made from here.
  static void Settle() { std::this_thread::sleep_for(std::chrono::milliseconds(200)); }
};

TEST_F(LimitTest, HalfOpenCapRefusesNewConnectionsAndSparesEstablishedOnes) {
  settings_.max_half_open = 3;
  Start();
  auto established = Upgraded();
  std::vector<tcp::socket> idle;
  for (int i = 0; i < 3; ++i) idle.push_back(Dial());
  Settle();
  double before = LimitTrips("http_half_open");
  auto refused = Dial();
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(ClosedByServer(refused));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  EXPECT_EQ(LimitTrips("http_half_open"), before + 1);
  EXPECT_TRUE(Echoes(established));
  // A half-open connection that completes its request frees its slot.
  EXPECT_EQ(Send(idle[0], bhttp::verb::get, "/hello").result_int(), 200);
  Settle();
  auto admitted = Dial();
  EXPECT_EQ(Send(admitted, bhttp::verb::get, "/hello").result_int(), 200);
}

TEST_F(LimitTest, ConnectionCapRefusesNewConnectionsAndSparesEstablishedOnes) {
  settings_.max_connections = 2;
  Start();
  auto a = Upgraded();
  auto b = Upgraded();
  Settle();
  double before = LimitTrips("http_connections");
  auto refused = Dial();
  EXPECT_TRUE(ClosedByServer(refused));
  EXPECT_EQ(LimitTrips("http_connections"), before + 1);
  EXPECT_TRUE(Echoes(a));
  EXPECT_TRUE(Echoes(b));
  a.close();
  Settle();
  auto c = Upgraded();
  EXPECT_TRUE(Echoes(c));
}

}  // namespace
}  // namespace keel::http
