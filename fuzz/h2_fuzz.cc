// keel's HTTP/2 glue over nghttp2 (ServeHttp2) with a client that sends anything after the
// connection preface: frames in any order, resets, window updates, bodies, against handlers
// that answer at once, stream a large body (flow control), hold a long poll until the stream
// goes away, or reset. The transport is a MemoryStream: reads come from the input in
// fuzz-chosen pieces, with other work let run between them; writes are swallowed.
//
// Input: byte 0 = flags (bit 0: the harness sends the client preface itself), bytes 1-3 = read
// sizes, then the client's bytes.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>
#include <string_view>

#include "base/bytes.h"
#include "base/log.h"
#include "fuzz_stream.h"
#include "http/h2_server.h"
#include "harness.h"

namespace {

using keel::fuzz::Check;

namespace asio = boost::asio;
using keel::Bytes;
using keel::http::H2Stream;
using keel::http::Request;

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

asio::awaitable<void> Handle(Request req, std::shared_ptr<H2Stream> s) {
  if (req.path == "/echo") {
    s->Respond(200, {{"content-type", "text/plain"}});
    s->Write(req.method + " " + req.target + "\n");
    s->Write(req.body);
    s->Finish();
  } else if (req.path == "/big") {
    // Past the initial 64 KiB window, so only the client's WINDOW_UPDATEs let it finish.
    s->Respond(200);
    for (int i = 0; i < 5; ++i) s->Write(std::string(16 * 1024, 'b'));
    s->Finish();
  } else if (req.path == "/poll") {
    // A long poll: a first frame, then nothing until the stream is reset or the connection
    // ends (the cancellation slot fires).
    s->Respond(200);
    s->Write("hello");
    asio::steady_timer wait(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
    co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!s->closed()) s->Write("bye");
    s->Finish();
  } else if (req.path == "/reset") {
    s->Respond(200);
    s->Write("partial");
    s->Reset();
  }
  // Anything else returns without answering: the session must send a 500.
  co_return;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static asio::io_context io;
  static auto logger = keel::GetLogger("fuzz-h2");
  keel::fuzz::InputCursor in(std::span(data, size));
  uint8_t flags = in.Byte();
  auto chunks = keel::fuzz::ChunkSizes(in, 3);
  Bytes client;
  if (flags & 1) client.assign(kPreface.begin(), kPreface.end());
  auto rest = in.Rest();
  client.insert(client.end(), rest.begin(), rest.end());

  keel::fuzz::MemoryStream stream(io.get_executor(), client, chunks);
  stream.Yield(2, 16);
  keel::http::H2Settings settings;
  settings.max_concurrent_streams = 8;   // small limits, so the fuzzer reaches them
  settings.max_request_body = 4096;
  settings.max_header_list = 4096;
  settings.write_stall_timeout = std::chrono::milliseconds(0);  // no real timers
  keel::fuzz::RunToCompletion(io, keel::http::ServeHttp2(stream, Handle, settings, logger));
  return 0;
}
