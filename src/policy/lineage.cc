// Which nodes a Recompile touched, so sessions recompute only those (see compiler.h).
//
// A node's outputs are PacketFilter, Peers, SSHPolicy and CapMap. Between two compiles of the
// same policy with the same users they can change only through:
//  - the node itself (addresses, owner, tags, routes);
//  - a rule whose sources changed: its destinations (their filters list the sources, their
//    peers include them) and the nodes that became or stopped being sources;
//  - a rule whose destinations changed: its sources (peers) and destinations (filters);
//  - autogroup:self and localpart: the devices of a user whose own devices among a rule's
//    sources changed, or who gained or lost a device;
//  - an ssh entry whose sources changed: its destinations.
#include <algorithm>
#include <iterator>
#include <map>
#include <set>

#include "policy/compiler_internal.h"

namespace keel::policy {
namespace {

using Node = CompiledPolicy::Node;

std::optional<uint64_t> OwnerOf(const Node& n) {
  if (n.tagged() || !n.in.user) return std::nullopt;
  return n.in.user->id;
}

bool SameEntries(const std::vector<CompiledPolicy::Entry>& a, const std::vector<CompiledPolicy::Entry>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
    return x.ip == y.ip && x.star == y.star && x.ports == y.ports;
  });
}

// Users whose value differs between two per-user maps (present in one only counts).
template <class Map>
void DifferingKeys(const Map& a, const Map& b, std::set<uint64_t>& out) {
  for (const auto& [uid, v] : a) {
    auto it = b.find(uid);
    if (it == b.end() || !(it->second == v)) out.insert(uid);
  }
  for (const auto& [uid, v] : b) {
    if (!a.contains(uid)) out.insert(uid);
  }
}

}  // namespace

void CompiledPolicy::NoteChanges(const CompiledPolicy& prev) {
  changed_.assign((nodes_.size() + 63) / 64, 0);
  size_t kept = 0;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    auto p = prev.IndexOf(nodes_[i].in.id);
    if (p) ++kept;
    if (!p || prev.nodes_[*p].in != nodes_[i].in) SetBit(changed_, i);
  }
  removed_ = kept < prev.nodes_.size();
}

bool CompiledPolicy::CanKeepRules(const CompiledPolicy& prev) const {
  if (removed_ || prev.users_ != users_) return false;
  if (prev.routed_ != routed_ || prev.subnet_route_strings_ != subnet_route_strings_) return false;
  // Kept rules index nodes by position: every node of prev must be where it was.
  for (size_t i = 0; i < prev.nodes_.size(); ++i) {
    if (prev.nodes_[i].in.id != nodes_[i].in.id) return false;
  }
  auto routed = [](const Node& n) { return n.is_exit || !n.subnet_routes.Empty(); };
  bool routes_changed = false;
  ForEachBit(changed_, [&](size_t i) {
    bool was_routed = i < prev.nodes_.size() && routed(prev.nodes_[i]);
    routes_changed = routes_changed || was_routed || routed(nodes_[i]);
  });
  return !routes_changed;
}

// With indexes stable and no routes changed, a rule compiles from its address sets and from
// which nodes hold addresses in them; nodes that did not change hold the same addresses. So the
// rule is kept when its sets are equal and no changed node was or is in them.
bool CompiledPolicy::Reusable(const CRule& old, const RuleSets& sets) const {
  if (!(old.src == sets.src && old.src_nodes_only == sets.src_nodes_only && old.dst_all == sets.dst_all &&
        old.via_dsts == sets.via_dsts && old.via_internet == sets.via_internet)) {
    return false;
  }
  bool touched = false;
  ForEachBit(changed_, [&](size_t i) {
    touched = touched || TestBit(old.src_nodes, i) || TestBit(old.dst_nodes, i) ||
              nodes_[i].ip_set.Overlaps(sets.src) || nodes_[i].ip_set.Overlaps(sets.dst_all);
  });
  return !touched;
}

bool CompiledPolicy::ViewUnchangedSince(size_t node, const CompiledPolicy& earlier) const {
  if (&earlier == this) return true;
  if (std::find(ancestors_.begin(), ancestors_.end(), earlier.generation_) == ancestors_.end()) return false;
  return touched_at_[node] <= earlier.generation_;
}

size_t CompiledPolicy::TouchedCount() const {
  return static_cast<size_t>(std::count(touched_at_.begin(), touched_at_.end(), generation_));
}

