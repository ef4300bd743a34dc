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

void PutLength(std::string& out, uint32_t n) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
}

}  // namespace

std::string EncodeFrame(std::string_view json, bool zstd) {
  std::string out(4, '\0');
  if (!zstd) {
    out.append(json);
    PutLength(out, static_cast<uint32_t>(json.size()));
    return out;
  }
  out.resize(4 + ZSTD_compressBound(json.size()));
  size_t n = ZSTD_compressCCtx(ThreadContext(), out.data() + 4, out.size() - 4, json.data(),
                               json.size(), kLevel);
  if (ZSTD_isError(n)) throw std::logic_error(std::string("zstd: ") + ZSTD_getErrorName(n));
  out.resize(4 + n);
  PutLength(out, static_cast<uint32_t>(n));
  return out;
}

}  // namespace keel::control
