#pragma once
// Decoding of the client's request bodies (RegisterRequest, MapRequest) from the JSON that
// Go's encoding/json writes, into plain values. Only the fields keel uses are kept; unknown
// fields are ignored as Go does. Errors name the offending field. Pure; any thread.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "crypto/keys.h"

namespace keel::tailcfg {

struct RegisterRequest {
  int version = 0;
  crypto::NodePublic node_key;
  crypto::NodePublic old_node_key;
  std::optional<std::string> auth_key;  // nullopt: the request had no Auth object
  SystemTime expiry = ZeroTime();
  std::string followup;
  std::string hostinfo_json = "{}";  // the Hostinfo object re-serialised; "{}" if absent
  std::string hostname;              // Hostinfo.Hostname
  std::vector<std::string> request_tags;  // Hostinfo.RequestTags
  bool ephemeral = false;
};

Result<RegisterRequest> DecodeRegisterRequest(std::string_view body);

struct MapRequest {
  int version = 0;
  crypto::NodePublic node_key;
  crypto::DiscoPublic disco_key;                     // zero if absent
  std::optional<std::vector<std::string>> endpoints;  // nullopt if absent or null
  std::optional<std::string> hostinfo_json;           // nullopt if absent or null
  std::optional<int> preferred_derp;                  // Hostinfo.NetInfo.PreferredDERP
  bool stream = false;
  bool omit_peers = false;
  bool keep_alive = false;
  bool read_only = false;
  std::string compress;  // "zstd" or ""
};

Result<MapRequest> DecodeMapRequest(std::string_view body);

}  // namespace keel::tailcfg
