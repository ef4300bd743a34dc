#pragma once
// The response side of one streamed request, the same for HTTP/2 streams and HTTP/1.1
// chunked responses: a handler answers long polls through it without knowing the transport.
// Call only on the executor that serves the request.

#include <cstddef>
#include <string>

#include "http/message.h"

namespace keel::http {

class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  // Sends the response headers; call once, before any Write.
  virtual void Respond(int status, Headers headers = {}) = 0;
  // Queues body bytes; they go out as soon as the transport allows (no buffering for
  // batching: long-poll frames must be flushed).
  virtual void Write(std::string data) = 0;
  // Ends the response after the queued bytes.
  virtual void Finish() = 0;
  // Abandons the response: drops what is queued and ends the stream at once where the
  // transport can (HTTP/2 RST_STREAM); elsewhere the same as Finish.
  virtual void Reset() { Finish(); }
  // True once the peer reset the stream or the connection is gone.
  virtual bool closed() const = 0;
  // Bytes queued and not yet handed to the connection (for backpressure decisions).
  virtual size_t buffered() const = 0;
};

}  // namespace keel::http
