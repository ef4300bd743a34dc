#include "control/legacy_frame.h"

#include <cstdint>

namespace keel::control {
namespace {

uint32_t GetLength(std::string_view s) {
  uint32_t n = 0;
  for (int i = 3; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(s[static_cast<size_t>(i)]);
  return n;
}

void AppendLength(std::string& out, uint32_t n) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
}

}  // namespace

Result<std::string> SealFrames(std::string_view frames, const crypto::BoxKey& key, const crypto::BoxNonce* nonce) {
  std::string out;
  while (!frames.empty()) {
    if (frames.size() < 4 || frames.size() - 4 < GetLength(frames)) {
      return Error{Errc::kInvalidArgument, "truncated map frame"};
    }
    uint32_t n = GetLength(frames);
    auto payload = std::string_view(frames).substr(4, n);
    std::span plain(reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
    Bytes box = nonce ? key.SealWithNonce(plain, *nonce) : key.Seal(plain);
    AppendLength(out, static_cast<uint32_t>(box.size()));
    out.append(reinterpret_cast<const char*>(box.data()), box.size());
    frames.remove_prefix(4 + n);
  }
  return out;
}

}  // namespace keel::control
