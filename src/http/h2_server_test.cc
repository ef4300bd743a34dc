// HTTP/2 server against nghttp2's client session, over a loopback TCP pair, all on one
// io_context thread.
#include "http/h2_server.h"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <map>

#include "base/limits.h"
#include "base/log.h"
#include "http/tcp_byte_stream.h"

namespace keel::http {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

asio::awaitable<void> Sleep(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(kUseTuple);
}

// Polls a condition set by the other side of the connection.
asio::awaitable<bool> WaitFor(std::function<bool()> pred, std::chrono::milliseconds limit = 5s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) co_return false;
    co_await Sleep(5ms);
  }
  co_return true;
}

struct ClientStream {
  int status = 0;
  std::string body;
  std::vector<std::string> chunks;
  bool closed = false;
  uint32_t error = 0;
  std::string upload;
  size_t upload_pos = 0;
};

// A minimal HTTP/2 client on nghttp2 for driving the server.
class H2Client {
 public:
  explicit H2Client(tcp::socket socket) : socket_(std::move(socket)) {
    nghttp2_session_callbacks* cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(
        cb, [](nghttp2_session*, const nghttp2_frame* f, const uint8_t* n, size_t nl,
               const uint8_t* v, size_t vl, uint8_t, void* ud) {
          if (std::string_view(reinterpret_cast<const char*>(n), nl) == ":status") {
            Self(ud).streams_[f->hd.stream_id].status =
                std::stoi(std::string(reinterpret_cast<const char*>(v), vl));
          }
          return 0;
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cb, [](nghttp2_session*, uint8_t, int32_t id, const uint8_t* d, size_t len, void* ud) {
          auto& s = Self(ud).streams_[id];
          s.body.append(reinterpret_cast<const char*>(d), len);
          s.chunks.emplace_back(reinterpret_cast<const char*>(d), len);
          return 0;
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        cb, [](nghttp2_session*, int32_t id, uint32_t error, void* ud) {
          auto& s = Self(ud).streams_[id];
          s.closed = true;
          s.error = error;
          return 0;
        });
    nghttp2_session_client_new(&session_, cb, this);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~H2Client() { nghttp2_session_del(session_); }

  int32_t Submit(const std::string& method, const std::string& path, std::string body = {},
                 std::string padding = {}) {
    auto nv = [](const std::string& n, const std::string& v) {
      return nghttp2_nv{(uint8_t*)n.data(), (uint8_t*)v.data(), n.size(), v.size(),
                        NGHTTP2_NV_FLAG_NONE};
    };
    std::string m = ":method", p = ":path", s = ":scheme", a = ":authority", https = "https",
                host = "unused";
    std::string pad = "x-padding";
    nghttp2_nv hdrs[] = {nv(m, method), nv(p, path), nv(s, https), nv(a, host), nv(pad, padding)};
    nghttp2_data_provider provider{};
    provider.read_callback = [](nghttp2_session*, int32_t id, uint8_t* buf, size_t len,
                                uint32_t* flags, nghttp2_data_source*, void* ud) -> ssize_t {
      auto& st = Self(ud).streams_[id];
      size_t n = std::min(len, st.upload.size() - st.upload_pos);
      std::memcpy(buf, st.upload.data() + st.upload_pos, n);
      st.upload_pos += n;
      if (st.upload_pos == st.upload.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
      return static_cast<ssize_t>(n);
    };
    pending_upload_ = std::move(body);
    int32_t id = nghttp2_submit_request(session_, nullptr, hdrs, padding.empty() ? 4 : 5,
                                        pending_upload_.empty() ? nullptr : &provider, nullptr);
    streams_[id].upload = std::move(pending_upload_);
    return id;
  }

  // Grants the server the largest flow-control windows, so only TCP can hold it back.
  void OpenWindows() {
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, NGHTTP2_MAX_WINDOW_SIZE}};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv, 1);
    nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, NGHTTP2_MAX_WINDOW_SIZE);
  }

