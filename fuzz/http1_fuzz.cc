// HTTP/1.1 request parsing and the WebSocket framing, through keel's own connection code: the
// fuzz input is what a client sends on one connection (any number of requests, bodies,
// chunked encodings, upgrades). Byte 0 picks the write size and a mode: raw bytes, or a valid
// WebSocket upgrade made by the harness followed by the input as WebSocket frames, so the
// framing is reached without the fuzzer having to rediscover the handshake.

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <string>

#include "loopback_http.h"

namespace {

namespace asio = boost::asio;
using keel::http::Request;
using keel::http::Response;

// Echoes what comes in on an upgraded stream back out, until the client ends it.
asio::awaitable<void> Echo(keel::ByteStream& s) {
  uint8_t buf[2048];
  for (;;) {
    auto n = co_await s.ReadSome(buf);
    if (!n || *n == 0) break;
    if (!co_await s.WriteAll(std::span(buf, *n))) break;
  }
  s.Close();
}

keel::http::Router& TheRouter() {
  static auto* router = [] {
    auto* r = new keel::http::Router;
    r->Handle("/echo", [](Request req) -> asio::awaitable<Response> {
      co_return Response::Text(200, req.method + " " + req.target + " " + req.body);
    });
    r->HandlePrefix("/q/", [](Request req) -> asio::awaitable<Response> {
      auto v = req.Query("v");
      auto c = req.Cookie("c");
      co_return Response::Json(200, std::string("{\"v\":") + (v ? "1" : "0") + (c ? ",\"c\":1}" : "}"));
    });
    r->HandleStreamPrefix("/stream/", [](Request req, std::shared_ptr<keel::http::ResponseStream> s)
                                          -> asio::awaitable<void> {
      s->Respond(200);
      s->Write(req.path);
      s->Write(req.body);
      s->Finish();
      co_return;
    });
    r->HandleUpgrade("/ws", [](Request req, keel::http::Upgrader& up)
                                -> asio::awaitable<std::optional<Response>> {
      if (!up.IsWebSocket()) {
        if (req.Header("Upgrade") != "raw") co_return Response::Text(400, "no");
        keel::http::Headers headers;
        headers.emplace_back("Upgrade", "raw");
        auto raw = co_await up.Accept(std::move(headers));
        if (raw) co_await Echo(**raw);
        co_return std::nullopt;
      }
      auto ws = co_await up.AcceptWebSocket("fuzz");
      if (ws) co_await Echo(**ws);
      co_return std::nullopt;
    });
    return r;
  }();
  return *router;
}

constexpr char kWebSocketUpgrade[] =
    "GET /ws HTTP/1.1\r\nHost: fuzz\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Protocol: fuzz\r\n\r\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static asio::io_context io;
  static bool quiet = keel::SetLogLevel("off");  // a line per input would cost more than the input
  (void)quiet;
  keel::http::ServerSettings settings;
  settings.max_header_bytes = 2048;  // small limits, so the fuzzer reaches them
  settings.max_body_bytes = 4096;
  keel::fuzz::LoopbackHttp http(io, TheRouter(), settings);
  uint8_t mode = data[0];
  std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  if (mode & 0x80) bytes.insert(0, kWebSocketUpgrade);
  size_t chunk = (mode & 0x7f) == 0 ? bytes.size() : (mode & 0x7f);
  http.Run(keel::fuzz::SendAll(std::move(bytes), chunk));
  return 0;
}
