#pragma once
// Domain values: users, nodes, pre-auth keys. Plain data, copyable; no behaviour beyond
// small derived helpers. Times are system_clock; keel::ZeroTime() means "unset/never" and is
// the default of every time field (a value-initialised time_point would be 1970, i.e. expired).

#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/address_v6.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "crypto/keys.h"

namespace keel::model {

using NodeId = uint64_t;
using UserId = uint64_t;
using PreAuthKeyId = uint64_t;
using ApiKeyId = uint64_t;

struct User {
  UserId id = 0;
  std::string name;          // unique, the handle admins type
  std::string display_name;  // defaults to name
  std::string email;         // optional; LoginName falls back to name
  SystemTime created = ZeroTime();
  // Set for users an identity provider logged in (OIDC): "oidc", the provider's stable
  // identifier ("<issuer>/<subject>", unique), their picture and the groups it last gave them.
  std::string provider;
  std::string provider_id;
  std::string profile_pic_url;
  std::vector<std::string> provider_groups;
};

struct PreAuthKey {
  PreAuthKeyId id = 0;
  std::string prefix;       // public part shown in listings, e.g. "keel-auth-<prefix>-<secret>"
  std::string secret_hash;  // hex SHA-256 of the secret part; the secret itself is never stored
  UserId user_id = 0;
  bool reusable = false;
  bool ephemeral = false;
  bool used = false;
  std::vector<std::string> tags;
  SystemTime created = ZeroTime();
  SystemTime expiration = ZeroTime();  // ZeroTime() = never
  // Expiry set by `preauthkeys expire`; past expiration means unusable.

  bool IsExpired(SystemTime now) const {
    return !IsZeroTime(expiration) && expiration <= now;
  }
};

// A key for the admin API over TCP ("keel-api-<prefix>-<secret>"); like pre-auth keys, only a
// hash of the secret is stored.
struct ApiKey {
  ApiKeyId id = 0;
  std::string prefix;
  std::string secret_hash;
  SystemTime created = ZeroTime();
  SystemTime expiration = ZeroTime();  // ZeroTime() = never
  SystemTime last_seen = ZeroTime();   // last request it authorised (kept to the minute)

  bool IsExpired(SystemTime now) const {
    return !IsZeroTime(expiration) && expiration <= now;
  }
};

struct Node {
  NodeId id = 0;
  crypto::MachinePublic machine_key;
  crypto::NodePublic node_key;
  crypto::DiscoPublic disco_key;
  UserId user_id = 0;
  std::vector<std::string> tags;  // sorted
  std::string hostname;           // raw Hostinfo.Hostname
  std::string given_name;         // the MagicDNS label, unique across the tailnet
  std::optional<boost::asio::ip::address_v4> ipv4;
  std::optional<boost::asio::ip::address_v6> ipv6;
  std::vector<std::string> endpoints;  // "ip:port"
  int home_derp = 0;                   // Hostinfo.NetInfo.PreferredDERP
  std::string hostinfo_json = "{}";    // the client's last Hostinfo, as an opaque JSON object
  SystemTime created = ZeroTime();
  SystemTime last_seen = ZeroTime();  // ZeroTime() = never seen
  SystemTime expiry = ZeroTime();     // ZeroTime() = never expires
  bool ephemeral = false;
  std::optional<PreAuthKeyId> auth_key_id;
  int cap_version = 0;
  // Routes (model/routes.h), canonical and sorted. `announced_routes` is Hostinfo.RoutableIPs,
  // kept in step with hostinfo_json; `approved_routes` are the admin's approvals (stored).
  std::vector<std::string> announced_routes;
  std::vector<std::string> approved_routes;

  // Not stored: filled in from live map sessions.
  bool online = false;
  // Not stored: the HA prober found this router not answering (tailnet SetRouterHealth).
  bool unhealthy = false;
  // Not stored: derived by the tailnet on every change that can move them. Announced routes
  // approved by the admin or the policy's autoApprovers, and of their subnet routes those
  // this node is the primary router for (one per prefix among the online routers).
  std::vector<std::string> routes_in_effect;
  std::vector<std::string> primary_routes;
  // Bumped on every change to the node; keys caches of rendered forms.
  uint64_t version = 0;

  bool IsExpired(SystemTime now) const { return !IsZeroTime(expiry) && expiry <= now; }
};

// A tagged node belongs to no person: as in Tailscale, it is shown owned by a pseudo-user
// "tagged-devices" (Headscale's id for it, so both servers' clients agree). keel still stores
// the user that registered it, whose node it becomes again when its tags are removed.
inline constexpr UserId kTaggedDevicesUserId = 2147455555;
inline constexpr std::string_view kTaggedDevicesLogin = "tagged-devices";

}  // namespace keel::model
