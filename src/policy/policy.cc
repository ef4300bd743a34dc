#include "policy/policy.h"

#include <algorithm>
#include <functional>
#include <set>

#include "policy/hujson.h"

namespace keel::policy {
namespace {

using nlohmann::json;

// Collects the first error with the line of the offending text.
class Ctx {
 public:
  explicit Ctx(std::string_view text) : text_(text) {}
  Error Fail(std::string_view key, const std::string& what) const {
    std::string msg = "policy";
    int line = LineOf(text_, "\"" + std::string(key) + "\"");
    if (line > 0) msg += ": line " + std::to_string(line);
    msg += ": " + std::string(key) + ": " + what;
    return MakeError(Errc::kInvalidArgument, msg);
  }

 private:
  std::string_view text_;
};

const std::set<std::string, std::less<>> kAutogroups = {
    "autogroup:internet", "autogroup:member",     "autogroup:tagged", "autogroup:self",
    "autogroup:nonroot",  "autogroup:danger-all", "autogroup:admin",  "autogroup:owner",
    "autogroup:it-admin", "autogroup:network-admin", "autogroup:billing-admin",
    "autogroup:auditor", "autogroup:shared"};

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

std::string Trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\n\r");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t\n\r") - a + 1);
}

class Parser {
 public:
  Parser(Policy& p, const Ctx& ctx) : p_(p), ctx_(ctx) {}

  Result<Alias> ParseAlias(const std::string& raw) const {
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
    if (auto r = ParseIpRange(s); r && s.find('-') == std::string::npos) {
      a.kind = Alias::Kind::kPrefix;
      a.range = *r;
      return a;
    }
    return ctx_.Fail(s, "unknown alias (not a user, group, tag, host, autogroup or IP)");
  }

