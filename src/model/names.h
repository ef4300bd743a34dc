#pragma once
// Naming rules shared by the tailnet and the admin surfaces: MagicDNS labels derived from
// client hostnames (control.md §6.2) and user names. Pure functions, callable from any thread.

#include <string>
#include <string_view>

#include "base/result.h"

namespace keel::model {

inline constexpr size_t kMaxDnsLabel = 63;
// Used as the given name when a hostname sanitizes to nothing.
inline constexpr std::string_view kFallbackGivenName = "node";

// Turns a raw Hostinfo.Hostname into a DNS label: strips one trailing ".local",
// ".localdomain" or ".lan", maps ' ', '.', '@', '_' to '-', keeps [a-z0-9-] (lowercased),
// drops the rest, trims non-alphanumerics at both ends, at most 63 bytes. May return "".
std::string SanitizeHostname(std::string_view hostname);

// SanitizeHostname, or kFallbackGivenName when that is empty.
std::string GivenNameBase(std::string_view hostname);

// True if `given` is what SanitizeHostname(hostname) gives, optionally with a "-N"
// collision suffix; false means an admin chose it and hostname changes must keep it.
bool IsAutoDerivedGivenName(std::string_view given, std::string_view hostname);

// 1..63 chars of [a-z0-9-], not starting or ending with '-'.
Result<void> ValidateDnsLabel(std::string_view label);

// 1..255 chars of [a-z0-9._@-], starting with a letter or digit.
Result<void> ValidateUserName(std::string_view name);

}  // namespace keel::model