  void Reset(int32_t id) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  }

  asio::awaitable<void> Flush() {
    for (;;) {
      const uint8_t* data;
      ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n <= 0) co_return;
      std::string copy(reinterpret_cast<const char*>(data), n);
      co_await asio::async_write(socket_, asio::buffer(copy), kUseTuple);
    }
  }

  // Reads and feeds nghttp2 until `pred` holds; false on timeout or EOF.
  asio::awaitable<bool> PumpUntil(std::function<bool()> pred,
                                  std::chrono::milliseconds limit = 5s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    co_await Flush();
    std::array<uint8_t, 4096> buf;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) co_return false;
      asio::steady_timer tick(socket_.get_executor(), 20ms);
      auto r = co_await (socket_.async_read_some(asio::buffer(buf), kUseTuple) ||
                         tick.async_wait(kUseTuple));
      if (r.index() != 0) continue;
      auto [ec, n] = std::get<0>(r);
      if (ec) co_return pred();
      nghttp2_session_mem_recv(session_, buf.data(), n);
      co_await Flush();
    }
    co_return true;
  }

  ClientStream& stream(int32_t id) { return streams_[id]; }
  tcp::socket& socket() { return socket_; }

 private:
  static H2Client& Self(void* ud) { return *static_cast<H2Client*>(ud); }
  tcp::socket socket_;
  nghttp2_session* session_ = nullptr;
  std::map<int32_t, ClientStream> streams_;
  std::string pending_upload_;
};

// Handlers used by the tests, by path.
struct Probe {
  int handler_calls = 0;
  int cancelled = 0;       // handlers woken by stream cancellation
  bool saw_closed = false;
};

H2Handler MakeHandler(Probe& probe) {
  return [&probe](Request req, std::shared_ptr<H2Stream> s) -> asio::awaitable<void> {
    ++probe.handler_calls;
    if (req.path == "/echo") {
      s->Respond(200, {{"Content-Type", "text/plain"}, {"Connection", "close"}});
      s->Write(req.method + " " + req.body + " " + std::string(req.Header("host")));
      s->Finish();
    } else if (req.path == "/stream") {
      s->Respond(200);
      for (int i = 0; i < 3; ++i) {
        co_await Sleep(100ms);
        s->Write("chunk" + std::to_string(i));
      }
    } else if (req.path == "/sleep") {
      co_await Sleep(200ms);
      s->Respond(204);
    } else if (req.path == "/flood") {
      // Produces for as long as the stream is open, with the backpressure a map stream uses.
      s->Respond(200);
      while (!s->closed()) {
        if (s->buffered() < (1u << 20)) s->Write(std::string(256 * 1024, 'f'));
        co_await Sleep(1ms);
      }
    } else if (req.path == "/wait") {
      s->Respond(200);
      s->Write("x");
      asio::steady_timer t(co_await asio::this_coro::executor, 30s);
      auto [ec] = co_await t.async_wait(kUseTuple);
      if (ec == asio::error::operation_aborted) ++probe.cancelled;
      probe.saw_closed = s->closed();
      s->Write("ignored after close");
    }
    co_return;  // "/noresp" and unknown paths: no response, the server answers 500
  };
}

class H2Test : public ::testing::Test {
 protected:
  H2Test() : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}), client_socket_(io_) {
    client_socket_.connect(acceptor_.local_endpoint());
    server_stream_ = std::make_unique<TcpByteStream>(acceptor_.accept());
  }

  void Serve(H2Settings settings = {}) {
    asio::co_spawn(
        io_,
        [this, settings]() -> asio::awaitable<void> {
          co_await ServeHttp2(*server_stream_, MakeHandler(probe_), settings, GetLogger("h2_test"));
          served_ = true;
        },
        [](std::exception_ptr e) {
          if (e) std::rethrow_exception(e);
        });
  }

  // Runs `body` as the client until it finishes; fails the test on a hang.
  void RunClient(std::function<asio::awaitable<void>(H2Client&)> body) {
    H2Client client(std::move(client_socket_));
    bool done = false;
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          co_await body(client);
          done = true;
          // Hang up so the session ends and run_for returns as soon as everything is done.
          boost::system::error_code ignored;
          client.socket().close(ignored);
          EXPECT_TRUE(co_await WaitFor([this] { return served_; })) << "ServeHttp2 did not return";
        },
        [](std::exception_ptr e) {
          if (e) std::rethrow_exception(e);
        });
    io_.run_for(20s);
    EXPECT_TRUE(done) << "client did not finish";
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  tcp::socket client_socket_;
  std::unique_ptr<TcpByteStream> server_stream_;
  Probe probe_;
  bool served_ = false;
};