  Result<std::vector<Alias>> Aliases(const json& v, std::string_view key) const {
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

  Result<std::vector<PortRange>> Ports(const std::string& spec, std::string_view key) const {
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

  Result<DstSpec> ParseDst(const std::string& s) const {
    size_t colon = s.rfind(':');
    if (colon == std::string::npos) return ctx_.Fail(s, "destination needs a port (alias:port)");
    std::string alias = s.substr(0, colon);
    if (alias.size() > 2 && alias.front() == '[' && alias.back() == ']') {
      alias = alias.substr(1, alias.size() - 2);
    }
    auto ports = Ports(s.substr(colon + 1), s);
    if (!ports) return ports.error();
    auto a = ParseAlias(alias);
    if (!a) return a.error();
    return DstSpec{*a, *ports};
  }

 private:
  Policy& p_;
  const Ctx& ctx_;
};

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

const std::set<std::string, std::less<>> kTopKeys = {
    "acls", "grants", "groups", "hosts", "tagOwners", "autoApprovers", "ssh", "nodeAttrs",
    "tests", "sshTests", "randomizeClientPort", "postures", "ipsets", "derpMap",
    "disableIPv4", "OneCGNATRoute", "defaultSrcPosture", "attrs"};

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

Result<void> ParseGroups(Policy& p, const json& doc, const Ctx& ctx) {
  if (!doc.contains("groups")) return {};
  for (const auto& [name, members] : doc["groups"].items()) {
    if (!name.starts_with("group:")) return ctx.Fail(name, "group names must start with \"group:\"");
    auto m = Strings(ctx, members, name);
    if (!m) return m.error();
    for (const auto& u : *m) {
      if (u.starts_with("group:")) return ctx.Fail(u, "group members cannot be groups (" + name + ")");
      if (u.find('@') == std::string::npos) return ctx.Fail(u, "group members must be users (" + name + ")");
    }
    p.groups[name] = *m;
  }
  return {};
}

Result<void> ParseHostsAndTags(Policy& p, const json& doc, const Ctx& ctx) {
  if (doc.contains("hosts")) {
    for (const auto& [name, v] : doc["hosts"].items()) {
      auto r = v.is_string() ? ParseIpRange(v.get<std::string>()) : std::nullopt;
      if (!r || v.get<std::string>().find('-') != std::string::npos) {
        return ctx.Fail(name, "host must be an IP address or CIDR prefix");
      }
      p.hosts[name] = *r;
    }
  }
  if (doc.contains("tagOwners")) {
    for (const auto& [name, v] : doc["tagOwners"].items()) {
      if (!name.starts_with("tag:") || name.size() < 5 || !std::isalpha(name[4])) {
        return ctx.Fail(name, "tag names must look like tag:<letter>...");
      }
      auto m = Strings(ctx, v, name);
      if (!m) return m.error();
      p.tag_owners[name] = *m;
    }
    for (const auto& [name, owners] : p.tag_owners) {
      for (const auto& o : owners) {
        if (o.starts_with("group:") && !p.groups.contains(o)) return ctx.Fail(o, "group not defined in policy");
        if (o.starts_with("tag:") && !p.tag_owners.contains(o)) return ctx.Fail(o, "tag not defined in tagOwners");
      }
    }
  }
  return {};
}

Result<std::pair<std::vector<int>, std::vector<PortRange>>> ParseIpEntry(const Parser& ps, const Ctx& ctx,
                                                                         const std::string& e) {
  if (e == "*") return std::pair{std::vector<int>{}, std::vector<PortRange>{PortRange{}}};
  size_t colon = e.find(':');
  if (colon != e.rfind(':')) return ctx.Fail(e, "expected only one colon in ip entry");
  std::vector<int> protos;
  std::string ports = e;
  if (colon != std::string::npos) {
    auto n = ProtoNumber(ctx, e.substr(0, colon));
    if (!n) return n.error();
    protos.push_back(*n);
    ports = e.substr(colon + 1);
  }
  // A bare protocol name is not a port range; the protocol must come with `:ports`.
  auto pr = ps.Ports(ports, e);
  if (!pr) return pr.error();
  for (const auto& r : *pr) {
    if (r.first == 0 && ports != "*") return ctx.Fail(e, "first port must be >0, or use '*' for wildcard");
  }
  return std::pair{protos, *pr};
}

// autogroup:self as a destination only makes sense for sources that are people.
Result<void> CheckSelfSources(const Ctx& ctx, const std::vector<Alias>& srcs, bool self_dst, bool allow_star) {
  if (!self_dst) return {};
  for (const auto& a : srcs) {
    bool ok = a.kind == Alias::Kind::kUser || a.kind == Alias::Kind::kGroup || a.Is("autogroup:member") ||
              (allow_star && a.kind == Alias::Kind::kStar);
    if (!ok) return ctx.Fail(a.name, "autogroup:self can only be used with users, groups, or supported autogroups");
  }
  return {};
}

Result<void> ParseAcls(Policy& p, const json& doc, const Ctx& ctx, const Parser& ps) {
  if (!doc.contains("acls")) return {};
  p.has_rules = true;
  for (const auto& a : doc["acls"]) {
    KEEL_TRY(CheckKeys(ctx, a, {"action", "src", "dst", "proto", "srcPosture", "users", "ports"}, "acls"));
    if (a.value("action", "") != "accept") return ctx.Fail("action", "ACL action must be \"accept\"");
    Rule r;
    r.from_acl = true;
    auto srcs = ps.Aliases(a.value("src", json::array()), "src");
    if (!srcs) return srcs.error();
    r.srcs = *srcs;
    for (const auto& s : r.srcs) {
      if (s.Is("autogroup:self") || s.Is("autogroup:internet")) {
        return ctx.Fail(s.name, "not valid on the src side of a rule");
      }
    }
    auto dst_names = Strings(ctx, a.value("dst", json::array()), "dst");
    if (!dst_names) return dst_names.error();
    for (const auto& d : *dst_names) {
      auto ds = ps.ParseDst(d);
      if (!ds) return ds.error();
      if (ds->alias.Is("autogroup:danger-all")) return ctx.Fail(d, "cannot use autogroup:danger-all as a dst");
      r.dsts.push_back(*ds);
    }
    KEEL_TRY(CheckSelfSources(ctx, r.srcs, std::any_of(r.dsts.begin(), r.dsts.end(), [](const DstSpec& d) {
                                return d.alias.Is("autogroup:self");
                              }), /*allow_star=*/true));
    if (a.contains("proto")) {
      std::string proto = a["proto"].is_string() ? a["proto"].get<std::string>() : a["proto"].dump();
      auto n = ProtoNumber(ctx, proto);
      if (!n) return n.error();
      r.protos.push_back(*n);
    }
    p.rules.push_back(std::move(r));
  }
  return {};
}

// User-grantable capabilities: {domain}/{path} without a URL scheme, and nothing in the
// tailscale.com domain except the few the control plane lets users grant.
Result<void> CheckCapName(const Ctx& ctx, const std::string& cap) {
  static const std::set<std::string, std::less<>> kGrantable = {
      "tailscale.com/cap/drive",      "tailscale.com/cap/relay", "tailscale.com/cap/webui",
      "tailscale.com/cap/kubernetes", "tailscale.com/cap/tsidp", "tailscale.com/cap/secrets"};
  if (cap.find('/') == std::string::npos || cap.find("://") != std::string::npos) {
    return ctx.Fail(cap, "capability name must have the form {domain}/{path}");
  }
  if (cap.starts_with("tailscale.com/") && !kGrantable.contains(cap)) {
    return ctx.Fail(cap, "capability name must not be in the tailscale.com domain");
  }
  return {};
}

Result<void> ParseGrants(Policy& p, const json& doc, const Ctx& ctx, const Parser& ps) {
  if (!doc.contains("grants")) return {};
  p.has_rules = true;
  for (const auto& g : doc["grants"]) {
    KEEL_TRY(CheckKeys(ctx, g, {"src", "dst", "ip", "app", "via", "srcPosture"}, "grants"));
    Rule base;
    auto srcs = ps.Aliases(g.value("src", json::array()), "src");
    if (!srcs) return srcs.error();
    base.srcs = *srcs;
    for (const auto& s : base.srcs) {
      if (s.Is("autogroup:self") || s.Is("autogroup:internet")) {
        return ctx.Fail(s.name, "not valid on the src side of a grant");
      }
    }
    auto dsts = ps.Aliases(g.value("dst", json::array()), "dst");
    if (!dsts) return dsts.error();
    for (const auto& d : *dsts) {
      if (d.Is("autogroup:danger-all")) return ctx.Fail(d.name, "cannot use autogroup:danger-all as a dst");
      if (d.kind == Alias::Kind::kPrefix && IsExitRoute(d.range)) {
        return ctx.Fail(d.name, "to allow all IP addresses, use \"*\" or \"autogroup:internet\"");
      }
    }
    KEEL_TRY(CheckSelfSources(ctx, base.srcs, std::any_of(dsts->begin(), dsts->end(), [](const Alias& d) {
                                return d.Is("autogroup:self");
                              }), /*allow_star=*/false));
    auto via = Strings(ctx, g.value("via", json::array()), "via");
    if (!via) return via.error();
    for (const auto& v : *via) {
      if (!v.starts_with("tag:")) return ctx.Fail(v, "via can only be a tag");
      if (!p.tag_owners.contains(v)) return ctx.Fail(v, "tag not defined in tagOwners");
    }
    base.via = *via;
    bool has_ip = g.contains("ip") && !g["ip"].empty();
    bool has_app = g.contains("app") && !g["app"].is_null() && !g["app"].empty();
    if (!has_ip && !has_app) return ctx.Fail("grants", "ip and app can not both be empty");
    if (has_app) {
      if (!g["app"].is_object()) return ctx.Fail("app", "expected an object");
      for (const auto& [cap, val] : g["app"].items()) {
        KEEL_TRY(CheckCapName(ctx, cap));
        if (!val.is_array()) return ctx.Fail(cap, "capability values must be an array");
      }
      for (const auto& d : *dsts) {
        if (d.Is("autogroup:internet")) return ctx.Fail(d.name, "cannot use app grants with autogroup:internet");
      }
      Rule r = base;
      r.app = g["app"];
      for (const auto& d : *dsts) r.dsts.push_back({d, {}});
      p.rules.push_back(r);
    }
    if (has_ip) {
      auto ips = Strings(ctx, g["ip"], "ip");
      if (!ips) return ips.error();
      for (const auto& e : *ips) {
        auto pp = ParseIpEntry(ps, ctx, e);
        if (!pp) return pp.error();
        Rule r = base;
        r.protos = pp->first;
        for (const auto& d : *dsts) r.dsts.push_back({d, pp->second});
        p.rules.push_back(std::move(r));
      }
    }
  }
  return {};
}

// Go-style duration ("90s", "1h30m", "12h"); nullopt when malformed.
std::optional<int64_t> ParseDuration(const std::string& s) {
  if (s.empty()) return std::nullopt;
  size_t i = 0;
  bool neg = false;
  if (s[0] == '-' || s[0] == '+') {
    neg = s[0] == '-';
    ++i;
  }
  double total = 0;
  if (s.substr(i) == "0") return 0;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && (std::isdigit(s[j]) || s[j] == '.')) ++j;
    if (j == i) return std::nullopt;
    double v = std::stod(s.substr(i, j - i));
    size_t k = j;
    while (k < s.size() && !std::isdigit(s[k]) && s[k] != '.') ++k;
    std::string unit = s.substr(j, k - j);
    static const std::map<std::string, double> kUnits = {
        {"ns", 1e-9}, {"us", 1e-6}, {"µs", 1e-6}, {"ms", 1e-3}, {"s", 1}, {"m", 60}, {"h", 3600}};
    auto it = kUnits.find(unit);
    if (it == kUnits.end()) return std::nullopt;
    total += v * it->second;
    i = k;
  }
  return static_cast<int64_t>(neg ? -total : total);
}

