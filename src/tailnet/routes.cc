// Tailnet: which announced routes are in effect and which router is primary for each prefix.
//
// A route is in effect when the node announces it (Hostinfo.RoutableIPs) and it is approved,
// by the admin or by the policy's autoApprovers. Exit routes are served by every node that has
// them in effect; the client picks one. A subnet prefix announced by several routers (HA) is
// served by one primary among the online ones. The primary keeps the prefix while it stays
// online and answers the HA prober, so a router that comes back does not take it back (no
// flapping); when it drops or stops answering, the lowest-id online router that answers takes
// over, and peers see it at once through kNodeUpdated. When no router of a prefix answers,
// the primary keeps it: pointing peers at another silent router would not help them.

#include <map>

#include "model/routes.h"
#include "tailnet/tailnet_impl.h"

namespace keel::tailnet {
namespace {

// Whether the draft changed anything UpdateRoutes reads.
bool TouchesRoutes(const Snapshot& cur, const Draft& d) {
  if (d.next->policy != cur.policy) return true;  // autoApprovers may approve differently
  for (const auto& c : d.changes) {
    if (c.kind == ChangeKind::kFull || cur.routers.contains(c.node) ||
        d.next->routers.contains(c.node)) {
      return true;
    }
  }
  return false;
}

std::vector<std::string> InEffect(const Snapshot& s, const model::Node& n) {
  if (s.policy) {
    if (auto idx = s.policy->IndexOf(n.id)) {
      // The compile approves only announced routes: the admin's and those autoApprovers allow.
      auto approved = model::CanonicalRouteList(s.policy->ApprovedRoutes(*idx));
      if (approved) return model::IntersectRoutes(n.announced_routes, *approved);
    }
  }
  // No policy, or one compiled before this node joined (a coalesced recompile is due).
  return model::IntersectRoutes(n.announced_routes, n.approved_routes);
}

}  // namespace

void Tailnet::Impl::UpdateRoutes(Draft& d) {
  auto cur = Current();
  if (!TouchesRoutes(*cur, d)) return;
  Snapshot& next = *d.next;
  std::map<model::NodeId, std::vector<std::string>> effect;
  // Subnet prefix -> the online routers serving it (ascending id) and the current primary.
  struct Candidates {
    std::vector<model::NodeId> online;
    model::NodeId primary = 0;
    model::NodeId first_healthy = 0;
  };
  std::map<std::string, Candidates> prefixes;
  for (model::NodeId id : next.routers) {
    const model::Node* n = next.FindNode(id);
    if (n == nullptr) continue;
    auto routes = InEffect(next, *n);
    for (const auto& r : routes) {
      if (model::IsExitRoute(r) || !n->online) continue;
      Candidates& c = prefixes[r];
      c.online.push_back(id);
      if (std::binary_search(n->primary_routes.begin(), n->primary_routes.end(), r)) c.primary = id;
      if (c.first_healthy == 0 && !n->unhealthy) c.first_healthy = id;
    }
    effect[id] = std::move(routes);
  }
  std::map<model::NodeId, std::vector<std::string>> primaries;
  for (auto& [prefix, c] : prefixes) {
    model::NodeId chosen = c.first_healthy != 0 ? c.first_healthy : c.online.front();
    if (c.primary != 0) {
      bool primary_healthy = !next.FindNode(c.primary)->unhealthy;
      if (primary_healthy || c.first_healthy == 0) chosen = c.primary;
    }
    primaries[chosen].push_back(prefix);  // prefixes come in order, so each list is sorted
  }
  std::vector<model::NodeId> routers(next.routers.begin(), next.routers.end());
  for (model::NodeId id : routers) {
    const model::Node* n = next.FindNode(id);
    if (n == nullptr) continue;
    const auto& routes = effect[id];
    const auto& primary = primaries[id];
    if (routes == n->routes_in_effect && primary == n->primary_routes) continue;
    for (const auto& p : primary) {
      if (!std::binary_search(n->primary_routes.begin(), n->primary_routes.end(), p)) {
        log->info("route {}: node {} ({}) is now the primary router", p, id, n->given_name);
      }
    }
    model::Node changed = *n;
    changed.routes_in_effect = routes;
    changed.primary_routes = primary;
    PutNode(d, std::move(changed), ChangeKind::kNodeUpdated);
  }
}

}  // namespace keel::tailnet