void CompiledPolicy::ContinueLine(const CompiledPolicy& prev) {
  ancestors_ = prev.ancestors_;
  ancestors_.push_back(prev.generation_);
  if (ancestors_.size() > kRememberedAncestors) ancestors_.erase(ancestors_.begin());
  touched_at_.assign(nodes_.size(), generation_);
  // Renamed users may resolve every name differently.
  if (prev.users_ != users_) return;

  std::vector<uint64_t> touched = changed_;
  std::set<uint64_t> owners;  // users all of whose devices are touched
  auto touch_id = [&](uint64_t id) {
    if (auto i = IndexOf(id)) SetBit(touched, *i);
  };
  auto ids = [](const CompiledPolicy& cp, const std::vector<uint64_t>& bits) {
    std::vector<uint64_t> out;
    ForEachBit(bits, [&](size_t i) { out.push_back(cp.nodes_[i].in.id); });
    std::sort(out.begin(), out.end());
    return out;
  };
  auto touch_all = [&](const std::vector<uint64_t>& sorted_ids) {
    for (uint64_t id : sorted_ids) touch_id(id);
  };
  auto touch_changed = [&](const std::vector<uint64_t>& before, const std::vector<uint64_t>& after) {
    std::vector<uint64_t> diff;
    std::set_symmetric_difference(before.begin(), before.end(), after.begin(), after.end(), std::back_inserter(diff));
    touch_all(diff);
  };
  // Per owner, the ids of their devices among `bits`.
  auto by_owner = [](const CompiledPolicy& cp, const std::vector<uint64_t>& bits) {
    std::map<uint64_t, std::vector<uint64_t>> out;
    ForEachBit(bits, [&](size_t i) {
      if (auto uid = OwnerOf(cp.nodes_[i])) out[*uid].push_back(cp.nodes_[i].in.id);
    });
    return out;
  };

  ForEachBit(changed_, [&](size_t i) {
    if (auto uid = OwnerOf(nodes_[i])) owners.insert(*uid);
    if (auto p = prev.IndexOf(nodes_[i].in.id)) {
      if (auto uid = OwnerOf(prev.nodes_[*p])) owners.insert(*uid);
    }
  });
  if (removed_) {
    for (const Node& n : prev.nodes_) {
      if (IndexOf(n.in.id)) continue;
      if (auto uid = OwnerOf(n)) owners.insert(*uid);
    }
  }

  for (size_t r = 0; r < rules_.size(); ++r) {
    if (rules_[r] == prev.rules_[r]) continue;  // kept as it was
    const CRule& a = *prev.rules_[r];
    const CRule& b = *rules_[r];
    std::vector<uint64_t> src_before = ids(prev, a.src_nodes), src_after = ids(*this, b.src_nodes);
    std::vector<uint64_t> dst_before = ids(prev, a.dst_nodes), dst_after = ids(*this, b.dst_nodes);
    bool src_changed = src_before != src_after || a.src != b.src || a.src_strings != b.src_strings ||
                       a.src_nodes_only != b.src_nodes_only;
    bool dst_changed = dst_before != dst_after || !SameEntries(a.entries, b.entries) || a.via_dsts != b.via_dsts ||
                       a.app_dsts != b.app_dsts || a.app_back_srcs != b.app_back_srcs;
    if (src_changed || dst_changed) {
      touch_all(dst_before);
      touch_all(dst_after);
    }
    // Sources see destinations; grant companions flow back to every source.
    if (dst_changed || (src_changed && !b.rule->app.is_null())) {
      touch_all(src_before);
      touch_all(src_after);
    } else if (src_changed) {
      touch_changed(src_before, src_after);
    }
    if (b.has_self) {
      DifferingKeys(by_owner(prev, a.src_nodes), by_owner(*this, b.src_nodes), owners);
      DifferingKeys(a.self_srcs, b.self_srcs, owners);
    }
  }

  for (size_t k = 0; k < ssh_rules_.size(); ++k) {
    const CSshRule& a = prev.ssh_rules_[k];
    const CSshRule& b = ssh_rules_[k];
    if (a.src == b.src && a.by_user == b.by_user && a.tagged == b.tagged && a.localparts == b.localparts) continue;
    for (const Alias& d : b.rule->dsts) {
      if (d.Is("autogroup:self")) continue;
      touch_all(ids(prev, prev.AliasBits(d)));
      touch_all(ids(*this, AliasBits(d)));
    }
    // autogroup:self and localpart rules list a user's own devices among the sources, and
    // localpart rules go to every source.
    DifferingKeys(a.by_user, b.by_user, owners);
    std::vector<uint64_t> before((prev.nodes_.size() + 63) / 64, 0), after(touched.size(), 0);
    prev.MarkAddressesIn(a.src, before);
    MarkAddressesIn(b.src, after);
    touch_changed(ids(prev, before), ids(*this, after));
  }

  for (uint64_t uid : owners) {
    for (size_t i : NodesOfUser(uid)) SetBit(touched, i);
  }
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (!TestBit(touched, i)) touched_at_[i] = prev.touched_at_[*prev.IndexOf(nodes_[i].in.id)];
  }
}

}  // namespace keel::policy