Result<void> ParseSsh(Policy& p, const json& doc, const Ctx& ctx, const Parser& ps) {
  if (!doc.contains("ssh")) return {};
  p.has_ssh = true;
  for (const auto& e : doc["ssh"]) {
    KEEL_TRY(CheckKeys(ctx, e, {"action", "src", "dst", "users", "checkPeriod", "acceptEnv"}, "ssh"));
    SshRule r;
    std::string action = e.contains("action") && e["action"].is_string() ? Trim(e["action"].get<std::string>()) : "";
    if (action.empty()) return ctx.Fail("action", "ssh action must be specified");
    if (action != "accept" && action != "check") return ctx.Fail(action, "is not a valid ssh action");
    r.check = action == "check";
    auto srcs = ps.Aliases(e.value("src", json::array()), "src");
    if (!srcs) return srcs.error();
    r.srcs = *srcs;
    for (const auto& s : r.srcs) {
      if (s.kind == Alias::Kind::kStar || s.kind == Alias::Kind::kHost || s.kind == Alias::Kind::kPrefix ||
          (s.kind == Alias::Kind::kAutogroup && !s.Is("autogroup:member") && !s.Is("autogroup:tagged"))) {
        return ctx.Fail(s.name, "alias not supported as an ssh source");
      }
    }
    auto dsts = ps.Aliases(e.value("dst", json::array()), "dst");
    if (!dsts) return dsts.error();
    r.dsts = *dsts;
    for (const auto& d : r.dsts) {
      if (d.kind == Alias::Kind::kStar) return ctx.Fail("dst", "wildcard (*) is not supported as SSH destination");
      if (d.kind == Alias::Kind::kHost || d.kind == Alias::Kind::kPrefix || d.kind == Alias::Kind::kGroup ||
          (d.kind == Alias::Kind::kAutogroup && !d.Is("autogroup:self") && !d.Is("autogroup:member") &&
           !d.Is("autogroup:tagged"))) {
        return ctx.Fail(d.name, "invalid ssh dst");
      }
    }
    if (!e.contains("users") || !e["users"].is_array() || e["users"].empty()) {
      return ctx.Fail("users", "ssh users must be specified");
    }
    auto users = Strings(ctx, e["users"], "users");
    if (!users) return users.error();
    for (auto& u : *users) u = Trim(u);
    for (const auto& u : *users) {
      if (u.empty() || u == "*") return ctx.Fail("users", "ssh user \"" + u + "\" is not valid");
      if (u.starts_with("localpart:")) {
        std::string rest = u.substr(10);
        if (std::count(rest.begin(), rest.end(), '*') > 1) {
          return ctx.Fail(u, "invalid localpart format, must be localpart:*@<domain>");
        }
      }
    }
    r.users = *users;
    if (e.contains("checkPeriod") && !e["checkPeriod"].is_null()) {
      std::string cp = e["checkPeriod"].is_string() ? e["checkPeriod"].get<std::string>() : "";
      if (!r.check) return ctx.Fail("checkPeriod", "checkPeriod is only valid with action \"check\"");
      if (cp == "always") {
        r.check_period_s = 0;
      } else {
        auto d = ParseDuration(cp);
        if (!d) return ctx.Fail("checkPeriod", "invalid duration \"" + cp + "\"");
        if (*d < 0) return ctx.Fail("checkPeriod", "must be a positive duration");
        if (*d > 168 * 3600) return ctx.Fail("checkPeriod", "is above the max (168h)");
        r.check_period_s = *d;
      }
    }
    if (e.contains("acceptEnv") && !e["acceptEnv"].is_null()) {
      auto env = Strings(ctx, e["acceptEnv"], "acceptEnv");
      if (!env) return env.error();
      for (const auto& v : *env) {
        if (v.empty()) return ctx.Fail("acceptEnv", "acceptEnv values cannot be empty");
      }
      r.accept_env = *env;
      r.has_accept_env = true;
    }
    p.ssh.push_back(std::move(r));
  }
  return {};
}

