#include "control/map_builder.h"

#include <algorithm>
#include <iterator>
#include <set>

#include "model/routes.h"

namespace keel::control {
namespace {

using tailcfg::OJson;

// Direct lookups (rather than Snapshot's helpers) keep this file free of tailnet's code.
const model::Node* FindNode(const tailnet::Snapshot& snap, model::NodeId id) {
  auto it = snap.nodes.find(id);
  return it == snap.nodes.end() ? nullptr : it->second.get();
}

// The reverse zones of 100.64.0.0/10 and fd7a:115c:a1e0::/48 that MagicDNS answers; sent as
// empty route lists (null values get lost in the client's clones).
std::vector<std::string> ReverseZones() {
  std::vector<std::string> zones;
  for (int octet = 64; octet <= 127; ++octet) zones.push_back(std::to_string(octet) + ".100.in-addr.arpa");
  zones.push_back("0.e.1.a.c.5.1.1.a.7.d.f.ip6.arpa");
  return zones;
}

std::string JoinFragments(const std::vector<const std::string*>& parts) {
  size_t total = 2;
  for (const auto* p : parts) total += p->size() + 1;
  std::string out;
  out.reserve(total);
  out.push_back('[');
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out.push_back(',');
    out += *parts[i];
  }
  out.push_back(']');
  return out;
}

OJson Profiles(const tailnet::Snapshot& snap, const std::set<model::UserId>& ids) {
  OJson list = OJson::array();
  for (auto id : ids) {
    if (id == model::kTaggedDevicesUserId) {
      list.push_back(tailcfg::UserProfileJson(TaggedDevicesProfile()));
      continue;
    }
    auto it = snap.users.find(id);
    if (it != snap.users.end()) list.push_back(tailcfg::UserProfileJson(ToUserProfile(it->second)));
  }
  return list;
}

tailcfg::PeerChange PatchFor(const model::Node& n, uint8_t flags, SystemTime now) {
  tailcfg::PeerChange c;
  c.node_id = n.id;
  if (flags & PendingChanges::kPatched) {
    c.key = n.node_key;
    c.disco_key = n.disco_key;
    c.endpoints = n.endpoints;
    if (n.home_derp != 0) c.derp_region = n.home_derp;
    c.key_expiry = n.expiry;
  }
  if (flags & PendingChanges::kOnline) {
    c.online = n.online;
    if (!n.online) c.last_seen = IsZeroTime(n.last_seen) ? now : n.last_seen;
  }
  return c;
}

// The viewer's own node, with the capabilities its policy grants (the view's) merged into CapMap.
OJson SelfNodeJson(const model::Node& n, const MapInputs& in, const PeerView& view) {
  tailcfg::Node w = ToWireNode(n, in.config.base_domain, true, in.now);
  for (const auto& [k, v] : view.caps.items()) w.cap_map[k] = OJson(v);
  return tailcfg::NodeJson(w);
}

}  // namespace

tailcfg::DnsConfig MakeDnsConfig(const MapConfig& config) {
  const DnsSettings& s = config.dns;
  tailcfg::DnsConfig dns;
  (s.override_local_dns ? dns.resolvers : dns.fallback_resolvers) = s.nameservers;
  dns.routes = s.split;
  if (s.magic_dns && !config.base_domain.empty()) {
    dns.proxied = true;
    dns.domains.push_back(config.base_domain);
    for (auto& zone : ReverseZones()) dns.routes.try_emplace(std::move(zone));
  }
  for (const auto& d : s.search_domains) dns.domains.push_back(d);
  dns.extra_records = s.extra_records;
  return dns;
}

std::string RenderStaticFields(const MapConfig& config) {
  OJson j;
  j["DERPMap"] = OJson(config.derp_map);
  j["Domain"] = config.domain;
  j["CollectServices"] = false;
  j["Debug"] = OJson{{"DisableLogTail", true}};
  j["DNSConfig"] = tailcfg::DnsConfigJson(MakeDnsConfig(config));
  std::string text = j.dump();
  return text.substr(1, text.size() - 2);
}

std::string NodeFqdn(const std::string& given_name, const std::string& base_domain) {
  if (base_domain.empty()) return given_name;
  return given_name + "." + base_domain + ".";
}

