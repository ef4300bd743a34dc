#pragma once
// JSON forms of users, pre-auth keys, nodes and API keys, in Headscale 0.29's REST shapes
// (its protobuf messages as grpc-gateway writes them): lowerCamelCase names, ids as decimal
// strings, times RFC 3339 in UTC or null when unset, every field present. The CLI prints the
// same forms. Pure functions; any thread.

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "model/types.h"
#include "tailnet/snapshot.h"

namespace keel::api {

// {id, name, createdAt, displayName, email, providerId, provider, profilePicUrl}
nlohmann::json UserJson(const model::User& user);

// {user, id, key, reusable, ephemeral, used, expiration, createdAt, aclTags}; `key` is the
// masked "keel-auth-<prefix>-***" unless `secret_text` (the whole key, shown once) is given.
nlohmann::json PreAuthKeyJson(const model::PreAuthKey& key, const tailnet::Snapshot& snap,
                              const std::string& secret_text = "");

// {id, machineKey, nodeKey, discoKey, ipAddresses, name (the client's hostname), user,
//  lastSeen, expiry, preAuthKey, createdAt, registerMethod, givenName (the MagicDNS label),
//  online, approvedRoutes (by the admin or autoApprovers), availableRoutes (announced),
//  subnetRoutes (served: primary subnets and exit routes), tags}. A tagged node's user is
// Headscale's "tagged-devices". `auth_key`: the key it registered with, if still known.
nlohmann::json NodeJson(const model::Node& node, const tailnet::Snapshot& snap,
                        const model::PreAuthKey* auth_key);

// {id, prefix (masked), expiration, createdAt, lastSeen}
nlohmann::json ApiKeyJson(const model::ApiKey& key);

// RFC 3339, or null for ZeroTime().
nlohmann::json TimeJson(SystemTime t);

// A uint64 id as JSON, the way protobuf's JSON mapping writes it: a decimal string.
inline nlohmann::json IdJson(uint64_t id) { return std::to_string(id); }

}  // namespace keel::api
