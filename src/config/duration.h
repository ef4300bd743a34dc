#pragma once
// Go-style duration strings ("90s", "1h30m", "1.5h", "300ms"), as Headscale's config and CLI
// take them, plus "d" (24h) and "w" (7d) which Headscale's --expiration also accepts.
// Pure functions; any thread.

#include <chrono>
#include <string>
#include <string_view>

#include "base/result.h"

namespace keel::config {

// Accepts a sequence of <number><unit> with units ns, us, µs, ms, s, m, h, d, w; a bare "0"
// is zero. Fractions are allowed ("1.5h"). Negative durations and empty text are refused
// with kInvalidArgument.
Result<std::chrono::nanoseconds> ParseDuration(std::string_view text);

// The shortest Go-like spelling of whole seconds: "2h30m", "90s" -> "1m30s", 0 -> "0s".
std::string FormatDuration(std::chrono::seconds d);

}  // namespace keel::config