tailcfg::Node ToWireNode(const model::Node& n, const std::string& base_domain, bool self,
                         SystemTime now) {
  tailcfg::Node w;
  w.id = n.id;
  w.name = NodeFqdn(n.given_name, base_domain);
  w.user = WireOwner(n);
  w.key = n.node_key;
  w.key_expiry = n.expiry;
  w.machine = n.machine_key;
  w.disco_key = n.disco_key;
  if (n.ipv4) w.addresses.push_back(tailcfg::HostPrefix(n.ipv4->to_string()));
  if (n.ipv6) w.addresses.push_back(tailcfg::HostPrefix(n.ipv6->to_string()));
  // Peers route through a node only what is in its AllowedIPs: the subnets it is primary for
  // and, as an exit node, the default routes (the client uses those only when chosen).
  w.allowed_ips = w.addresses;
  w.primary_routes = n.primary_routes;
  w.allowed_ips.insert(w.allowed_ips.end(), n.primary_routes.begin(), n.primary_routes.end());
  for (const auto& r : n.routes_in_effect) {
    if (model::IsExitRoute(r)) w.allowed_ips.push_back(r);
  }
  w.endpoints = n.endpoints;
  w.home_derp = n.home_derp;
  w.hostinfo_json = n.hostinfo_json;
  w.created = n.created;
  w.cap = n.cap_version;
  w.tags = n.tags;
  w.online = n.online;
  if (!n.online) w.last_seen = n.last_seen;
  w.machine_authorized = true;
  w.expired = n.IsExpired(now);
  if (self) w.cap_map = tailcfg::SelfCapMap();
  return w;
}

tailcfg::UserProfile ToUserProfile(const model::User& u) {
  return {u.id, u.email.empty() ? u.name : u.email, u.display_name.empty() ? u.name : u.display_name};
}

tailcfg::UserProfile TaggedDevicesProfile() {
  return {model::kTaggedDevicesUserId, std::string(model::kTaggedDevicesLogin), "Tagged Devices"};
}

model::UserId WireOwner(const model::Node& n) {
  return n.tags.empty() ? n.user_id : model::kTaggedDevicesUserId;
}

const std::string& PeerCache::Get(const model::Node& node, SystemTime now) {
  bool expired = node.IsExpired(now);
  auto [it, inserted] = entries_.try_emplace(node.id);
  Entry& e = it->second;
  if (inserted || e.version != node.version || e.online != node.online || e.expired != expired) {
    e.version = node.version;
    e.online = node.online;
    e.expired = expired;
    e.json = tailcfg::NodeJson(ToWireNode(node, base_domain_, /*self=*/false, now)).dump();
    ++renders_;
  }
  return e.json;
}

const std::string& PeerCache::Patch(const model::Node& node, uint8_t flags, SystemTime now) {
  auto [it, inserted] = patches_.try_emplace(node.id);
  PatchEntry& e = it->second;
  // Every change to a node bumps its version, so (version, flags) fixes the entry's content.
  if (inserted || e.version != node.version || e.flags != flags) {
    e.version = node.version;
    e.flags = flags;
    e.json = tailcfg::PeerChangeJson(PatchFor(node, flags, now)).dump();
  }
  return e.json;
}

void PendingChanges::Merge(const tailnet::Changes& changes) {
  for (const auto& c : changes) {
    using K = tailnet::ChangeKind;
    switch (c.kind) {
      case K::kFull: full_ = true; break;
      case K::kPolicy: policy_ = true; break;
      case K::kNodeAdded:
      case K::kNodeUpdated: nodes_[c.node] |= kChanged; break;
      case K::kNodePatched: nodes_[c.node] |= kPatched; break;
      case K::kNodeOnline:
      case K::kNodeOffline: nodes_[c.node] |= kOnline; break;
      case K::kNodeRemoved: nodes_[c.node] = kRemoved; break;
    }
  }
}

void AppendRawMember(std::string& object, std::string_view key, std::string_view raw) {
  std::string member = "\"" + std::string(key) + "\":" + std::string(raw);
  size_t close = object.rfind('}');
  bool empty = object.find_first_not_of(" \n\t{") == close;
  object.insert(close, empty ? member : "," + member);
}

bool PeerView::Visible(model::NodeId id) const {
  return !policy || std::binary_search(peers.begin(), peers.end(), id);
}

