// LoadDerpMapFile / MergeDerpMaps (declared in control/server.h): Headscale's derp.yaml (or
// a JSON file) into tailcfg.DERPMap JSON.

#include <yaml-cpp/yaml.h>

#include "control/server.h"
#include "tailcfg/derp_map.h"

namespace keel::control {
namespace {

using nlohmann::json;

// Scalars stay strings (quoted or not); NormalizeDerpMap coerces them per field.
Result<json> YamlToJson(const YAML::Node& node, const std::string& where) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return Result<json>(boost::system::in_place_value, nullptr);
    case YAML::NodeType::Scalar:
      return Result<json>(boost::system::in_place_value, node.Scalar());
    case YAML::NodeType::Sequence: {
      json list = json::array();
      for (size_t i = 0; i < node.size(); ++i) {
        auto item = YamlToJson(node[i], where + "[" + std::to_string(i) + "]");
        if (!item) return item.error();
        list.push_back(std::move(*item));
      }
      return Result<json>(boost::system::in_place_value, std::move(list));
    }
    case YAML::NodeType::Map: {
      json obj = json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) return MakeError(Errc::kInvalidArgument, where + ": non-scalar key");
        std::string key = kv.first.Scalar();
        auto value = YamlToJson(kv.second, where + "." + key);
        if (!value) return value.error();
        obj[key] = std::move(*value);
      }
      return Result<json>(boost::system::in_place_value, std::move(obj));
    }
  }
  return MakeError(Errc::kInvalidArgument, where + ": unsupported YAML node");
}

}  // namespace

Result<json> LoadDerpMapFile(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return MakeError(Errc::kNotFound, "DERP map file " + path + ": cannot be read");
  } catch (const YAML::Exception& e) {
    return MakeError(Errc::kInvalidArgument, "DERP map file " + path + ": " + e.what());
  }
  auto generic = YamlToJson(root, "");
  if (!generic) return MakeError(Errc::kInvalidArgument, "DERP map file " + path + ": " + generic.error().message);
  auto normalized = tailcfg::NormalizeDerpMap(*generic);
  if (!normalized) {
    return MakeError(Errc::kInvalidArgument, "DERP map file " + path + ": " + normalized.error().message);
  }
  return normalized;
}

void MergeDerpMaps(json& base, const json& other) {
  if (!base.is_object()) base = json::object();
  if (!base.contains("Regions") || !base["Regions"].is_object()) base["Regions"] = json::object();
  auto it = other.find("Regions");
  if (it != other.end() && it->is_object()) {
    for (const auto& [id, region] : it->items()) {
      // A null region removes what earlier maps said of that id.
      if (region.is_null()) {
        base["Regions"].erase(id);
      } else {
        base["Regions"][id] = region;
      }
    }
  }
  for (const auto& [key, value] : other.items()) {
    if (key != "Regions") base[key] = value;
  }
}

}  // namespace keel::control
