#pragma once
// Map response framing (control.md §2.3): 4-byte little-endian payload length, then the
// payload — one independent zstd frame of the JSON when the client asked for "zstd", the raw
// JSON otherwise. Pure; any thread (the compressor context is per thread).

#include <cstdint>
#include <string>
#include <string_view>

namespace keel::control {

std::string EncodeFrame(std::string_view json, bool zstd);

// The 4-byte little-endian length that starts every frame: appended to `out`, or read from the
// start of `frame` (which must hold at least 4 bytes).
void AppendFrameLength(std::string& out, uint32_t n);
uint32_t FrameLength(std::string_view frame);

}  // namespace keel::control
