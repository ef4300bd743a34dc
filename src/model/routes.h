#pragma once
// Subnet and exit routes as the tailnet keeps them: canonical prefix strings ("10.99.0.0/24",
// "0.0.0.0/0", "::/0"), sorted and unique. A node announces routes in Hostinfo.RoutableIPs; an
// admin (or the policy's autoApprovers) approves them; only announced and approved routes are
// in effect, and of those every subnet prefix has one primary router among the online nodes.
// Pure functions, callable from any thread.

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace keel::model {

inline constexpr std::string_view kExitRouteV4 = "0.0.0.0/0";
inline constexpr std::string_view kExitRouteV6 = "::/0";

bool IsExitRoute(std::string_view prefix);

// The canonical form of an IPv4 or IPv6 prefix. Refuses text that is not a prefix and a
// prefix with host bits set, naming the network it probably means.
Result<std::string> CanonicalPrefix(std::string_view text);

// Each prefix canonical; sorted and unique. An exit route brings its other family along, so
// approving "0.0.0.0/0" approves the exit node as the client advertises it (both families).
Result<std::vector<std::string>> CanonicalRouteList(const std::vector<std::string>& prefixes);

// Hostinfo.RoutableIPs of a Hostinfo JSON object: canonical, sorted, unique; entries that are
// not prefixes are skipped (the client validates what it advertises).
std::vector<std::string> RoutesFromHostinfo(std::string_view hostinfo_json);

// Elements of sorted `a` that are also in sorted `b`.
std::vector<std::string> IntersectRoutes(const std::vector<std::string>& a,
                                         const std::vector<std::string>& b);

}  // namespace keel::model