Result<void> ParseApprovers(Policy& p, const json& doc, const Ctx& ctx, const Parser& ps) {
  if (!doc.contains("autoApprovers")) return {};
  const json& aa = doc["autoApprovers"];
  KEEL_TRY(CheckKeys(ctx, aa, {"routes", "exitNode"}, "autoApprovers"));
  if (aa.contains("routes")) {
    for (const auto& [prefix, who] : aa["routes"].items()) {
      auto r = ParseIpRange(prefix);
      if (!r || prefix.find('-') != std::string::npos) return ctx.Fail(prefix, "invalid route prefix");
      auto aliases = ps.Aliases(who, prefix);
      if (!aliases) return aliases.error();
      p.route_approvers.push_back({*r, *aliases});
    }
  }
  if (aa.contains("exitNode")) {
    auto aliases = ps.Aliases(aa["exitNode"], "exitNode");
    if (!aliases) return aliases.error();
    p.exit_approvers = *aliases;
  }
  return {};
}

Result<void> ParseNodeAttrs(Policy& p, const json& doc, const Ctx& ctx, const Parser& ps) {
  if (!doc.contains("nodeAttrs")) return {};
  for (const auto& e : doc["nodeAttrs"]) {
    KEEL_TRY(CheckKeys(ctx, e, {"target", "attr", "app", "ipPool"}, "nodeAttrs"));
    NodeAttr na;
    auto t = ps.Aliases(e.value("target", json::array()), "target");
    if (!t) return t.error();
    for (const auto& a : *t) {
      if (a.Is("autogroup:self") || a.Is("autogroup:internet")) {
        return ctx.Fail(a.name, "nodeAttrs target does not support this autogroup");
      }
    }
    na.targets = *t;
    auto attrs = Strings(ctx, e.value("attr", json::array()), "attr");
    if (!attrs) return attrs.error();
    na.attrs = *attrs;
    if (e.contains("ipPool")) {
      auto pools = Strings(ctx, e["ipPool"], "ipPool");
      if (!pools) return pools.error();
      for (const auto& pool : *pools) {
        auto r = ParseIpRange(pool);
        if (!r || !IpSet::Of({"100.64.0.0/10"}).ContainsRange(*r) || IpSet::Of({"100.100.0.0/16", "100.115.92.0/23"}).Overlaps(*r)) {
          return ctx.Fail(pool, "nodeAttrs ipPool must be within 100.64.0.0/10 and avoid reserved ranges");
        }
      }
    }
    if (e.contains("app")) na.app = e["app"];
    p.node_attrs.push_back(std::move(na));
  }
  return {};
}

