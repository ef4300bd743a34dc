#pragma once
// MemoryStream: a ByteStream whose reads come from a fixed byte string, cut into the pieces a
// harness chooses, and whose writes are swallowed (counted, optionally kept). It never waits:
// every operation completes at once, so a harness drives a parser or a protocol state machine
// with nothing but the io_context that runs it. After the input runs out, reads return a clean
// end of stream (or stay pending until Close, for code that must see a peer that goes quiet).

#include <algorithm>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "base/byte_stream.h"

namespace keel::fuzz {

// Consumes leading bytes of a fuzz input as small parameters; yields zeros when it runs out,
// so every input is valid.
class InputCursor {
 public:
  explicit InputCursor(std::span<const uint8_t> data) : data_(data) {}
  uint8_t Byte() {
    if (data_.empty()) return 0;
    uint8_t b = data_[0];
    data_ = data_.subspan(1);
    return b;
  }
  uint16_t U16() { return static_cast<uint16_t>(Byte() << 8 | Byte()); }
  // Up to `n` bytes (fewer when the input ends).
  std::span<const uint8_t> Take(size_t n) {
    auto piece = data_.first(std::min(n, data_.size()));
    data_ = data_.subspan(piece.size());
    return piece;
  }
  std::span<const uint8_t> Rest() { return Take(data_.size()); }
  bool empty() const { return data_.empty(); }
  size_t size() const { return data_.size(); }

 private:
  std::span<const uint8_t> data_;
};

class MemoryStream final : public ByteStream {
 public:
  // `input` must outlive the stream. `chunk_sizes` is cycled through to size successive reads
  // (0 entries, or a 0 entry, mean "as much as fits"). With `hang_at_end` a read after the
  // input waits until Close instead of returning end of stream.
  MemoryStream(boost::asio::any_io_executor ex, std::span<const uint8_t> input,
               std::vector<size_t> chunk_sizes = {}, bool hang_at_end = false)
      : ex_(ex), input_(input), chunks_(std::move(chunk_sizes)), hang_at_end_(hang_at_end),
        hang_(ex) {}

  boost::asio::awaitable<Result<size_t>> ReadSome(std::span<uint8_t> out) override {
    if (closed_) co_return MakeError(Errc::kUnavailable, "closed");
    // Letting other work run between reads (handlers, writers) makes the interleaving that a
    // real peer's latency gives; without it an instant stream ends before anyone answers.
    int yields = pos_ == input_.size() ? yields_at_end_ : yields_per_read_;
    for (int i = 0; i < yields && !closed_; ++i) {
      co_await boost::asio::post(ex_, boost::asio::use_awaitable);
    }
    if (closed_) co_return MakeError(Errc::kUnavailable, "closed");
    if (pos_ == input_.size()) {
      if (hang_at_end_) {
        hang_.expires_at(boost::asio::steady_timer::time_point::max());
        co_await hang_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
        co_return MakeError(Errc::kUnavailable, "closed");
      }
      co_return size_t{0};
    }
    size_t n = std::min(out.size(), input_.size() - pos_);
    if (!chunks_.empty()) {
      size_t want = chunks_[next_chunk_++ % chunks_.size()];
      if (want != 0) n = std::min(n, want);
    }
    std::copy_n(input_.begin() + static_cast<ptrdiff_t>(pos_), n, out.begin());
    pos_ += n;
    co_return n;
  }

  boost::asio::awaitable<Result<void>> WriteAll(std::span<const uint8_t> data) override {
    if (closed_ || write_fails_) co_return MakeError(Errc::kUnavailable, "closed");
    written_ += data.size();
    ++writes_;
    if (on_write_) on_write_(data);
    co_return Result<void>();
  }

  void Close() override {
    closed_ = true;
    hang_.cancel();
  }

  boost::asio::any_io_executor executor() override { return ex_; }

  // Sees each write (e.g. to feed the server's answer into a client-side parser).
  void OnWrite(std::function<void(std::span<const uint8_t>)> fn) { on_write_ = std::move(fn); }
  // Each read first lets `per_read` rounds of other ready work run, the end of input
  // `at_end` rounds (so answers to the last requests are written before the peer goes).
  void Yield(int per_read, int at_end) {
    yields_per_read_ = per_read;
    yields_at_end_ = at_end;
  }
  // Makes every later write fail, as a peer that reset the connection.
  void FailWrites() { write_fails_ = true; }

  bool closed() const { return closed_; }
  size_t bytes_written() const { return written_; }
  size_t writes() const { return writes_; }
  size_t bytes_read() const { return pos_; }

 private:
  boost::asio::any_io_executor ex_;
  std::span<const uint8_t> input_;
  std::vector<size_t> chunks_;
  size_t next_chunk_ = 0;
  size_t pos_ = 0;
  bool hang_at_end_;
  bool closed_ = false;
  bool write_fails_ = false;
  int yields_per_read_ = 0;
  int yields_at_end_ = 0;
  size_t written_ = 0;
  size_t writes_ = 0;
  std::function<void(std::span<const uint8_t>)> on_write_;
  boost::asio::steady_timer hang_;
};

// Chunk sizes for MemoryStream taken from a fuzz input: `count` bytes, each a read size of
// 1..255 (0 means "whole buffer").
inline std::vector<size_t> ChunkSizes(InputCursor& in, size_t count) {
  std::vector<size_t> sizes;
  for (size_t i = 0; i < count; ++i) sizes.push_back(in.Byte());
  return sizes;
}

}  // namespace keel::fuzz