void ComputeView(const tailnet::Snapshot& snapshot, model::NodeId self, PeerView& view) {
  static const std::string kAllowAll = OJson{{"base", tailcfg::AllowAllFilterRules()}}.dump();
  view.initialized = true;
  ++view.computes;
  view.policy = snapshot.policy;
  view.peers.clear();
  view.ssh.clear();
  view.caps = nlohmann::json::object();
  if (!view.policy) {
    view.filters = kAllowAll;
    return;
  }
  auto idx = view.policy->IndexOf(self);
  if (!idx) {  // not compiled in (a failed recompile): see no one, accept nothing
    view.filters = R"({"base":[]})";
    return;
  }
  view.caps = view.policy->CapMap(*idx);
  for (uint64_t id : view.policy->Peers(*idx)) {
    if (id != self) view.peers.push_back(id);
  }
  std::sort(view.peers.begin(), view.peers.end());
  view.filters = nlohmann::json{{"base", view.policy->PacketFilter(*idx)}}.dump();
  nlohmann::json ssh = view.policy->SshPolicy(*idx);
  if (ssh.is_object() && ssh.contains("rules") && !ssh["rules"].empty()) view.ssh = ssh.dump();
}

namespace {

// Clients read an empty Peers as "no change", so a resent full map with no peers removes
// everything the viewer may still hold: `",\"PeersRemoved\":[...]"` or "".
std::string PeersRemovedMember(const MapInputs& in, const std::vector<model::NodeId>& old_peers) {
  std::set<model::NodeId> gone(old_peers.begin(), old_peers.end());
  for (const auto& [id, node] : in.snapshot.nodes) {
    if (id != in.self) gone.insert(id);
  }
  if (gone.empty()) return "";
  return ",\"PeersRemoved\":" + OJson(std::vector<model::NodeId>(gone.begin(), gone.end())).dump();
}

}  // namespace

Result<std::string> BuildFullMap(const MapInputs& in) {
  const model::Node* self = FindNode(in.snapshot, in.self);
  if (!self) return MakeError(Errc::kNotFound, "node " + std::to_string(in.self) + " is gone");
  PeerView local;
  PeerView& view = in.view ? *in.view : local;
  bool had_ssh = !view.ssh.empty();
  bool resend = view.initialized;
  std::vector<model::NodeId> old_peers = std::move(view.peers);  // ComputeView refills it
  ComputeView(in.snapshot, in.self, view);
  OJson head;
  head["ControlTime"] = FormatTime(in.now);
  head["Node"] = SelfNodeJson(*self, in, view);
  std::string out = head.dump();
  out.pop_back();
  out += "," + in.static_fields;
  out += ",\"PacketFilters\":" + view.filters;
  // Clients keep the last SSHPolicy when a map omits it: one the policy took away is sent empty.
  if (!view.ssh.empty()) {
    out += ",\"SSHPolicy\":" + view.ssh;
  } else if (had_ssh) {
    out += ",\"SSHPolicy\":{\"rules\":[]}";
  }
  std::set<model::UserId> users{WireOwner(*self)};
  std::vector<const std::string*> peers;
  auto add = [&](const model::Node& node) {
    users.insert(WireOwner(node));
    peers.push_back(&in.cache.Get(node, in.now));
  };
  if (view.policy) {
    peers.reserve(view.peers.size());
    for (model::NodeId id : view.peers) {
      if (const model::Node* node = FindNode(in.snapshot, id)) add(*node);
    }
  } else {
    peers.reserve(in.snapshot.nodes.size());
    for (const auto& [id, node] : in.snapshot.nodes) {
      if (id != in.self) add(*node);
    }
  }
  out += ",\"UserProfiles\":" + Profiles(in.snapshot, users).dump();
  if (!peers.empty()) {
    out += ",\"Peers\":" + JoinFragments(peers);
  } else if (resend) {
    out += PeersRemovedMember(in, old_peers);
  }
  out += "}";
  return out;
}