TEST_F(H2Test, RequestResponse) {
  Serve();
  RunClient([this](H2Client& c) -> asio::awaitable<void> {
    int32_t id = c.Submit("POST", "/echo", "hi");
    int32_t missing = c.Submit("GET", "/noresp");
    EXPECT_TRUE(
        co_await c.PumpUntil([&] { return c.stream(id).closed && c.stream(missing).closed; }));
    EXPECT_EQ(c.stream(id).status, 200);
    EXPECT_EQ(c.stream(id).body, "POST hi unused");
    EXPECT_EQ(c.stream(missing).status, 500);
    c.socket().close();
    EXPECT_TRUE(co_await WaitFor([this] { return served_; }));
  });
}

TEST_F(H2Test, StreamingIsIncremental) {
  Serve();
  RunClient([](H2Client& c) -> asio::awaitable<void> {
    int32_t id = c.Submit("POST", "/stream");
    EXPECT_TRUE(co_await c.PumpUntil([&] { return !c.stream(id).chunks.empty(); }));
    EXPECT_FALSE(c.stream(id).closed) << "first chunk must arrive before the end";
    EXPECT_EQ(c.stream(id).chunks[0], "chunk0");
    EXPECT_TRUE(co_await c.PumpUntil([&] { return c.stream(id).closed; }));
    EXPECT_EQ(c.stream(id).body, "chunk0chunk1chunk2");
    EXPECT_EQ(c.stream(id).chunks.size(), 3u);
    EXPECT_EQ(c.stream(id).error, 0u);
  });
}

TEST_F(H2Test, ConcurrentStreams) {
  Serve();
  RunClient([](H2Client& c) -> asio::awaitable<void> {
    int32_t poll = c.Submit("POST", "/stream");
    std::vector<int32_t> ids;
    for (int i = 0; i < 10; ++i) ids.push_back(c.Submit("GET", "/sleep"));
    auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(co_await c.PumpUntil([&] {
      for (int32_t id : ids) if (!c.stream(id).closed) return false;
      return true;
    }));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);
    for (int32_t id : ids) EXPECT_EQ(c.stream(id).status, 204);
    EXPECT_FALSE(c.stream(poll).closed);  // the streaming one is still going
    EXPECT_TRUE(co_await c.PumpUntil([&] { return c.stream(poll).closed; }));
  });
}

TEST_F(H2Test, ResetCancelsHandler) {
  Serve();
  RunClient([this](H2Client& c) -> asio::awaitable<void> {
    int32_t id = c.Submit("GET", "/wait");
    EXPECT_TRUE(co_await c.PumpUntil([&] { return !c.stream(id).chunks.empty(); }));
    c.Reset(id);
    EXPECT_TRUE(co_await c.PumpUntil([this] { return probe_.cancelled == 1; }));
    EXPECT_TRUE(probe_.saw_closed);
    int32_t next = c.Submit("POST", "/echo", "again");  // the connection lives on
    EXPECT_TRUE(co_await c.PumpUntil([&] { return c.stream(next).closed; }));
    EXPECT_EQ(c.stream(next).body, "POST again unused");
  });
}

TEST_F(H2Test, ConnectionCloseCancelsHandlersAndReturns) {
  Serve();
  RunClient([this](H2Client& c) -> asio::awaitable<void> {
    int32_t a = c.Submit("GET", "/wait");
    int32_t b = c.Submit("GET", "/wait");
    EXPECT_TRUE(co_await c.PumpUntil(
        [&] { return !c.stream(a).chunks.empty() && !c.stream(b).chunks.empty(); }));
    c.socket().close();
    EXPECT_TRUE(co_await WaitFor([this] { return served_; }));
    EXPECT_EQ(probe_.cancelled, 2);
  });
}

TEST_F(H2Test, GarbageEndsSession) {
  Serve();
  RunClient([this](H2Client& c) -> asio::awaitable<void> {
    std::string junk = "GET / HTTP/1.1\r\nHost: x\r\n\r\n" + std::string(100, '\x07');
    co_await asio::async_write(c.socket(), asio::buffer(junk), kUseTuple);
    EXPECT_TRUE(co_await WaitFor([this] { return served_; }));
    EXPECT_EQ(probe_.handler_calls, 0);
  });
}

