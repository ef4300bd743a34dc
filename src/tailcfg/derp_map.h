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

}  // namespace keel::tailcfg
