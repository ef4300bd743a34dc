// The autoApprovers, nodeAttrs, tests and sshTests sections.
#include <algorithm>
#include <map>
#include <set>

#include "policy/policy_internal.h"

namespace keel::policy::detail {
namespace {

// A literal prefix or hosts alias that covers more than one address.
bool IsAddressRange(const Alias& a) {
  return (a.kind == Alias::Kind::kPrefix || a.kind == Alias::Kind::kHost) && !(a.range.first == a.range.last);
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
  // The control plane fails a CIDR destination (even a /32), and a hosts alias of a range,
  // whether accept or deny.
  if (host.find('/') != std::string::npos || IsAddressRange(*a)) {
    return ctx.Fail(d, "test destination must be a single host, not a CIDR range");
  }
  return {};
}

}  // namespace

Result<void> ParseApprovers(Policy& p, const json& doc, const Ctx& ctx, const Parser& ps) {
  if (!doc.contains("autoApprovers")) return {};
  const json& aa = doc["autoApprovers"];
  KEEL_TRY(CheckKeys(ctx, aa, {"routes", "exitNode"}, "autoApprovers"));
  if (aa.contains("routes")) {
    for (const auto& [prefix, who] : aa["routes"].items()) {
      auto r = ParseIpPrefix(prefix);
      if (!r) return ctx.Fail(prefix, "invalid route prefix");
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
        static const IpSet kCgnat = IpSet::Of({"100.64.0.0/10"});
        static const IpSet kReserved = IpSet::Of({"100.100.0.0/16", "100.115.92.0/23"});
        auto r = ParseIpRange(pool);
        if (!r || !kCgnat.ContainsRange(*r) || kReserved.Overlaps(*r)) {
          return ctx.Fail(pool, "nodeAttrs ipPool must be within 100.64.0.0/10 and avoid reserved ranges");
        }
      }
    }
    if (e.contains("app")) na.app = e["app"];
    p.node_attrs.push_back(std::move(na));
  }
  return {};
}

Result<void> ParseTests(Policy& p, const json& doc, const Ctx& ctx, const Parser& ps) {
  if (doc.contains("tests")) {
    for (const auto& e : doc["tests"]) {
      KEEL_TRY(CheckKeys(ctx, e, {"src", "proto", "accept", "allow", "deny", "srcPostureAttrs"}, "tests"));
      std::string src = e.value("src", "");
      if (src.empty()) return ctx.Fail("tests", "test entry must have a src");
      auto a = ps.ParseAlias(src);
      if (!a) return a.error();
      PolicyTest t{*a, e.value("proto", ""), {}, {}};
      static const std::set<std::string> kProtos = {"tcp", "udp", "sctp", "icmp", "6", "17", "132", "1"};
      if (!t.proto.empty() && !kProtos.contains(t.proto)) {
        return ctx.Fail(t.proto, "test protocol must be tcp, udp, sctp, icmp, or empty");
      }
      // "allow" is the older name of "accept".
      const char* accept_key = e.contains("accept") || !e.contains("allow") ? "accept" : "allow";
      auto acc = Strings(ctx, e.value(accept_key, json::array()), accept_key);
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
        // A single address is a destination (judged by the node that holds it); a range is not.
        if (IsAddressRange(d) || d.kind == Alias::Kind::kStar || d.Is("autogroup:internet") || d.kind == Alias::Kind::kGroup) {
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

}  // namespace keel::policy::detail
