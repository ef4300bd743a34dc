#pragma once
// Clock: the one way keel reads the time, so that tests can move it (FakeClock in testing/).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace keel {

using SystemTime = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual SystemTime Now() const = 0;
};

class RealClock final : public Clock {
 public:
  SystemTime Now() const override { return std::chrono::system_clock::now(); }
};

// RFC 3339 in UTC as Go writes it: "2026-08-22T10:00:00Z", with fractional seconds only
// when non-zero (nanosecond precision trimmed of trailing zeros).
std::string FormatTime(SystemTime t);
// Parses RFC 3339 with 'Z' or a numeric offset and optional fractional seconds.
std::optional<SystemTime> ParseTime(std::string_view text);
// Go's zero time.Time, 0001-01-01T00:00:00Z; used as "unset" on the wire.
SystemTime ZeroTime();
bool IsZeroTime(SystemTime t);

}  // namespace keel
