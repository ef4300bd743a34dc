#include "api/render.h"

#include <algorithm>

#include "api/api_keys.h"
#include "model/routes.h"
#include "tailnet/auth_key.h"

namespace keel::api {
namespace {

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
      {"id", IdJson(user.id)},
      {"name", user.name},
      {"createdAt", TimeJson(user.created)},
      {"displayName", user.display_name},
      {"email", user.email},
      {"providerId", user.provider_id},
      {"provider", user.provider},
      {"profilePicUrl", user.profile_pic_url},
  };
}

nlohmann::json PreAuthKeyJson(const model::PreAuthKey& key, const tailnet::Snapshot& snap,
                              const std::string& secret_text) {
  const model::User* user = snap.FindUser(key.user_id);
  return {
      {"user", user ? UserJson(*user) : nlohmann::json(nullptr)},
      {"id", IdJson(key.id)},
      {"key", secret_text.empty()
                  ? std::string(tailnet::kAuthKeyTextPrefix) + key.prefix + "-***"
                  : secret_text},
      {"reusable", key.reusable},
      {"ephemeral", key.ephemeral},
      {"used", key.used},
      {"expiration", TimeJson(key.expiration)},
      {"createdAt", TimeJson(key.created)},
      {"aclTags", key.tags},
  };
}

nlohmann::json NodeJson(const model::Node& node, const tailnet::Snapshot& snap,
                        const model::PreAuthKey* auth_key) {
  nlohmann::json ips = nlohmann::json::array();
  if (node.ipv4) ips.push_back(node.ipv4->to_string());
  if (node.ipv6) ips.push_back(node.ipv6->to_string());
  nlohmann::json user = nullptr;
  if (!node.tags.empty()) {
    model::User tagged;
    tagged.id = model::kTaggedDevicesUserId;
    tagged.name = std::string(model::kTaggedDevicesLogin);
    tagged.display_name = "Tagged Devices";
    user = UserJson(tagged);
  } else if (const model::User* owner = snap.FindUser(node.user_id)) {
    user = UserJson(*owner);
  }
  return {
      {"id", IdJson(node.id)},
      {"machineKey", node.machine_key.ToText()},
      {"nodeKey", node.node_key.ToText()},
      {"discoKey", node.disco_key.ToText()},
      {"ipAddresses", std::move(ips)},
      {"name", node.hostname},
      {"user", std::move(user)},
      {"lastSeen", TimeJson(node.last_seen)},
      {"expiry", TimeJson(node.expiry)},
      {"preAuthKey", auth_key ? PreAuthKeyJson(*auth_key, snap) : nlohmann::json(nullptr)},
      {"createdAt", TimeJson(node.created)},
      {"registerMethod", node.auth_key_id ? "REGISTER_METHOD_AUTH_KEY" : "REGISTER_METHOD_UNSPECIFIED"},
      {"givenName", node.given_name},
      {"online", node.online},
      {"approvedRoutes", ApprovedRoutes(node)},
      {"availableRoutes", node.announced_routes},
      {"subnetRoutes", ServingRoutes(node)},
      {"tags", node.tags},
  };
}

nlohmann::json ApiKeyJson(const model::ApiKey& key) {
  return {
      {"id", IdJson(key.id)},
      {"prefix", ApiKeys::MaskedPrefix(key)},
      {"expiration", TimeJson(key.expiration)},
      {"createdAt", TimeJson(key.created)},
      {"lastSeen", TimeJson(key.last_seen)},
  };
}

}  // namespace keel::api