TEST_F(H2Test, OversizedBodyIs413) {
  H2Settings settings;
  settings.max_request_body = 1000;
  Serve(settings);
  RunClient([this](H2Client& c) -> asio::awaitable<void> {
    int32_t id = c.Submit("POST", "/echo", std::string(5000, 'x'));
    EXPECT_TRUE(co_await c.PumpUntil([&] { return c.stream(id).closed; }));
    EXPECT_EQ(c.stream(id).status, 413);
    EXPECT_EQ(probe_.handler_calls, 0);
    int32_t ok = c.Submit("POST", "/echo", "small");
    EXPECT_TRUE(co_await c.PumpUntil([&] { return c.stream(ok).closed; }));
    EXPECT_EQ(c.stream(ok).status, 200);
  });
}

TEST_F(H2Test, OversizedHeaderListResetsOnlyThatStream) {
  H2Settings settings;
  settings.max_header_list = 1000;
  Serve(settings);
  RunClient([this](H2Client& c) -> asio::awaitable<void> {
    int32_t id = c.Submit("GET", "/echo", {}, std::string(4000, 'h'));
    EXPECT_TRUE(co_await c.PumpUntil([&] { return c.stream(id).closed; }));
    EXPECT_NE(c.stream(id).error, 0u);
    EXPECT_EQ(c.stream(id).status, 0);
    EXPECT_EQ(probe_.handler_calls, 0);
    int32_t ok = c.Submit("POST", "/echo", "small");
    EXPECT_TRUE(co_await c.PumpUntil([&] { return c.stream(ok).closed; }));
    EXPECT_EQ(c.stream(ok).status, 200);
  });
}

TEST_F(H2Test, StreamsPastTheLimitAreRefusedAndTheSessionGoesOn) {
  H2Settings settings;
  settings.max_concurrent_streams = 4;
  Serve(settings);
  RunClient([this](H2Client& c) -> asio::awaitable<void> {
    // Sent before the client has read the server's SETTINGS, as a flooder would.
    std::vector<int32_t> ids;
    for (int i = 0; i < 7; ++i) ids.push_back(c.Submit("GET", "/wait"));
    auto settled = [&] {
      for (int32_t id : ids) {
        if (c.stream(id).chunks.empty() && !c.stream(id).closed) return false;
      }
      return true;
    };
    EXPECT_TRUE(co_await c.PumpUntil(settled));
    int served = 0, refused = 0;
    for (int32_t id : ids) {
      if (!c.stream(id).chunks.empty()) ++served;
      if (c.stream(id).closed && c.stream(id).error == NGHTTP2_REFUSED_STREAM) ++refused;
    }
    EXPECT_EQ(served, 4);
    EXPECT_EQ(refused, 3);
    EXPECT_EQ(probe_.handler_calls, 4);
    // The admitted streams are unharmed; once one ends, a new stream gets its place.
    c.Reset(ids[0]);
    EXPECT_TRUE(co_await c.PumpUntil([this] { return probe_.cancelled == 1; }));
    int32_t next = c.Submit("POST", "/echo", "again");
    EXPECT_TRUE(co_await c.PumpUntil([&] { return c.stream(next).closed; }));
    EXPECT_EQ(c.stream(next).status, 200);
    for (size_t i = 1; i < 4; ++i) EXPECT_FALSE(c.stream(ids[i]).closed);
  });
}

TEST_F(H2Test, APeerThatStopsReadingIsDroppedAfterTheWriteStallTimeout) {
  H2Settings settings;
  settings.write_stall_timeout = 300ms;
  Serve(settings);
  double before = LimitTrips("h2_write_stall");
  RunClient([this](H2Client& c) -> asio::awaitable<void> {
    c.OpenWindows();
    int32_t id = c.Submit("GET", "/flood");
    EXPECT_TRUE(co_await c.PumpUntil([&] { return c.stream(id).status == 200; }));
    // Stop reading: the server's writes fill the socket buffers and stall.
    auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(co_await WaitFor([this] { return served_; }, 10s));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    EXPECT_EQ(probe_.cancelled, 0);
  });
  EXPECT_EQ(LimitTrips("h2_write_stall"), before + 1);
}

}  // namespace
}  // namespace keel::http
