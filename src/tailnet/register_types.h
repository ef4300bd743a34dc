#pragma once
// What /machine/register asks of the tailnet and what it answers; shared by Tailnet and the
// AuthRequests that hold a registration while its user logs in.

#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "crypto/keys.h"
#include "model/types.h"

namespace keel::tailnet {

// What the client asked in /machine/register, already decoded and bound to the Noise peer.
struct RegisterInput {
  crypto::MachinePublic machine_key;  // from the Noise handshake, never from the body
  crypto::NodePublic node_key;
  crypto::NodePublic old_node_key;    // zero if none
  std::string auth_key;               // empty if the request had no Auth
  SystemTime expiry = ZeroTime();     // zero: none; past: logout; future: shorten
  std::string hostinfo_json = "{}";
  std::string hostname;
  std::vector<std::string> request_tags;
};

struct RegisterOutcome {
  // kLoginRequired: nothing here lets the request in (no auth key, an unknown node key); the
  // caller starts an interactive login, whose completion is RegisterInteractive.
  enum class Kind { kAuthorized, kNodeKeyExpired, kLoggedOut, kRefused, kLoginRequired };
  Kind kind = Kind::kRefused;
  std::string error;  // for kRefused: the message the `tailscale up` user sees
  std::optional<model::Node> node;
  std::optional<model::User> user;
};

}  // namespace keel::tailnet
