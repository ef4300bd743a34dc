#include "model/routes.h"

#include <algorithm>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <iterator>
#include <nlohmann/json.hpp>

namespace keel::model {
namespace {

template <typename Network>
Result<std::string> Canonical(const Network& net, std::string_view text) {
  Network canonical = net.canonical();
  if (canonical != net) {
    return MakeError(Errc::kInvalidArgument,
                     "route \"" + std::string(text) + "\" has host bits set; did you mean " +
                         canonical.to_string() + "?");
  }
  return canonical.to_string();
}

}  // namespace

bool IsExitRoute(std::string_view prefix) { return prefix == kExitRouteV4 || prefix == kExitRouteV6; }

Result<std::string> CanonicalPrefix(std::string_view text) {
  boost::system::error_code ec;
  std::string s(text);
  if (s.find('/') != std::string::npos) {
    if (s.find(':') == std::string::npos) {
      auto net = boost::asio::ip::make_network_v4(s, ec);
      if (!ec) return Canonical(net, text);
    } else {
      auto net = boost::asio::ip::make_network_v6(s, ec);
      if (!ec) return Canonical(net, text);
    }
  }
  return MakeError(Errc::kInvalidArgument,
                   "route \"" + s + "\" is not a prefix (want e.g. 10.0.0.0/24 or fd00::/64)");
}

Result<std::vector<std::string>> CanonicalRouteList(const std::vector<std::string>& prefixes) {
  std::vector<std::string> out;
  for (const auto& p : prefixes) {
    auto c = CanonicalPrefix(p);
    if (!c) return c.error();
    if (IsExitRoute(*c)) {
      out.emplace_back(kExitRouteV4);
      out.emplace_back(kExitRouteV6);
    } else {
      out.push_back(std::move(*c));
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::string> RoutesFromHostinfo(std::string_view hostinfo_json) {
  auto hi = nlohmann::json::parse(hostinfo_json, nullptr, /*allow_exceptions=*/false);
  std::vector<std::string> out;
  if (!hi.is_object()) return out;
  auto it = hi.find("RoutableIPs");
  if (it == hi.end() || !it->is_array()) return out;
  for (const auto& r : *it) {
    if (!r.is_string()) continue;
    if (auto c = CanonicalPrefix(r.get<std::string>())) out.push_back(std::move(*c));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::string> IntersectRoutes(const std::vector<std::string>& a,
                                         const std::vector<std::string>& b) {
  std::vector<std::string> out;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

}  // namespace keel::model
