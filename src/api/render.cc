#include "api/render.h"

#include <algorithm>

#include "model/routes.h"

namespace keel::api {
namespace {

std::string UserName(const tailnet::Snapshot& snap, model::UserId id) {
  const model::User* user = snap.FindUser(id);
  return user ? user->name : "";
}

// What the admin approved and what the policy's autoApprovers approved, together.
std::vector<std::string> ApprovedRoutes(const model::Node& node) {
  std::vector<std::string> out = node.approved_routes;
  out.insert(out.end(), node.routes_in_effect.begin(), node.routes_in_effect.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// Headscale's "serving": the subnets the node is primary for, and its exit routes.
std::vector<std::string> ServingRoutes(const model::Node& node) {
  std::vector<std::string> out = node.primary_routes;
  for (const auto& r : node.routes_in_effect) {
    if (model::IsExitRoute(r)) out.push_back(r);
  }
  return out;
}

}  // namespace

nlohmann::json TimeJson(SystemTime t) {
  if (IsZeroTime(t)) return nullptr;
  return FormatTime(t);
}

nlohmann::json UserJson(const model::User& user) {
  return {
      {"id", user.id},
      {"name", user.name},
      {"display_name", user.display_name},
      {"email", user.email},
      {"created", TimeJson(user.created)},
  };
}

nlohmann::json PreAuthKeyJson(const model::PreAuthKey& key, const tailnet::Snapshot& snap,
                              SystemTime now) {
  bool expired = !IsZeroTime(key.expiration) && key.expiration <= now;
  return {
      {"id", key.id},
      {"prefix", key.prefix},
      {"user", UserName(snap, key.user_id)},
      {"reusable", key.reusable},
      {"ephemeral", key.ephemeral},
      {"used", key.used},
      {"expired", expired},
      {"expiration", TimeJson(key.expiration)},
      {"created", TimeJson(key.created)},
      {"tags", key.tags},
  };
}

nlohmann::json NodeJson(const model::Node& node, const tailnet::Snapshot& snap, SystemTime now) {
  nlohmann::json ips = nlohmann::json::array();
  if (node.ipv4) ips.push_back(node.ipv4->to_string());
  if (node.ipv6) ips.push_back(node.ipv6->to_string());
  return {
      {"id", node.id},
      {"name", node.given_name},
      {"given_name", node.given_name},
      {"hostname", node.hostname},
      {"user", node.tags.empty() ? UserName(snap, node.user_id) : std::string(model::kTaggedDevicesLogin)},
      {"ip_addresses", std::move(ips)},
      {"online", node.online},
      {"last_seen", TimeJson(node.last_seen)},
      {"expiry", TimeJson(node.expiry)},
      {"expired", node.IsExpired(now)},
      {"created", TimeJson(node.created)},
      {"machine_key", node.machine_key.ToText()},
      {"node_key", node.node_key.ToText()},
      {"disco_key", node.disco_key.ToText()},
      {"ephemeral", node.ephemeral},
      {"tags", node.tags},
      {"available_routes", node.announced_routes},
      {"approved_routes", ApprovedRoutes(node)},
      {"subnet_routes", ServingRoutes(node)},
  };
}

}  // namespace keel::api
