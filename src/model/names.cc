#include "model/names.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace keel::model {
namespace {

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EndsWithNoCase(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  auto tail = s.substr(s.size() - suffix.size());
  return std::equal(tail.begin(), tail.end(), suffix.begin(),
                    [](char a, char b) { return Lower(a) == b; });
}

std::string_view StripLocalSuffix(std::string_view s) {
  static constexpr std::array<std::string_view, 3> kSuffixes = {".localdomain", ".local", ".lan"};
  for (auto suffix : kSuffixes) {
    if (EndsWithNoCase(s, suffix)) return s.substr(0, s.size() - suffix.size());
  }
  return s;
}

std::string_view TrimNonAlnum(std::string_view s) {
  while (!s.empty() && !IsAlnum(s.front())) s.remove_prefix(1);
  while (!s.empty() && !IsAlnum(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string SanitizeHostname(std::string_view hostname) {
  std::string_view s = StripLocalSuffix(hostname);
  s = TrimNonAlnum(s.substr(0, std::min(s.size(), kMaxDnsLabel)));
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (IsAlnum(c) || c == '-') {
      out.push_back(Lower(c));
    } else if (c == ' ' || c == '.' || c == '@' || c == '_') {
      out.push_back('-');
    }
  }
  // Dropped characters can leave a hyphen at an end ("a-é" -> "a-").
  return std::string(TrimNonAlnum(out));
}

std::string GivenNameBase(std::string_view hostname) {
  std::string base = SanitizeHostname(hostname);
  return base.empty() ? std::string(kFallbackGivenName) : base;
}

bool IsAutoDerivedGivenName(std::string_view given, std::string_view hostname) {
  std::string base = GivenNameBase(hostname);
  if (given == base) return true;
  // Long bases are cut to make room for the suffix, so compare against the cut form too.
  auto dash = given.rfind('-');
  if (dash == std::string_view::npos || dash + 1 == given.size()) return false;
  auto suffix = given.substr(dash + 1);
  if (!std::all_of(suffix.begin(), suffix.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  auto stem = given.substr(0, dash);
  return !stem.empty() && std::string_view(base).starts_with(stem) &&
         (stem.size() == base.size() || given.size() == kMaxDnsLabel);
}

Result<void> ValidateDnsLabel(std::string_view label) {
  if (label.empty() || label.size() > kMaxDnsLabel) {
    return MakeError(Errc::kInvalidArgument, "name must be 1 to 63 characters long");
  }
  for (char c : label) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return MakeError(Errc::kInvalidArgument,
                       "name may contain only lowercase letters, digits and '-'");
    }
  }
  if (label.front() == '-' || label.back() == '-') {
    return MakeError(Errc::kInvalidArgument, "name must not start or end with '-'");
  }
  return {};
}

Result<void> ValidateUserName(std::string_view name) {
  if (name.empty() || name.size() > 255) {
    return MakeError(Errc::kInvalidArgument, "user name must be 1 to 255 characters long");
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '@' || c == '-';
    if (!ok) {
      return MakeError(Errc::kInvalidArgument,
                       "user name may contain only lowercase letters, digits and . _ @ -");
    }
  }
  if (!IsAlnum(name.front())) {
    return MakeError(Errc::kInvalidArgument, "user name must start with a letter or digit");
  }
  return {};
}

}  // namespace keel::model
