// ParsePolicy: the top-level keys, then each section in dependency order (groups and tags
// before the rules that name them).
#include <algorithm>
#include <functional>
#include <set>

#include "policy/policy_internal.h"

namespace keel::policy {
namespace {

using namespace detail;

const std::set<std::string, std::less<>> kTopKeys = {
    "acls", "grants", "groups", "hosts", "tagOwners", "autoApprovers", "ssh", "nodeAttrs",
    "tests", "sshTests", "randomizeClientPort", "postures", "ipsets", "derpMap",
    "disableIPv4", "OneCGNATRoute", "defaultSrcPosture", "attrs"};

// ParsePolicy without its guard against values of the wrong JSON type.
Result<Policy> ParseDocument(std::string_view hujson) {
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
  const auto acl_rules = static_cast<std::ptrdiff_t>(p.rules.size());
  KEEL_TRY(ParseGrants(p, *doc, ctx, ps));
  // Tailscale places grants before acls in the filter; errors still read in document order.
  std::rotate(p.rules.begin(), p.rules.begin() + acl_rules, p.rules.end());
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

}  // namespace

Result<Policy> ParsePolicy(std::string_view hujson) {
  // The section parsers read with nlohmann's typed accessors (value(), get<>()), which throw
  // when a key holds another type ("action": ["accept"]). That is a mistake in the policy: an
  // error for whoever wrote it, not an exception through the API handler or the reload.
  try {
    return ParseDocument(hujson);
  } catch (const nlohmann::json::exception& e) {
    return MakeError(Errc::kInvalidArgument, std::string("policy: a value has the wrong type: ") + e.what());
  }
}

Result<Alias> ParsePolicyAlias(const Policy& policy, const std::string& name) {
  Ctx ctx(policy.text);
  Parser ps(const_cast<Policy&>(policy), ctx);
  return ps.ParseAlias(name);
}

}  // namespace keel::policy
