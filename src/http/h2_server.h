#pragma once
// HTTP/2 server (nghttp2, prior knowledge, RFC 9113 §3.3) over any ByteStream — here the
// decrypted Noise stream. Knows nothing of Tailscale. Call only on the stream's executor.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <spdlog/logger.h>
#include <string>

#include "base/byte_stream.h"
#include "http/message.h"
#include "http/response_stream.h"

namespace keel::http {

// The response side of one HTTP/2 stream, shared by the session and the handler.
using H2Stream = ResponseStream;

// One call per request, as its own coroutine. The coroutine's cancellation slot fires
// (terminal) when the stream closes, so a long poll waiting on a timer or channel wakes up.
// A handler that returns without Respond gets a 500; without Finish, the stream is finished.
using H2Handler = std::function<boost::asio::awaitable<void>(Request, std::shared_ptr<H2Stream>)>;

struct H2Settings {
  // Advertised in SETTINGS and enforced by nghttp2: streams opened past it are refused
  // (RST_STREAM) while the session and its other streams go on.
  uint32_t max_concurrent_streams = 250;
  size_t max_request_body = 1024 * 1024;  // larger: 413 and the stream is reset
  size_t max_header_list = 64 * 1024;     // larger: that stream is reset
  // A write to the transport that makes no progress for this long (a peer that stopped
  // reading its socket) ends the session (limit "h2_write_stall"), freeing what is queued.
  // 0: no limit.
  std::chrono::milliseconds write_stall_timeout{std::chrono::seconds(60)};
};

// Serves until the peer closes, a protocol error, or cancellation. Returns only after every
// handler coroutine has finished.
boost::asio::awaitable<void> ServeHttp2(ByteStream& stream, H2Handler handler,
                                        H2Settings settings,
                                        std::shared_ptr<spdlog::logger> logger);

}  // namespace keel::http