Result<void> ValidateTestDst(const Ctx& ctx, const Parser& ps, const std::string& d) {
  size_t colon = d.rfind(':');
  if (colon == std::string::npos) return ctx.Fail(d, "test destination needs a port");
  std::string port = d.substr(colon + 1);
  if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit) || std::stoi(port) > 65535) {
    return ctx.Fail(d, "test destination port must be a single port");
  }
  std::string host = d.substr(0, colon);
  auto a = ps.ParseAlias(host);
  if (!a) return a.error();
  if (a->Is("autogroup:internet")) return ctx.Fail(d, "autogroup:internet not valid as a test destination");
  // The control plane evaluates a CIDR destination (even a /32) as failing, whether accept or deny.
  if (host.find('/') != std::string::npos) {
    return ctx.Fail(d, "test destination must be a single host, not a CIDR range");
  }
  return {};
}

Result<void> ParseTests(Policy& p, const json& doc, const Ctx& ctx, const Parser& ps) {
  if (doc.contains("tests")) {
    for (const auto& e : doc["tests"]) {
      KEEL_TRY(CheckKeys(ctx, e, {"src", "proto", "accept", "deny", "srcPostureAttrs"}, "tests"));
      std::string src = e.value("src", "");
      if (src.empty()) return ctx.Fail("tests", "test entry must have a src");
      auto a = ps.ParseAlias(src);
      if (!a) return a.error();
      PolicyTest t{*a, e.value("proto", ""), {}, {}};
      if (!t.proto.empty() && t.proto != "tcp" && t.proto != "udp" && t.proto != "sctp" && t.proto != "6" &&
          t.proto != "17" && t.proto != "132") {
        return ctx.Fail(t.proto, "test protocol must be tcp, udp, sctp, or empty");
      }
      auto acc = Strings(ctx, e.value("accept", json::array()), "accept");
      auto den = Strings(ctx, e.value("deny", json::array()), "deny");
      if (!acc) return acc.error();
      if (!den) return den.error();
      t.accept = *acc;
      t.deny = *den;
      if (t.accept.empty() && t.deny.empty()) {
        return ctx.Fail("tests", "test entry must have at least one of \"accept\" or \"deny\"");
      }
      for (const auto& d : t.accept) KEEL_TRY(ValidateTestDst(ctx, ps, d));
      for (const auto& d : t.deny) KEEL_TRY(ValidateTestDst(ctx, ps, d));
      p.tests.push_back(std::move(t));
    }
  }
  if (doc.contains("sshTests")) {
    for (const auto& e : doc["sshTests"]) {
      KEEL_TRY(CheckKeys(ctx, e, {"src", "dst", "accept", "check", "deny", "srcPostureAttrs"}, "sshTests"));
      std::string src = e.value("src", "");
      if (src.empty()) return ctx.Fail("sshTests", "SSH tests entry must have a non-empty src");
      auto a = ps.ParseAlias(src);
      if (!a) return a.error();
      SshTest t;
      t.src = *a;
      auto dsts = ps.Aliases(e.value("dst", json::array()), "dst");
      if (!dsts) return dsts.error();
      if (dsts->empty()) return ctx.Fail("sshTests", "SSH tests entry must have at least one dst");
      for (const auto& d : *dsts) {
        if (d.kind == Alias::Kind::kPrefix || d.kind == Alias::Kind::kStar || d.Is("autogroup:internet") ||
            d.kind == Alias::Kind::kGroup) {
          return ctx.Fail(d.name, "SSH tests dst contains disallowed element");
        }
      }
      t.dsts = *dsts;
      for (auto [key, out] : {std::pair{"accept", &t.accept}, {"check", &t.check}, {"deny", &t.deny}}) {
        auto v = Strings(ctx, e.value(key, json::array()), key);
        if (!v) return v.error();
        for (const auto& u : *v) {
          if (u.empty()) return ctx.Fail(key, "SSH test user must not be empty");
        }
        *out = *v;
      }
      if (t.accept.empty() && t.check.empty() && t.deny.empty()) {
        return ctx.Fail("sshTests", "SSH tests entry must have at least one of accept, check or deny");
      }
      p.ssh_tests.push_back(std::move(t));
    }
  }
  return {};
}

}  // namespace

