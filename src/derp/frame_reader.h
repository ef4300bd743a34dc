#pragma once
// Reads whole DERP frames from a ByteStream, enforcing kMaxFrameSize before buffering a
// payload. Threading: the stream's executor; one ReadFrame at a time.

#include <boost/asio/awaitable.hpp>

#include "base/byte_stream.h"
#include "derp/frame.h"

namespace keel::derp {

struct Frame {
  uint8_t type = 0;
  std::span<const uint8_t> payload;  // valid until the next ReadFrame
};

class FrameReader {
 public:
  explicit FrameReader(ByteStream& stream, size_t max_frame = kMaxFrameSize)
      : stream_(stream), max_frame_(max_frame) {}

  // kInvalidArgument for an oversize frame (bad input); kUnavailable for transport errors and
  // end of stream.
  boost::asio::awaitable<Result<Frame>> ReadFrame();

 private:
  boost::asio::awaitable<Result<void>> Fill(size_t need);

  ByteStream& stream_;
  size_t max_frame_;
  Bytes buf_;
  size_t start_ = 0;  // first unconsumed byte
  size_t end_ = 0;    // one past the last buffered byte
};

}  // namespace keel::derp
