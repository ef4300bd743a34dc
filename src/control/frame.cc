#include "control/frame.h"

#include <zstd.h>

#include <cstdint>
#include <memory>
#include <stdexcept>

namespace keel::control {
namespace {

struct CCtxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};

ZSTD_CCtx* ThreadContext() {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxDeleter> ctx(ZSTD_createCCtx());
  return ctx.get();
}

// The fastest standard level, as Headscale and testcontrol use; the content size is written
// into the frame header.
constexpr int kLevel = 1;

void WriteLength(char* at, uint32_t n) {
  for (int i = 0; i < 4; ++i) at[i] = static_cast<char>((n >> (8 * i)) & 0xff);
}

}  // namespace

void AppendFrameLength(std::string& out, uint32_t n) {
  out.resize(out.size() + 4);
  WriteLength(out.data() + out.size() - 4, n);
}

uint32_t FrameLength(std::string_view frame) {
  uint32_t n = 0;
  for (int i = 3; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(frame[static_cast<size_t>(i)]);
  return n;
}

std::string EncodeFrame(std::string_view json, bool zstd) {
  std::string out;
  if (!zstd) {
    AppendFrameLength(out, static_cast<uint32_t>(json.size()));
    out.append(json);
    return out;
  }
  out.resize(4 + ZSTD_compressBound(json.size()));
  size_t n = ZSTD_compressCCtx(ThreadContext(), out.data() + 4, out.size() - 4, json.data(),
                               json.size(), kLevel);
  if (ZSTD_isError(n)) throw std::logic_error(std::string("zstd: ") + ZSTD_getErrorName(n));
  out.resize(4 + n);
  WriteLength(out.data(), static_cast<uint32_t>(n));
  return out;
}

}  // namespace keel::control
