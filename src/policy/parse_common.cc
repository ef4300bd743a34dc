// Shared parsing helpers: strings, protocols, keys and alias/port syntax.
#include <algorithm>
#include <functional>
#include <set>

#include "base/bytes.h"
#include "policy/policy_internal.h"

namespace keel::policy::detail {
namespace {

const std::set<std::string, std::less<>> kAutogroups = {
    "autogroup:internet", "autogroup:member",     "autogroup:tagged", "autogroup:self",
    "autogroup:nonroot",  "autogroup:danger-all", "autogroup:admin",  "autogroup:owner",
    "autogroup:it-admin", "autogroup:network-admin", "autogroup:billing-admin",
    "autogroup:auditor", "autogroup:shared"};

}  // namespace

Result<std::vector<std::string>> Strings(const Ctx& ctx, const json& v, std::string_view key) {
  if (v.is_null()) return std::vector<std::string>{};
  if (!v.is_array()) return ctx.Fail(key, "expected an array of strings");
  std::vector<std::string> out;
  for (const auto& e : v) {
    if (!e.is_string()) return ctx.Fail(key, "expected an array of strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

std::string Trim(const std::string& s) { return std::string(TrimSpace(s)); }

Result<Alias> Parser::ParseAlias(const std::string& raw) const {
  std::string s = Trim(raw);
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  Alias a;
  a.name = s;
  if (s == "*") return a;
  if (s.starts_with("group:")) {
    if (!p_.groups.contains(s)) return ctx_.Fail(s, "group not defined in policy");
    a.kind = Alias::Kind::kGroup;
    return a;
  }
  if (s.starts_with("tag:")) {
    if (!p_.tag_owners.contains(s)) return ctx_.Fail(s, "tag not defined in tagOwners");
    a.kind = Alias::Kind::kTag;
    return a;
  }
  if (s.starts_with("autogroup:")) {
    if (!kAutogroups.contains(s)) return ctx_.Fail(s, "unknown autogroup");
    a.kind = Alias::Kind::kAutogroup;
    return a;
  }
  if (s.find('@') != std::string::npos) {
    a.kind = Alias::Kind::kUser;
    return a;
  }
  if (auto it = p_.hosts.find(s); it != p_.hosts.end()) {
    a.kind = Alias::Kind::kHost;
    a.range = it->second;
    return a;
  }
  if (auto r = ParseIpPrefix(s)) {
    a.kind = Alias::Kind::kPrefix;
    a.range = *r;
    return a;
  }
  return ctx_.Fail(s, "unknown alias (not a user, group, tag, host, autogroup or IP)");
}

Result<std::vector<Alias>> Parser::Aliases(const json& v, std::string_view key) const {
  auto names = Strings(ctx_, v, key);
  if (!names) return names.error();
  std::vector<Alias> out;
  for (const auto& n : *names) {
    auto a = ParseAlias(n);
    if (!a) return a.error();
    out.push_back(*a);
  }
  return out;
}

Result<std::vector<PortRange>> Parser::Ports(const std::string& spec, std::string_view key) const {
  std::vector<PortRange> out;
  if (spec == "*") return std::vector<PortRange>{PortRange{}};
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    std::string part = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t dash = part.find('-');
    auto num = [&](const std::string& t) -> int {
      if (t.empty() || t.size() > 5 || !std::all_of(t.begin(), t.end(), ::isdigit)) return -1;
      int v = std::stoi(t);
      return v > 65535 ? -1 : v;
    };
    int a = num(part.substr(0, dash));
    int b = dash == std::string::npos ? a : num(part.substr(dash + 1));
    if (a < 0 || b < 0 || b < a) return ctx_.Fail(key, "invalid port range \"" + part + "\"");
    out.push_back({static_cast<uint16_t>(a), static_cast<uint16_t>(b)});
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

Result<DstSpec> Parser::ParseDst(const std::string& s) const {
  size_t colon = s.rfind(':');
  if (colon == std::string::npos) return ctx_.Fail(s, "destination needs a port (alias:port)");
  auto ports = Ports(s.substr(colon + 1), s);
  if (!ports) return ports.error();
  auto a = ParseAlias(s.substr(0, colon));  // strips IPv6 brackets
  if (!a) return a.error();
  return DstSpec{*a, *ports};
}

Result<int> ProtoNumber(const Ctx& ctx, const std::string& name) {
  static const std::map<std::string, int, std::less<>> kNames = {
      {"tcp", 6}, {"udp", 17}, {"icmp", 1}, {"ipv6-icmp", 58}, {"sctp", 132}, {"igmp", 2},
      {"gre", 47}, {"esp", 50}, {"ah", 51},  {"ipv4", 4},       {"ip-in-ip", 4}, {"egp", 8},
      {"igp", 9},  {"pim", 103}};
  if (auto it = kNames.find(name); it != kNames.end()) return it->second;
  if (!name.empty() && name.size() <= 3 && std::all_of(name.begin(), name.end(), ::isdigit) &&
      !(name.size() > 1 && name[0] == '0')) {
    int v = std::stoi(name);
    if (v <= 255) return v;
  }
  return ctx.Fail(name, "unknown protocol");
}

Result<void> CheckKeys(const Ctx& ctx, const json& obj, std::initializer_list<const char*> keys,
                       std::string_view where) {
  if (!obj.is_object()) return ctx.Fail(where, "expected an object");
  for (const auto& [k, v] : obj.items()) {
    if (std::find_if(keys.begin(), keys.end(), [&](const char* x) { return k == x; }) == keys.end()) {
      return ctx.Fail(k, "unknown key in " + std::string(where));
    }
  }
  return {};
}

}  // namespace keel::policy::detail
