// Per-node PacketFilter: the compiled rules reduced to the entries that name this node.
#include <algorithm>
#include <map>
#include <optional>

#include "policy/compiler_internal.h"

namespace keel::policy {

using nlohmann::json;

namespace {

json PortsJson(const PortRange& p) { return {{"First", p.first}, {"Last", p.last}}; }

json RuleJson(const std::vector<std::string>& srcs, json dsts, const std::vector<int>& protos) {
  json r = {{"SrcIPs", srcs}, {"DstPorts", std::move(dsts)}};
  if (!protos.empty()) r["IPProto"] = protos;
  return r;
}

std::string HostPrefix(const IpAddr& ip) { return ip.ToString() + "/" + std::to_string(ip.Bits()); }

const std::map<std::string, std::string>& Companions() {
  static const std::map<std::string, std::string> kMap = {
      {"tailscale.com/cap/drive", "tailscale.com/cap/drive-sharer"},
      {"tailscale.com/cap/relay", "tailscale.com/cap/relay-target"}};
  return kMap;
}

}  // namespace

nlohmann::json CompiledPolicy::PacketFilter(size_t node) const {
  const Node& n = nodes_[node];
  json out = json::array();
  if (!policy_->has_rules) {
    out.push_back(RuleJson({"*"}, json::array({{{"IP", "*"}, {"Ports", PortsJson({})}}}), {}));
    return out;
  }
  std::map<size_t, std::vector<size_t>> kept;  // rule -> entries, in rule order
  for (const auto& ip : n.ips) {
    auto it = by_addr_.find(ip.ToString());
    if (it == by_addr_.end()) continue;
    for (auto [r, e] : it->second) kept[r].push_back(e);
  }
  for (auto [r, e] : wide_entries_) {
    const Entry& en = rules_[r]->entries[e];
    bool keep = en.star || n.ip_set.Overlaps(en.range) || n.subnet_routes.Overlaps(en.range) ||
                (n.is_exit && InternetSet().ContainsRange(en.range));
    if (keep) kept[r].push_back(e);
  }
  // (position, rule): a plain rule sits where its source group starts and takes in the
  // destinations of later rules of the group; the special parts stay at their own rule.
  std::vector<std::pair<size_t, json>> placed;
  std::map<size_t, size_t> group_at;  // group -> index in `placed`
  bool self_placed = false;
  // A DstPorts rule already placed with these sources and protocols, if any: autogroup:self
  // parts join rules whose sources read the same, as Tailscale merges them.
  auto same_sources = [&](const json& rule) -> json* {
    for (auto& [pos, j] : placed) {
      bool same = j.contains("DstPorts") && j["SrcIPs"] == rule["SrcIPs"] &&
                  j.value("IPProto", json()) == rule.value("IPProto", json());
      if (same) return &j;
    }
    return nullptr;
  };
  auto merge_into = [](json& to, json& from) {
    for (auto& d : from["DstPorts"]) to["DstPorts"].push_back(std::move(d));
  };
  for (size_t r = 0; r < rules_.size(); ++r) {
    const CRule& cr = *rules_[r];
    const Rule& rule = *cr.rule;
    if (cr.src_strings.empty() && rule.app.is_null()) continue;
    if (rule.app.is_null() && rule.via.empty()) {
      if (auto it = kept.find(r); it != kept.end()) {
        std::sort(it->second.begin(), it->second.end());
        json dsts = json::array();
        for (size_t e : it->second) {
          dsts.push_back({{"IP", cr.entries[e].ip}, {"Ports", PortsJson(cr.entries[e].ports)}});
        }
        json j = RuleJson(cr.src_strings, std::move(dsts), rule.protos);
        size_t group = rule_group_[r];
        if (auto g = group_at.find(group); g != group_at.end()) {
          merge_into(placed[g->second].second, j);
        } else if (json* same = self_placed ? same_sources(j) : nullptr) {
          merge_into(*same, j);
        } else {
          group_at[group] = placed.size();
          placed.emplace_back(group, std::move(j));
        }
      }
    }
    if (std::optional<json> self = SelfRule(node, r)) {
      if (json* same = same_sources(*self)) {
        merge_into(*same, *self);
      } else {
        placed.emplace_back(r, std::move(*self));
        self_placed = true;
      }
    }
    json special = json::array();
    AppendSpecial(node, r, special);
    for (auto& j : special) placed.emplace_back(r, std::move(j));
  }
  std::stable_sort(placed.begin(), placed.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [pos, j] : placed) out.push_back(std::move(j));
  return out;
}

// The plain autogroup:self part of rule r for the node: from the user's own devices among
// the sources to this node's addresses.
std::optional<json> CompiledPolicy::SelfRule(size_t node, size_t r) const {
  const Node& n = nodes_[node];
  const CRule& cr = *rules_[r];
  if (!cr.has_self || !cr.rule->app.is_null() || n.tagged() || !n.in.user) return std::nullopt;
  auto it = cr.self_srcs.find(n.in.user->id);
  if (it == cr.self_srcs.end() || it->second.Empty()) return std::nullopt;
  json dsts = json::array();
  for (const auto& ip : n.ips) {  // address-major, as Tailscale orders DstPorts
    for (const auto& p : cr.self_ports) dsts.push_back({{"IP", ip.ToString()}, {"Ports", PortsJson(p)}});
  }
  return RuleJson(it->second.Strings(), std::move(dsts), cr.rule->protos);
}

// The autogroup:self grant, via and app (CapGrant) parts of rule r for the node.
void CompiledPolicy::AppendSpecial(size_t node, size_t r, json& out) const {
  const Node& n = nodes_[node];
  const CRule& cr = *rules_[r];
  const Rule& rule = *cr.rule;
  if (cr.has_self && !n.tagged() && n.in.user) {
    static const IpSet kNone;
    auto it = cr.self_srcs.find(n.in.user->id);
    const IpSet& srcs = it == cr.self_srcs.end() ? kNone : it->second;
    if (!srcs.Empty() && !rule.app.is_null()) {  // the plain part is SelfRule's
      json d = json::array();
      for (const auto& ip : n.ips) d.push_back(HostPrefix(ip));
      out.push_back({{"SrcIPs", srcs.Strings()}, {"CapGrant", json::array({{{"Dsts", d}, {"CapMap", rule.app}}})}});
    }
    if (!rule.app.is_null() && srcs.Overlaps(n.ip_set)) {
      // Companions of a self grant flow from all of the user's devices back to this one.
      IpSet mine;
      for (size_t i : NodesOfUser(n.in.user->id)) mine.AddSet(nodes_[i].ip_set);
      AppendCompanions(n, rule.app, mine.Strings(), srcs, out);
    }
  }
  if (!rule.via.empty()) {
    if (!HasViaTag(n, rule) || rule.dsts.empty()) return;
    std::vector<std::string> prefixes;
    for (const auto& d : cr.via_dsts) {
      if (n.subnet_routes.Overlaps(d)) prefixes.push_back(d.CidrString());
    }
    if (cr.via_internet && n.is_exit) {
      static const std::vector<std::string> kInternet = InternetSet().PrefixStrings();
      prefixes.insert(prefixes.end(), kInternet.begin(), kInternet.end());
    }
    if (prefixes.empty() || rule.app.is_object()) return;
    json dsts = json::array();
    for (const auto& p : prefixes) {
      for (const auto& port : rule.dsts.front().ports) dsts.push_back({{"IP", p}, {"Ports", PortsJson(port)}});
    }
    out.push_back(RuleJson(cr.src_strings, std::move(dsts), rule.protos));
    return;
  }
  if (rule.app.is_null()) return;
  json grants = json::array();
  for (const auto& ranges : cr.app_dsts) {
    std::vector<std::string> dsts;
    for (const auto& rg : ranges) {
      if (rg.first == rg.last) {
        if (n.ip_set.Contains(rg.first)) dsts.push_back(HostPrefix(rg.first));
      } else {
        for (const auto& ip : n.ips) {
          if (rg.Contains(ip)) dsts.push_back(HostPrefix(ip));
        }
      }
      if (n.subnet_routes.Overlaps(rg)) dsts.push_back(rg.CidrString());
    }
    std::sort(dsts.begin(), dsts.end());
    dsts.erase(std::unique(dsts.begin(), dsts.end()), dsts.end());
    if (!dsts.empty()) grants.push_back({{"Dsts", dsts}, {"CapMap", rule.app}});
  }
  if (!grants.empty()) out.push_back({{"SrcIPs", cr.src_strings}, {"CapGrant", grants}});
  // Companion capabilities flow back from destination to source (e.g. drive-sharer).
  if (!cr.app_back_srcs.empty()) AppendCompanions(n, rule.app, cr.app_back_srcs, cr.src_nodes_only, out);
}

// One reversed rule per companion capability the grant carries, reduced to the node: its
// addresses within `dsts`, and `dsts` ranges its subnet routes overlap.
void CompiledPolicy::AppendCompanions(const Node& n, const json& app, const std::vector<std::string>& srcs,
                                      const IpSet& dsts, json& out) const {
  std::vector<std::string> d;
  for (const auto& ip : n.ips) {
    if (dsts.Contains(ip)) d.push_back(HostPrefix(ip));
  }
  for (const auto& rg : dsts.Ranges()) {
    if (n.subnet_routes.Overlaps(rg)) d.push_back(rg.ToString());
  }
  if (d.empty()) return;
  for (const auto& [cap, companion] : Companions()) {
    if (!app.contains(cap)) continue;
    out.push_back({{"SrcIPs", srcs}, {"CapGrant", json::array({{{"Dsts", d}, {"CapMap", {{companion, nullptr}}}}})}});
  }
}

}  // namespace keel::policy
