#pragma once
// TS2019 map framing (transport.md §5.2): the same 4-byte little-endian length and payload
// as over Noise, but each payload (zstd or raw JSON) is sealed in its own NaCl box, and the
// length counts the box. Pure; any thread.

#include <string>
#include <string_view>

#include "base/result.h"
#include "crypto/naclbox.h"

namespace keel::control {

// Seals every whole frame of `frames` (as EncodeFrame writes them) with `key`, each with a fresh
// random nonce, or with `nonce` (only for reproducing vectors). Fails on a truncated frame,
// which would be a bug of the caller.
Result<std::string> SealFrames(std::string_view frames, const crypto::BoxKey& key,
                               const crypto::BoxNonce* nonce = nullptr);

}  // namespace keel::control
