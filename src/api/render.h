#pragma once
// JSON forms of users, pre-auth keys and nodes as the admin API returns them (and the CLI
// reads them). Times are RFC 3339 in UTC, or null when unset. Pure functions; any thread.

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "model/types.h"
#include "tailnet/snapshot.h"

namespace keel::api {

// {id, name, display_name, email, created}
nlohmann::json UserJson(const model::User& user);

// {id, prefix, user, reusable, ephemeral, used, expired, expiration, created, tags}
nlohmann::json PreAuthKeyJson(const model::PreAuthKey& key, const tailnet::Snapshot& snap,
                              SystemTime now);

// {id, name, given_name, hostname, user, ip_addresses, online, last_seen, expiry, expired,
//  created, machine_key, node_key, disco_key, ephemeral, tags, available_routes (announced),
//  approved_routes (by the admin or autoApprovers), subnet_routes (served: primary subnets and
//  exit routes)}; `name` is the MagicDNS label.
nlohmann::json NodeJson(const model::Node& node, const tailnet::Snapshot& snap, SystemTime now);

// RFC 3339, or null for ZeroTime().
nlohmann::json TimeJson(SystemTime t);

}  // namespace keel::api
