#include "base/clock.h"

#include <cstdio>

namespace keel {

namespace {
using namespace std::chrono;
}  // namespace

// system_clock counts nanoseconds in 64 bits, which cannot reach year 1; Go's zero time is
// therefore represented by the smallest time_point and mapped back on output.
SystemTime ZeroTime() { return SystemTime::min(); }
bool IsZeroTime(SystemTime t) { return t == SystemTime::min(); }

std::string FormatTime(SystemTime t) {
  if (IsZeroTime(t)) return "0001-01-01T00:00:00Z";
  auto days = floor<std::chrono::days>(t);
  year_month_day ymd{days};
  auto tod = t - days;
  auto h = duration_cast<hours>(tod);
  auto m = duration_cast<minutes>(tod - h);
  auto s = duration_cast<seconds>(tod - h - m);
  auto ns = duration_cast<nanoseconds>(tod - h - m - s).count();
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", int(ymd.year()),
                        unsigned(ymd.month()), unsigned(ymd.day()), int(h.count()),
                        int(m.count()), int(s.count()));
  std::string out(buf, static_cast<size_t>(n));
  if (ns != 0) {
    char frac[16];
    std::snprintf(frac, sizeof frac, ".%09lld", static_cast<long long>(ns));
    std::string f(frac);
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  out += 'Z';
  return out;
}

std::optional<SystemTime> ParseTime(std::string_view text) {
  int y, mo, d, h, mi, s;
  int consumed = 0;
  std::string str(text);
  if (std::sscanf(str.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s,
                  &consumed) != 6 ||
      consumed != 19) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  size_t pos = 19;
  long long frac_ns = 0;
  if (pos < str.size() && str[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < str.size() && str[pos] >= '0' && str[pos] <= '9') {
      if (digits < 9) frac_ns = frac_ns * 10 + (str[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return std::nullopt;
    for (int i = digits; i < 9; ++i) frac_ns *= 10;
  }
  long long offset_s = 0;
  if (pos < str.size() && (str[pos] == 'Z' || str[pos] == 'z')) {
    ++pos;
  } else if (pos + 6 == str.size() && (str[pos] == '+' || str[pos] == '-')) {
    int oh, om;
    if (std::sscanf(str.c_str() + pos + 1, "%2d:%2d", &oh, &om) != 2) return std::nullopt;
    offset_s = (oh * 3600LL + om * 60LL) * (str[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != str.size()) return std::nullopt;
  // Anything before 1678 cannot be held in nanoseconds; in practice that is Go's zero time.
  if (y < 1678) return ZeroTime();
  if (y > 2261) return SystemTime::max();
  year_month_day ymd{year{y}, month{unsigned(mo)}, day{unsigned(d)}};
  if (!ymd.ok()) return std::nullopt;
  SystemTime t = sys_days{ymd};
  t += hours{h} + minutes{mi} + seconds{s} + nanoseconds{frac_ns} - seconds{offset_s};
  return t;
}

}  // namespace keel
