#pragma once
// DERPMap normalisation: turns a DERP map written with any key case (Headscale's derp.yaml
// uses lowercased Go field names, tailcfg JSON uses the Go names) into tailcfg.DERPMap JSON
// with Go field names, checking types and required fields. Pure; any thread.

#include <nlohmann/json.hpp>

#include "base/result.h"

namespace keel::tailcfg {

// Input: {"regions": {"<id>": {regionid, regioncode, regionname, nodes: [...]}}, ...}.
// Output: {"Regions": {"<id>": {"RegionID": .., "RegionCode": .., "Nodes": [{"Name": ..}]}}}.
Result<nlohmann::json> NormalizeDerpMap(const nlohmann::json& any_case);

// The DERP map without regions that have no nodes: clients up to v1.74 divide by their node
// count and crash on such a region (and v1.74 and v1.76 share a capability version, so it
// cannot be sent to some clients only). Sets `dropped` to how many regions went.
nlohmann::json WithoutEmptyRegions(const nlohmann::json& derp_map, int* dropped = nullptr);

// The first capability version (v1.82) that checks a DERPNode CertName of the form
// "sha256-raw:<hex>" as a pin of the relay's certificate.
inline constexpr int kCertPinCapVer = 115;

// The DERP map for clients older than kCertPinCapVer, which read such a CertName as a host name
// and can never verify the relay: each pinned node drops the pin and is sent InsecureForTests,
// which every release honours. What is lost is only the check of the relay's identity; the
// packets it carries are WireGuard-encrypted end to end either way.
nlohmann::json WithoutCertPins(const nlohmann::json& derp_map);

}  // namespace keel::tailcfg
