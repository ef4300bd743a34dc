#include "derp/frame_reader.h"

#include <cstring>

namespace keel::derp {

namespace asio = boost::asio;

namespace {
constexpr size_t kMinBuffer = 4096;
}

asio::awaitable<Result<void>> FrameReader::Fill(size_t need) {
  if (end_ - start_ >= need) co_return Result<void>();
  // Move what is left to the front, then grow only as far as this frame needs.
  if (start_ > 0) {
    std::memmove(buf_.data(), buf_.data() + start_, end_ - start_);
    end_ -= start_;
    start_ = 0;
  }
  if (buf_.size() < need) buf_.resize(std::max(need, kMinBuffer));
  while (end_ < need) {
    auto n = co_await stream_.ReadSome(std::span<uint8_t>(buf_.data() + end_, buf_.size() - end_));
    if (!n) co_return n.error();
    if (*n == 0) co_return MakeError(Errc::kUnavailable, "end of stream");
    end_ += *n;
  }
  co_return Result<void>();
}

asio::awaitable<Result<Frame>> FrameReader::ReadFrame() {
  // Release a buffer that grew for one big frame once it has been consumed.
  if (start_ == end_) {
    start_ = end_ = 0;
    if (buf_.size() > 4 * kMinBuffer) Bytes().swap(buf_);
  }
  auto r = co_await Fill(kFrameHeaderSize);
  if (!r) co_return r.error();
  FrameHeader h = DecodeHeader(std::span<const uint8_t>(buf_.data() + start_, kFrameHeaderSize));
  if (h.length > max_frame_) {
    co_return MakeError(Errc::kInvalidArgument,
                        "frame of " + std::to_string(h.length) + " bytes is too large");
  }
  r = co_await Fill(kFrameHeaderSize + h.length);
  if (!r) co_return r.error();
  Frame f{h.type, std::span<const uint8_t>(buf_.data() + start_ + kFrameHeaderSize, h.length)};
  start_ += kFrameHeaderSize + h.length;
  co_return f;
}

}  // namespace keel::derp
