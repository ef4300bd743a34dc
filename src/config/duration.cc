#include "config/duration.h"

#include <cmath>
#include <cstdint>
#include <utility>

namespace keel::config {
namespace {

using std::chrono::nanoseconds;

// Nanoseconds per unit; longest spellings first so "ms" is not read as "m".
constexpr std::pair<std::string_view, int64_t> kUnits[] = {
    {"ns", 1},
    {"us", 1'000},
    {"\xC2\xB5s", 1'000},  // U+00B5 micro sign
    {"\xCE\xBCs", 1'000},  // U+03BC greek mu
    {"ms", 1'000'000},
    {"s", 1'000'000'000},
    {"m", 60'000'000'000},
    {"h", 3'600'000'000'000},
    {"d", 86'400'000'000'000},
    {"w", 604'800'000'000'000},
};

Error Bad(std::string_view text, std::string_view why) {
  return MakeError(Errc::kInvalidArgument,
                   "invalid duration \"" + std::string(text) + "\": " + std::string(why));
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

Result<nanoseconds> ParseDuration(std::string_view text) {
  if (text.empty()) return Bad(text, "empty");
  if (text == "0") return nanoseconds{0};
  if (text[0] == '-') return Bad(text, "negative durations are not allowed");
  std::string_view rest = text;
  if (rest[0] == '+') rest.remove_prefix(1);
  if (rest.empty()) return Bad(text, "missing number");
  long double total = 0;
  while (!rest.empty()) {
    size_t i = 0;
    while (i < rest.size() && (IsDigit(rest[i]) || rest[i] == '.')) ++i;
    std::string number(rest.substr(0, i));
    if (number.empty() || number == "." || number.find('.') != number.rfind('.')) {
      return Bad(text, "expected a number");
    }
    rest.remove_prefix(i);
    int64_t scale = 0;
    for (const auto& [name, ns] : kUnits) {
      if (rest.starts_with(name)) {
        scale = ns;
        rest.remove_prefix(name.size());
        break;
      }
    }
    if (scale == 0) return Bad(text, "missing or unknown unit (use ns, us, ms, s, m, h, d, w)");
    total += std::stold(number) * scale;
    if (total > static_cast<long double>(INT64_MAX)) return Bad(text, "too large");
  }
  return nanoseconds{static_cast<int64_t>(std::llround(total))};
}

std::string FormatDuration(std::chrono::seconds d) {
  int64_t s = d.count();
  if (s == 0) return "0s";
  std::string out;
  if (s < 0) {
    out = "-";
    s = -s;
  }
  if (s >= 3600) out += std::to_string(s / 3600) + "h";
  if (s % 3600 >= 60) out += std::to_string(s % 3600 / 60) + "m";
  if (s % 60 != 0) out += std::to_string(s % 60) + "s";
  return out;
}

}  // namespace keel::config
