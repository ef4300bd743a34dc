#include "policy/compiler.h"

#include <algorithm>
#include <atomic>
#include <set>

#include "policy/compiler_internal.h"

namespace keel::policy {

using nlohmann::json;

CompiledPolicy::CompiledPolicy() = default;
CompiledPolicy::~CompiledPolicy() = default;

size_t CompiledPolicy::NodeCount() const { return nodes_.size(); }

std::optional<size_t> CompiledPolicy::IndexOf(uint64_t node_id) const {
  auto it = by_id_.find(node_id);
  if (it == by_id_.end()) return std::nullopt;
  return it->second;
}

Result<std::shared_ptr<const CompiledPolicy>> CompiledPolicy::Compile(std::shared_ptr<const Policy> policy,
                                                                      std::vector<PolicyUser> users,
                                                                      std::vector<PolicyNode> nodes,
                                                                      const CompileOptions& options) {
  auto cp = Make(std::move(policy), std::move(users), std::move(nodes), options, nullptr);
  if (!cp) return cp.error();
  (*cp)->touched_at_.assign((*cp)->nodes_.size(), (*cp)->generation_);
  return std::shared_ptr<const CompiledPolicy>(*cp);
}

Result<std::shared_ptr<const CompiledPolicy>> CompiledPolicy::Recompile(const CompiledPolicy& prev,
                                                                        std::vector<PolicyUser> users,
                                                                        std::vector<PolicyNode> nodes,
                                                                        const CompileOptions& options) {
  auto cp = Make(prev.policy_, std::move(users), std::move(nodes), options, &prev);
  if (!cp) return cp.error();
  (*cp)->ContinueLine(prev);
  return std::shared_ptr<const CompiledPolicy>(*cp);
}

Result<std::shared_ptr<CompiledPolicy>> CompiledPolicy::Make(std::shared_ptr<const Policy> policy,
                                                             std::vector<PolicyUser> users,
                                                             std::vector<PolicyNode> nodes,
                                                             const CompileOptions& options,
                                                             const CompiledPolicy* prev) {
  static std::atomic<uint64_t> generations{0};
  auto cp = std::make_shared<CompiledPolicy>();
  cp->generation_ = ++generations;
  cp->policy_ = std::move(policy);
  cp->users_ = std::move(users);
  for (auto& n : nodes) {
    Node node;
    node.in = std::move(n);
    cp->by_id_[node.in.id] = cp->nodes_.size();
    cp->nodes_.push_back(std::move(node));
  }
  KEEL_TRY(cp->CheckDomains(options));
  KEEL_TRY(cp->Build(prev));
  KEEL_TRY(cp->RunTests());
  KEEL_TRY(cp->RunSshTests());
  return cp;
}

Result<void> CompiledPolicy::CheckDomains(const CompileOptions& options) const {
  std::vector<std::string> domains = options.associated_domains;
  if (domains.empty() && !users_.empty()) {
    auto owner = std::min_element(users_.begin(), users_.end(),
                                  [](const PolicyUser& a, const PolicyUser& b) { return a.id < b.id; });
    domains.push_back(EmailDomain(owner->email));
  }
  auto check = [&](std::string_view name) -> Result<void> {
    if (name.starts_with("user:")) name.remove_prefix(5);
    if (!name.starts_with("*@")) return {};
    std::string domain(name.substr(2));
    if (std::find(domains.begin(), domains.end(), domain) != domains.end()) return {};
    return MakeError(Errc::kInvalidArgument, "policy: " + domain +
                                                 " is not associated with this Tailnet and cannot be used in "
                                                 "user:*@<domain> expressions");
  };
  auto check_all = [&](const std::vector<Alias>& aliases) -> Result<void> {
    for (const auto& a : aliases) {
      if (a.kind == Alias::Kind::kUser) KEEL_TRY(check(a.name));
    }
    return {};
  };
  for (const Rule& r : policy_->rules) {
    KEEL_TRY(check_all(r.srcs));
    for (const auto& d : r.dsts) KEEL_TRY(check_all({d.alias}));
  }
  for (const SshRule& r : policy_->ssh) {
    KEEL_TRY(check_all(r.srcs));
    KEEL_TRY(check_all(r.dsts));
    for (const auto& u : r.users) {
      if (auto d = LocalpartDomain(u)) KEEL_TRY(check("*@" + *d));
    }
  }
  for (const NodeAttr& na : policy_->node_attrs) KEEL_TRY(check_all(na.targets));
  return {};
}

Result<void> CompiledPolicy::Build(const CompiledPolicy* prev) {
  for (auto& n : nodes_) {
    for (const auto* text : {&n.in.ipv4, &n.in.ipv6}) {
      if (text->empty()) continue;
      auto ip = ParseIpAddr(*text);
      if (!ip) return MakeError(Errc::kInvalidArgument, "node " + n.in.hostname + ": bad address " + *text);
      n.ips.push_back(*ip);
      n.ip_set.Add(*ip);
    }
  }
  IndexAddresses();
  BuildIndexes();
  for (size_t i = 0; i < nodes_.size(); ++i) {
    Node& n = nodes_[i];
    for (const auto& text : n.in.routable_ips) {
      auto r = ParseIpRange(text);
      if (!r) continue;
      bool ok = std::find(n.in.approved_routes.begin(), n.in.approved_routes.end(), text) !=
                n.in.approved_routes.end();
      if (!ok && IsExitRoute(*r)) {
        ok = std::any_of(policy_->exit_approvers.begin(), policy_->exit_approvers.end(),
                         [&](const Alias& a) { return NodeIn(i, a); });
      }
      // Exit routes are approved only by autoApprovers.exitNode, never by a routes entry
      // (not even 0.0.0.0/0).
      for (const auto& [prefix, who] : policy_->route_approvers) {
        if (ok || IsExitRoute(*r)) break;
        bool covers = prefix.first.v6 == r->first.v6 && !(r->first < prefix.first) && !(prefix.last < r->last);
        if (!covers) continue;
        ok = std::any_of(who.begin(), who.end(), [&](const Alias& a) { return NodeIn(i, a); });
      }
      if (!ok) continue;
      n.approved.push_back(text);
      if (IsExitRoute(*r)) {
        n.is_exit = true;
      } else {
        n.subnet_routes.Add(*r);
        std::string route = r->ToString();
        if (std::find(subnet_route_strings_.begin(), subnet_route_strings_.end(), route) ==
            subnet_route_strings_.end()) {
          subnet_routes_all_.Add(*r);
          subnet_route_strings_.push_back(std::move(route));
        }
      }
    }
    if (!n.subnet_routes.Empty() || n.is_exit) routed_.push_back(i);
  }
  if (prev) NoteChanges(*prev);
  const bool keep = prev && CanKeepRules(*prev);
  for (size_t ri = 0; ri < policy_->rules.size(); ++ri) {
    const Rule& rule = policy_->rules[ri];
    RuleSets sets = ResolveRule(rule);
    std::shared_ptr<const CRule> cr;
    if (keep && Reusable(*prev->rules_[ri], sets)) {
      cr = prev->rules_[ri];
      ++rules_kept_;
    } else {
      cr = std::make_shared<const CRule>(CompileRule(rule, std::move(sets)));
    }
    for (size_t e = 0; e < cr->entries.size(); ++e) {
      const Entry& en = cr->entries[e];
      if (!en.star && en.range.first == en.range.last && TailnetAddressSpace().Contains(en.range.first)) {
        by_addr_[en.ip].push_back({ri, e});
      } else {
        wide_entries_.push_back({ri, e});
      }
    }
    rules_.push_back(std::move(cr));
  }
  GroupRulesBySource();
  BuildSsh();
  return {};
}

void CompiledPolicy::GroupRulesBySource() {
  // Tailscale sends one filter rule per source set (and protocols), at the place of the first
  // policy rule with those sources: later rules with the same sources add their destinations.
  std::map<std::pair<std::vector<std::string>, std::vector<int>>, size_t> first;
  rule_group_.resize(rules_.size());
  for (size_t r = 0; r < rules_.size(); ++r) {
    const CRule& cr = *rules_[r];
    bool plain = cr.rule->app.is_null() && cr.rule->via.empty();
    rule_group_[r] = plain ? first.try_emplace({cr.src_strings, cr.rule->protos}, r).first->second : r;
  }
}

CompiledPolicy::RuleSets CompiledPolicy::ResolveRule(const Rule& rule) const {
  RuleSets s;
  bool star = false;
  for (const auto& a : rule.srcs) {
    s.src.AddSet(Resolve(a));
    star |= a.kind == Alias::Kind::kStar;
    s.danger |= a.Is("autogroup:danger-all");
  }
  s.src_nodes_only = s.src;
  if (star) s.src.AddSet(subnet_routes_all_);
  s.dsts.resize(rule.dsts.size());
  for (size_t k = 0; k < rule.dsts.size(); ++k) {
    const Alias& a = rule.dsts[k].alias;
    if (a.Is("autogroup:self")) continue;
    if (!rule.via.empty()) {
      if (a.Is("autogroup:internet")) s.via_internet = true;
      else for (const auto& r : Resolve(a).Prefixes()) s.via_dsts.push_back(r);
      continue;
    }
    s.dsts[k] = a.kind == Alias::Kind::kStar ? IpSet::All() : Resolve(a);
    s.dst_all.AddSet(s.dsts[k]);
  }
  return s;
}

// The text union of each source alias's own strings, sorted: Tailscale keeps a node's address
// listed beside a range that holds it. Kept rules keep theirs: any change to an alias's
// members touches the rule's sources (Reusable).
std::vector<std::string> CompiledPolicy::SourceStrings(const Rule& rule) const {
  std::vector<std::string> out;
  for (const auto& a : rule.srcs) {
    auto strings = a.kind == Alias::Kind::kStar ? StarStrings() : Resolve(a).Strings();
    out.insert(out.end(), strings.begin(), strings.end());
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::string> CompiledPolicy::StarStrings() const {
  std::vector<std::string> out = TailnetAddressSpace().Strings();
  out.insert(out.end(), subnet_route_strings_.begin(), subnet_route_strings_.end());
  std::sort(out.begin(), out.end());
  return out;
}

CompiledPolicy::CRule CompiledPolicy::CompileRule(const Rule& rule, RuleSets sets) const {
  const size_t words = (nodes_.size() + 63) / 64;
  CRule cr;
  cr.rule = &rule;
  cr.src = std::move(sets.src);
  cr.src_nodes_only = std::move(sets.src_nodes_only);
  cr.dst_all = std::move(sets.dst_all);
  cr.via_dsts = std::move(sets.via_dsts);
  cr.via_internet = sets.via_internet;
  cr.src_strings = sets.danger ? std::vector<std::string>{"*"} : SourceStrings(rule);
  std::vector<uint64_t> src_by_addr(words, 0);  // sources by their own addresses
  MarkAddressesIn(cr.src, src_by_addr);
  cr.src_nodes = src_by_addr;
  cr.dst_nodes.assign(words, 0);
  for (size_t i : routed_) {
    if (cr.src.Overlaps(nodes_[i].subnet_routes)) SetBit(cr.src_nodes, i);
  }
  for (size_t k = 0; k < rule.dsts.size(); ++k) {
    const DstSpec& d = rule.dsts[k];
    if (d.alias.Is("autogroup:self")) {
      cr.has_self = true;
      cr.self_ports.insert(cr.self_ports.end(), d.ports.begin(), d.ports.end());
      continue;
    }
    if (!rule.via.empty()) continue;
    const bool star = d.alias.kind == Alias::Kind::kStar;
    if (star) {
      for (const auto& p : d.ports) cr.entries.push_back({"*", {}, true, p});
    } else {
      // Ranges as they are, as Tailscale sends them; autogroup:internet is written as ranges
      // throughout, "2000::-3fff:…" too.
      const bool internet = d.alias.Is("autogroup:internet");
      for (const auto& r : sets.dsts[k].Ranges()) {
        std::string text = internet ? r.first.ToString() + "-" + r.last.ToString() : r.ToString();
        for (const auto& p : d.ports) cr.entries.push_back({text, r, false, p});
      }
    }
    if (!rule.app.is_null()) cr.app_dsts.push_back(star ? TailnetAddressSpace().Prefixes() : sets.dsts[k].Prefixes());
  }
  bool star_dst = std::any_of(rule.dsts.begin(), rule.dsts.end(),
                              [](const DstSpec& d) { return d.alias.kind == Alias::Kind::kStar; });
  if (star_dst && !rule.app.is_null()) {
    cr.app_back_srcs = StarStrings();
  } else {
    for (const auto& ranges : cr.app_dsts) {
      for (const auto& rg : ranges) cr.app_back_srcs.push_back(rg.ToString());
    }
  }
  const IpSet via_set = IpSet::FromRanges(cr.via_dsts);
  const bool dst_internet = cr.dst_all.Overlaps(InternetSet());
  // A via rule reaches only routers; any other reaches nodes by address or by route.
  if (rule.via.empty()) MarkAddressesIn(cr.dst_all, cr.dst_nodes);
  for (size_t i : routed_) {
    const Node& n = nodes_[i];
    bool hit = rule.via.empty()
                   ? n.subnet_routes.Overlaps(cr.dst_all) || (n.is_exit && dst_internet)
                   : HasViaTag(n, rule) && (n.subnet_routes.Overlaps(via_set) || (cr.via_internet && n.is_exit));
    if (hit) SetBit(cr.dst_nodes, i);
  }
  if (cr.has_self) {
    // Per user: their own devices among the sources, shared by all of that user's nodes.
    ForEachBit(src_by_addr, [&](size_t i) {
      const Node& n = nodes_[i];
      if (!n.tagged() && n.in.user) cr.self_srcs[n.in.user->id].AddSet(n.ip_set);
    });
  }
  return cr;
}

std::vector<std::string> CompiledPolicy::ApprovedRoutes(size_t node) const { return nodes_[node].approved; }

std::vector<uint64_t> CompiledPolicy::Peers(size_t node) const {
  std::vector<uint64_t> seen((nodes_.size() + 63) / 64, 0);
  const Node& me = nodes_[node];
  // A rule kept from an earlier compile has narrower bitsets: nodes that joined since are in none.
  auto add = [&](const std::vector<uint64_t>& bits) {
    for (size_t w = 0; w < std::min(seen.size(), bits.size()); ++w) seen[w] |= bits[w];
  };
  for (const auto& rp : rules_) {
    const CRule& r = *rp;
    bool in_src = TestBit(r.src_nodes, node);
    if (in_src) add(r.dst_nodes);
    if (TestBit(r.dst_nodes, node)) add(r.src_nodes);
    if (r.has_self && !me.tagged() && me.in.user) {
      // autogroup:self links a user's own devices when either one is a source.
      for (size_t i : NodesOfUser(me.in.user->id)) {
        if (in_src || TestBit(r.src_nodes, i)) SetBit(seen, i);
      }
    }
  }
  std::vector<uint64_t> out;
  ForEachBit(seen, [&](size_t i) {
    if (i != node) out.push_back(nodes_[i].in.id);
  });
  return out;
}

void CompiledPolicy::IndexAddresses() {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    for (const auto& ip : nodes_[i].ips) addr_index_.push_back({ip, i});
  }
  std::sort(addr_index_.begin(), addr_index_.end());
}

void CompiledPolicy::MarkAddressesIn(const IpSet& set, std::vector<uint64_t>& bits) const {
  for (const IpRange& r : set.Ranges()) {
    auto it = std::lower_bound(addr_index_.begin(), addr_index_.end(), r.first,
                               [](const std::pair<IpAddr, size_t>& e, const IpAddr& a) { return e.first < a; });
    for (; it != addr_index_.end() && !(r.last < it->first); ++it) SetBit(bits, it->second);
  }
}

}  // namespace keel::policy