Result<Policy> ParsePolicy(std::string_view hujson) {
  auto doc = ParseHuJson(hujson);
  if (!doc) return doc.error();
  Policy p;
  p.text = std::string(hujson);
  Ctx ctx(p.text);
  if (!doc->is_object()) return ctx.Fail("policy", "the policy must be a JSON object");
  for (const auto& [k, v] : doc->items()) {
    if (!kTopKeys.contains(k)) return ctx.Fail(k, "unknown top-level key");
  }
  Parser ps(p, ctx);
  KEEL_TRY(ParseGroups(p, *doc, ctx));
  KEEL_TRY(ParseHostsAndTags(p, *doc, ctx));
  KEEL_TRY(ParseAcls(p, *doc, ctx, ps));
  KEEL_TRY(ParseGrants(p, *doc, ctx, ps));
  KEEL_TRY(ParseSsh(p, *doc, ctx, ps));
  KEEL_TRY(ParseApprovers(p, *doc, ctx, ps));
  KEEL_TRY(ParseNodeAttrs(p, *doc, ctx, ps));
  KEEL_TRY(ParseTests(p, *doc, ctx, ps));
  if (!p.has_rules) {
    // No acls and no grants: the control plane allows everything within the tailnet.
    Rule all;
    all.srcs.push_back(Alias{});
    all.dsts.push_back({Alias{}, {PortRange{}}});
    p.rules.push_back(std::move(all));
    p.has_rules = true;
  }
  if (doc->contains("randomizeClientPort")) p.randomize_client_port = (*doc)["randomizeClientPort"] == true;
  return p;
}

Result<Alias> ParsePolicyAlias(const Policy& policy, const std::string& name) {
  Ctx ctx(policy.text);
  Parser ps(const_cast<Policy&>(policy), ctx);
  return ps.ParseAlias(name);
}

}  // namespace keel::policy
