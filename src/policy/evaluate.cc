// CapMap from nodeAttrs, and the `tests` assertions evaluated against the compiled filters.
#include <algorithm>

#include "policy/compiler_internal.h"

namespace keel::policy {

using nlohmann::json;

nlohmann::json CompiledPolicy::CapMap(size_t node) const {
  const size_t identity = nodes_[node].identity;
  if (!cap_map_by_ip_) {
    std::lock_guard lock(cache_mu_);
    if (auto it = cap_cache_.find(identity); it != cap_cache_.end()) return it->second;
  }
  json caps = json::object();
  if (policy_->randomize_client_port) caps["randomize-client-port"] = nullptr;
  for (const NodeAttr& na : policy_->node_attrs) {
    bool hit = std::any_of(na.targets.begin(), na.targets.end(), [&](const Alias& a) { return NodeIn(node, a); });
    if (!hit) continue;
    for (const auto& attr : na.attrs) {
      if (!caps.contains(attr)) caps[attr] = nullptr;
      if (attr == "funnel") {
        caps["https://tailscale.com/cap/funnel-ports?ports=443,8443,10000"] = nullptr;
        caps["https://tailscale.com/cap/warn-funnel-no-https"] = nullptr;
      }
    }
    if (na.app.is_object()) {
      for (const auto& [k, v] : na.app.items()) caps[k] = v;
    }
  }
  if (!cap_map_by_ip_) {
    std::lock_guard lock(cache_mu_);
    cap_cache_.emplace(identity, caps);
  }
  return caps;
}

namespace {

// A rule without protocols lets through TCP, UDP and ICMP (the client's default).
bool InDefaultProtos(int proto) { return proto == 6 || proto == 17 || proto == 1; }

// ICMP has no ports: a test of it names port 0, and any rule's ports admit it.
bool PortsAdmit(int proto, int port, int first, int last) {
  return proto == 1 || (first <= port && port <= last);
}

bool FilterAllows(const json& rules, const IpAddr& src, const IpAddr& dst, int port, int proto) {
  for (const auto& r : rules) {
    if (!r.contains("DstPorts")) continue;
    if (r.contains("IPProto")) {
      auto p = r["IPProto"].get<std::vector<int>>();
      if (std::find(p.begin(), p.end(), proto) == p.end()) continue;
    } else if (!InDefaultProtos(proto)) {
      continue;
    }
    bool src_ok = false;
    for (const auto& s : r["SrcIPs"]) {
      auto rg = ParseIpRange(s.get<std::string>());
      src_ok |= s == "*" || (rg && rg->Contains(src));
    }
    if (!src_ok) continue;
    for (const auto& d : r["DstPorts"]) {
      auto rg = ParseIpRange(d["IP"].get<std::string>());
      bool ip_ok = d["IP"] == "*" || (rg && rg->Contains(dst));
      if (ip_ok && PortsAdmit(proto, port, d["Ports"]["First"].get<int>(), d["Ports"]["Last"].get<int>())) {
        return true;
      }
    }
  }
  return false;
}

Error Expected(const PolicyTest& t, const std::string& dst, bool accept) {
  return MakeError(Errc::kInvalidArgument, "policy: tests: " + t.src.name + " -> " + dst +
                                               ": expected " + (accept ? "accept" : "deny"));
}

}  // namespace

bool CompiledPolicy::RulesAllow(const IpAddr& src, const IpAddr& dst, int port, int proto) const {
  for (const auto& r : rules_) {
    const auto& protos = r->rule->protos;
    bool proto_ok = protos.empty() ? InDefaultProtos(proto)
                                   : std::find(protos.begin(), protos.end(), proto) != protos.end();
    if (!proto_ok || !r->src.Contains(src)) continue;
    for (const Entry& e : r->entries) {
      if ((e.star || e.range.Contains(dst)) && PortsAdmit(proto, port, e.ports.first, e.ports.last)) {
        return true;
      }
    }
  }
  return false;
}

// autogroup:self in a test means the source's own devices: the untagged nodes of every user
// that owns an untagged source node.
std::vector<size_t> CompiledPolicy::SelfTargets(const Alias& src) const {
  std::vector<uint64_t> owners;
  for (size_t i : NodesIn(src)) {
    if (!nodes_[i].tagged() && nodes_[i].in.user) owners.push_back(nodes_[i].in.user->id);
  }
  std::vector<size_t> out;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node& n = nodes_[i];
    if (!n.tagged() && n.in.user && std::find(owners.begin(), owners.end(), n.in.user->id) != owners.end()) {
      out.push_back(i);
    }
  }
  return out;
}

Result<void> CompiledPolicy::RunTests() const {
  for (const PolicyTest& t : policy_->tests) {
    int proto = t.proto == "udp" || t.proto == "17"    ? 17
                : t.proto == "sctp" || t.proto == "132" ? 132
                : t.proto == "icmp" || t.proto == "1"   ? 1
                                                        : 6;
    std::vector<IpAddr> srcs;
    if (t.src.kind == Alias::Kind::kPrefix || t.src.kind == Alias::Kind::kHost) {
      srcs.push_back(t.src.range.first);
    } else {
      for (size_t i : NodesIn(t.src)) srcs.insert(srcs.end(), nodes_[i].ips.begin(), nodes_[i].ips.end());
    }
    for (const auto* list : {&t.accept, &t.deny}) {
      bool want = list == &t.accept;
      for (const auto& d : *list) {
        size_t colon = d.rfind(':');
        Alias a = *ParsePolicyAlias(*policy_, d.substr(0, colon));
        int port = std::stoi(d.substr(colon + 1));
        std::vector<std::pair<json, IpAddr>> targets;
        if (a.kind == Alias::Kind::kPrefix || a.kind == Alias::Kind::kHost) {
          // An address is judged by the rules as written, whether or not a node or route holds
          // it (a host outside the tailnet too), and by what the nodes' filters let through
          // (autogroup:self, via routes).
          bool by_rules = std::any_of(srcs.begin(), srcs.end(), [&](const IpAddr& s) {
            return RulesAllow(s, a.range.first, port, proto);
          });
          if (by_rules && want) continue;
          if (by_rules) return Expected(t, d, want);
          json all = json::array();
          for (size_t i = 0; i < nodes_.size(); ++i) {
            for (auto& r : PacketFilter(i)) all.push_back(r);
          }
          targets.push_back({all, a.range.first});
        } else {
          for (size_t i : a.Is("autogroup:self") ? SelfTargets(t.src) : NodesIn(a)) {
            json f = PacketFilter(i);
            for (const auto& ip : nodes_[i].ips) targets.push_back({f, ip});
          }
        }
        bool allowed = !targets.empty() && !srcs.empty();
        for (const auto& [f, ip] : targets) {
          bool any = std::any_of(srcs.begin(), srcs.end(), [&](const IpAddr& s) {
            return s.v6 == ip.v6 && FilterAllows(f, s, ip, port, proto);
          });
          allowed = allowed && any;
        }
        if (allowed != want) return Expected(t, d, want);
      }
    }
  }
  return {};
}

}  // namespace keel::policy
