#pragma once
// Byte helpers shared by every layer: hex and standard base64 text forms.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace keel {

using Bytes = std::vector<uint8_t>;

// Lowercase hex.
std::string HexEncode(std::span<const uint8_t> data);
// Accepts upper and lower case; nullopt on odd length or a non-hex digit.
std::optional<Bytes> HexDecode(std::string_view text);

// Standard alphabet with '=' padding (RFC 4648 §4).
std::string Base64Encode(std::span<const uint8_t> data);

// Percent-encodes everything but RFC 3986's unreserved characters (A-Z a-z 0-9 - _ . ~): safe
// in a URL path segment or a query value.
std::string PercentEncode(std::string_view text);
// Strict: requires correct padding, rejects characters outside the alphabet.
std::optional<Bytes> Base64Decode(std::string_view text);

// The URL-safe alphabet ('-' and '_') without padding (RFC 4648 §5), as JOSE and PKCE use it.
std::string Base64UrlEncode(std::span<const uint8_t> data);
// Rejects '=' padding, the standard alphabet's '+' and '/', and impossible lengths.
std::optional<Bytes> Base64UrlDecode(std::string_view text);

inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string_view AsChars(std::span<const uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
// `s` without leading and trailing spaces, tabs, CRs and LFs.
inline std::string_view TrimSpace(std::string_view s) {
  size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string_view::npos) return {};
  return s.substr(a, s.find_last_not_of(" \t\r\n") - a + 1);
}

}  // namespace keel
