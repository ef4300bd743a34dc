#include "control/legacy_frame.h"

#include "control/frame.h"

namespace keel::control {

Result<std::string> SealFrames(std::string_view frames, const crypto::BoxKey& key, const crypto::BoxNonce* nonce) {
  std::string out;
  while (!frames.empty()) {
    if (frames.size() < 4 || frames.size() - 4 < FrameLength(frames)) {
      return Error{Errc::kInvalidArgument, "truncated map frame"};
    }
    uint32_t n = FrameLength(frames);
    auto payload = std::string_view(frames).substr(4, n);
    std::span plain(reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
    Bytes box = nonce ? key.SealWithNonce(plain, *nonce) : key.Seal(plain);
    AppendFrameLength(out, static_cast<uint32_t>(box.size()));
    out.append(reinterpret_cast<const char*>(box.data()), box.size());
    frames.remove_prefix(4 + n);
  }
  return out;
}

}  // namespace keel::control
