#pragma once
// ByteStream: an ordered, reliable, bidirectional byte stream with coroutine I/O.
//
// The seam between transports: a TCP socket after an HTTP upgrade, a WebSocket carrying
// binary messages, and the Noise stream layered on either all implement it, and the HTTP/2
// server runs over any of them. Call only on the executor that owns the stream; at most one
// ReadSome and one WriteAll may be outstanding at a time (one each, concurrently, is fine).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <span>

#include "base/result.h"

namespace keel {

class ByteStream {
 public:
  virtual ~ByteStream() = default;

  // Reads at least one byte into `out`. Returns 0 only at a clean end of stream; errors
  // (reset, protocol violation of a framing layer, cancellation) come back as Error.
  virtual boost::asio::awaitable<Result<size_t>> ReadSome(std::span<uint8_t> out) = 0;

  // Writes all of `data` or fails. After a failure the stream is unusable for writing.
  virtual boost::asio::awaitable<Result<void>> WriteAll(std::span<const uint8_t> data) = 0;

  // Closes the underlying transport; outstanding operations complete with an error.
  virtual void Close() = 0;

  virtual boost::asio::any_io_executor executor() = 0;
};

}  // namespace keel
