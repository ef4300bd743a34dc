#pragma once
// Map response framing (control.md §2.3): 4-byte little-endian payload length, then the
// payload — one independent zstd frame of the JSON when the client asked for "zstd", the raw
// JSON otherwise. Pure; any thread (the compressor context is per thread).

#include <string>
#include <string_view>

namespace keel::control {

std::string EncodeFrame(std::string_view json, bool zstd);

}  // namespace keel::control
