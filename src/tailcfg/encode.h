#pragma once
// Encoding of the server's tailcfg values (Node, UserProfile, PeerChange, RegisterResponse,
// DNSConfig, PacketFilter) as Go's encoding/json would write them: Go field names, prefixed
// key texts, RFC 3339 times, bare JSON booleans for opt.Bool. Values in, JSON out; pure, any
// thread. Objects are nlohmann::ordered_json so the output order is deterministic.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "crypto/keys.h"

namespace keel::tailcfg {

using OJson = nlohmann::ordered_json;

// tailcfg.Node as keel sends it (control.md §3). Empty lists and zero times are omitted where
// Go would omit them or the client treats absence as the zero value.
struct Node {
  uint64_t id = 0;
  std::string name;  // FQDN with trailing dot
  uint64_t user = 0;
  crypto::NodePublic key;
  SystemTime key_expiry = ZeroTime();
  crypto::MachinePublic machine;
  crypto::DiscoPublic disco_key;
  std::vector<std::string> addresses;    // "100.64.0.1/32", v4 first
  std::vector<std::string> allowed_ips;  // always sent, even when equal to addresses
  std::vector<std::string> primary_routes;  // subnet routes this node serves; omitted if empty
  std::vector<std::string> endpoints;
  int home_derp = 0;                     // also sent as the legacy DERP "127.3.3.40:<id>"
  std::string hostinfo_json = "{}";      // echoed as an object
  SystemTime created = ZeroTime();
  int cap = 0;
  std::vector<std::string> tags;
  std::optional<bool> online;
  SystemTime last_seen = ZeroTime();     // sent only when non-zero
  bool machine_authorized = true;
  bool expired = false;
  OJson cap_map;                         // null: omitted
};

OJson NodeJson(const Node& node);

// The self node's CapMap baseline (control.md §4.9).
OJson SelfCapMap(bool auto_update_default = false);

struct UserProfile {
  uint64_t id = 0;
  std::string login_name;
  std::string display_name;
};

OJson UserProfileJson(const UserProfile& profile);

// One PeersChangedPatch entry; only set fields are written.
struct PeerChange {
  uint64_t node_id = 0;
  std::optional<int> derp_region;
  std::optional<std::vector<std::string>> endpoints;
  std::optional<crypto::NodePublic> key;
  std::optional<crypto::DiscoPublic> disco_key;
  std::optional<bool> online;
  std::optional<SystemTime> last_seen;
  std::optional<SystemTime> key_expiry;
};

OJson PeerChangeJson(const PeerChange& change);

struct RegisterResponse {
  uint64_t user_id = 0;
  std::string display_name;
  std::string login_name;
  SystemTime user_created = ZeroTime();
  bool node_key_expired = false;
  bool machine_authorized = false;
  std::string auth_url;
  std::string error;
};

std::string EncodeRegisterResponse(const RegisterResponse& response);

// tailcfg.DNSRecord: a name the client's resolver answers itself.
struct DnsRecord {
  std::string name;   // FQDN, no trailing dot needed
  std::string type;   // "A" or "AAAA"
  std::string value;  // the address
  friend bool operator==(const DnsRecord&, const DnsRecord&) = default;
};

struct DnsConfig {
  std::vector<std::string> resolvers;  // "1.1.1.1", "1.1.1.1:53", "https://..."
  // Used only when the client has no DNS of its own (override_local_dns off).
  std::vector<std::string> fallback_resolvers;
  std::vector<std::string> domains;    // search domains, no trailing dot
  bool proxied = false;                // MagicDNS on
  // Split DNS: suffix -> its resolvers. An empty list means 100.100.100.100 answers it.
  std::map<std::string, std::vector<std::string>> routes;
  std::vector<DnsRecord> extra_records;
};

OJson DnsConfigJson(const DnsConfig& dns);

// [{"SrcIPs":["*"],"DstPorts":[{"IP":"*","Ports":{"First":0,"Last":65535}}]}]
OJson AllowAllFilterRules();

// The keep-alive MapResponse; always these exact bytes so the client can skip decoding.
inline constexpr std::string_view kKeepAliveJson = R"({"KeepAlive":true})";

// "100.64.0.1/32" / "fd7a::1/128" host prefixes.
std::string HostPrefix(std::string_view ip);

}  // namespace keel::tailcfg
