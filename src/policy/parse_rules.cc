// The groups, hosts, tagOwners, acls and grants sections.
#include <algorithm>
#include <map>
#include <set>

#include "policy/policy_internal.h"

namespace keel::policy::detail {
namespace {

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

}  // namespace

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
      auto r = v.is_string() ? ParseIpPrefix(v.get<std::string>()) : std::nullopt;
      if (!r) {
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
    }
    if (has_ip) {
      auto ips = Strings(ctx, g["ip"], "ip");
      if (!ips) return ips.error();
      // Entries with the same protocols are one rule, so each destination lists all of their
      // ports together (address-major), as Tailscale orders DstPorts.
      std::vector<std::pair<std::vector<int>, std::vector<PortRange>>> by_protos;
      for (const auto& e : *ips) {
        auto pp = ParseIpEntry(ps, ctx, e);
        if (!pp) return pp.error();
        auto same = std::find_if(by_protos.begin(), by_protos.end(), [&](const auto& b) { return b.first == pp->first; });
        if (same == by_protos.end()) by_protos.push_back(std::move(*pp));
        else same->second.insert(same->second.end(), pp->second.begin(), pp->second.end());
      }
      for (auto& [protos, ports] : by_protos) {
        Rule r = base;
        r.protos = protos;
        for (const auto& d : *dsts) r.dsts.push_back({d, ports});
        p.rules.push_back(std::move(r));
      }
    }
    // Within a grant Tailscale lists the DstPorts rules before the CapGrant rule.
    if (has_app) {
      Rule r = base;
      r.app = g["app"];
      for (const auto& d : *dsts) r.dsts.push_back({d, {}});
      p.rules.push_back(std::move(r));
    }
  }
  return {};
}

}  // namespace keel::policy::detail