namespace {

// What a new policy, or a recompile, changed for the viewer since its last map.
struct ViewDiff {
  std::vector<model::NodeId> shown;   // newly visible: send in full
  std::set<model::NodeId> hidden;     // no longer visible: PeersRemoved
  bool filters = false;
  bool ssh = false;
  bool caps = false;  // the self node's CapMap
};

// Every node but the viewer: what a viewer sees without a policy.
std::vector<model::NodeId> Everyone(const MapInputs& in) {
  std::vector<model::NodeId> ids;
  ids.reserve(in.snapshot.nodes.size());
  for (const auto& [id, node] : in.snapshot.nodes) {
    if (id != in.self) ids.push_back(id);
  }
  return ids;
}

// Whether the view, computed from an earlier compile, is what the snapshot's compile gives.
bool StillCurrent(const MapInputs& in, const PeerView& view) {
  if (!view.initialized) return false;
  if (view.policy == in.snapshot.policy) return true;
  if (!view.policy || !in.snapshot.policy) return false;
  auto idx = in.snapshot.policy->IndexOf(in.self);
  return idx && in.snapshot.policy->ViewUnchangedSince(*idx, *view.policy);
}

ViewDiff UpdateView(const MapInputs& in, PeerView& view, PeerView& old) {
  ViewDiff diff;
  if (StillCurrent(in, view)) {
    view.policy = in.snapshot.policy;  // so the next compile compares against this one
    return diff;
  }
  old = std::move(view);
  ComputeView(in.snapshot, in.self, view);  // sets every field anew but the count
  if (!old.initialized) return diff;
  diff.filters = old.filters != view.filters;
  diff.ssh = old.ssh != view.ssh;
  diff.caps = old.caps != view.caps;
  if (!old.policy && !view.policy) return diff;
  // Without a policy the viewer was sent (or will be) every node; ids it never had are
  // ignored by the client in PeersRemoved, and nodes that joined meanwhile come as changes.
  const std::vector<model::NodeId> before = old.policy ? old.peers : Everyone(in);
  const std::vector<model::NodeId> after = view.policy ? view.peers : Everyone(in);
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(), std::back_inserter(diff.shown));
  std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                      std::inserter(diff.hidden, diff.hidden.end()));
  return diff;
}

}  // namespace

Delta BuildDelta(const MapInputs& in, const PendingChanges& pending) {
  Delta delta;
  PeerView local;
  PeerView& view = in.view ? *in.view : local;
  PeerView old;
  ViewDiff diff = UpdateView(in, view, old);
  const PeerView& before = old.initialized ? old : view;
  OJson head;
  // Whole seconds: the client only reads it for clock skew, and a change fanned out to every
  // session within a second then renders the same bytes for all (see SharedFrame).
  head["ControlTime"] = FormatTime(std::chrono::floor<std::chrono::seconds>(in.now));
  std::set<model::UserId> users;
  std::set<model::NodeId> full_ids(diff.shown.begin(), diff.shown.end());
  std::set<model::NodeId> removed = std::move(diff.hidden);
  std::vector<const std::string*> patches;
  if (diff.caps) {
    if (const model::Node* self = FindNode(in.snapshot, in.self)) {
      head["Node"] = SelfNodeJson(*self, in, view);
      users.insert(WireOwner(*self));
    }
  }
  for (const auto& [id, flags] : pending.nodes()) {
    const model::Node* node = FindNode(in.snapshot, id);
    if (id == in.self) {
      if (!node || (flags & PendingChanges::kRemoved)) {
        delta.self_removed = true;
        return delta;
      }
      if (flags & (PendingChanges::kChanged | PendingChanges::kPatched)) {
        head["Node"] = SelfNodeJson(*node, in, view);
        users.insert(WireOwner(*node));
      }
      continue;
    }
    if (!node || (flags & PendingChanges::kRemoved)) {
      if (!node && before.Visible(id)) removed.insert(id);
      continue;
    }
    if (!view.Visible(id) || full_ids.contains(id)) continue;
    if (flags & PendingChanges::kChanged) {
      full_ids.insert(id);
    } else {
      patches.push_back(&in.cache.Patch(*node, flags, in.now));
    }
  }
  std::vector<const std::string*> changed;
  for (model::NodeId id : full_ids) {
    if (const model::Node* node = FindNode(in.snapshot, id)) {
      changed.push_back(&in.cache.Get(*node, in.now));
      users.insert(WireOwner(*node));
    }
  }
  if (!head.contains("Node") && changed.empty() && removed.empty() && patches.empty() &&
      !diff.filters && !diff.ssh) {
    return delta;
  }
  if (!removed.empty()) head["PeersRemoved"] = OJson(std::vector<model::NodeId>(removed.begin(), removed.end()));
  if (!users.empty()) head["UserProfiles"] = Profiles(in.snapshot, users);
  delta.json = head.dump();
  if (!changed.empty()) AppendRawMember(delta.json, "PeersChanged", JoinFragments(changed));
  if (!patches.empty()) AppendRawMember(delta.json, "PeersChangedPatch", JoinFragments(patches));
  if (diff.filters) AppendRawMember(delta.json, "PacketFilters", view.filters);
  // An empty rules list clears a previously sent SSH policy.
  if (diff.ssh) AppendRawMember(delta.json, "SSHPolicy", view.ssh.empty() ? R"({"rules":[]})" : view.ssh);
  return delta;
}

}  // namespace keel::control
