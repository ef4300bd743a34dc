#include "tailcfg/derp_map.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <string>

namespace keel::tailcfg {
namespace {

using nlohmann::json;

enum class Type { kInt, kString, kBool, kNumber };

struct Field {
  const char* go_name;
  Type type;
};

// Keys are lowercased Go field names; values the JSON name and type.
const std::map<std::string, Field>& RegionFields() {
  static const std::map<std::string, Field> fields = {
      {"regionid", {"RegionID", Type::kInt}},       {"regioncode", {"RegionCode", Type::kString}},
      {"regionname", {"RegionName", Type::kString}}, {"latitude", {"Latitude", Type::kNumber}},
      {"longitude", {"Longitude", Type::kNumber}},   {"avoid", {"Avoid", Type::kBool}},
      {"nomeasurenohome", {"NoMeasureNoHome", Type::kBool}},
  };
  return fields;
}

const std::map<std::string, Field>& NodeFields() {
  static const std::map<std::string, Field> fields = {
      {"name", {"Name", Type::kString}},          {"regionid", {"RegionID", Type::kInt}},
      {"hostname", {"HostName", Type::kString}},  {"certname", {"CertName", Type::kString}},
      {"ipv4", {"IPv4", Type::kString}},          {"ipv6", {"IPv6", Type::kString}},
      {"stunport", {"STUNPort", Type::kInt}},     {"stunonly", {"STUNOnly", Type::kBool}},
      {"derpport", {"DERPPort", Type::kInt}},     {"insecurefortests", {"InsecureForTests", Type::kBool}},
      {"stuntestip", {"STUNTestIP", Type::kString}}, {"canport80", {"CanPort80", Type::kBool}},
  };
  return fields;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// json converts to anything, so result<json>'s converting constructor needs the tag.
Result<json> Ok(json value) { return Result<json>(boost::system::in_place_value, std::move(value)); }

Error Bad(const std::string& where, const std::string& what) {
  return MakeError(Errc::kInvalidArgument, "DERP map: " + where + ": " + what);
}

std::optional<int64_t> ToInt(const json& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (!v.is_string()) return std::nullopt;
  const auto& s = v.get_ref<const std::string&>();
  int64_t n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return n;
}

// YAML scalars arrive as strings; coerce them to the field's type.
Result<json> Coerce(const json& v, Type type, const std::string& where) {
  switch (type) {
    case Type::kInt:
      if (auto n = ToInt(v)) return Ok(*n);
      return Bad(where, "expected an integer");
    case Type::kString:
      if (v.is_string()) return Ok(v);
      if (v.is_number()) return Ok(v.dump());
      return Bad(where, "expected a string");
    case Type::kBool:
      if (v.is_boolean()) return Ok(v);
      if (v.is_string()) {
        std::string s = Lower(v.get<std::string>());
        if (s == "true") return Ok(true);
        if (s == "false") return Ok(false);
      }
      return Bad(where, "expected true or false");
    case Type::kNumber:
      if (v.is_number()) return Ok(v);
      if (v.is_string()) {
        try {
          size_t used = 0;
          double d = std::stod(v.get<std::string>(), &used);
          if (used == v.get_ref<const std::string&>().size()) return Ok(d);
        } catch (const std::exception&) {
        }
      }
      return Bad(where, "expected a number");
  }
  return Bad(where, "unknown type");
}

Result<json> MapObject(const json& in, const std::map<std::string, Field>& fields,
                       const std::string& where, const char* skip) {
  json out = json::object();
  for (const auto& [key, value] : in.items()) {
    std::string lower = Lower(key);
    if (lower == skip || value.is_null()) continue;
    auto it = fields.find(lower);
    if (it == fields.end()) return Bad(where, "unknown key \"" + key + "\"");
    auto coerced = Coerce(value, it->second.type, where + "." + key);
    if (!coerced) return coerced.error();
    out[it->second.go_name] = std::move(*coerced);
  }
  return Ok(std::move(out));
}

Result<json> NormalizeRegion(const std::string& id_text, const json& in) {
  std::string where = "region " + id_text;
  if (!in.is_object()) return Bad(where, "expected a mapping");
  auto id = ToInt(json(id_text));
  if (!id || *id <= 0) return Bad(where, "region id must be a positive integer");
  auto region = MapObject(in, RegionFields(), where, "nodes");
  if (!region) return region.error();
  if (!region->contains("RegionID")) (*region)["RegionID"] = *id;
  if ((*region)["RegionID"].get<int64_t>() != *id)
    return Bad(where, "regionid does not match the region's key");
  json nodes = json::array();
  for (const auto& [key, value] : in.items()) {
    if (Lower(key) != "nodes" || value.is_null()) continue;
    if (!value.is_array()) return Bad(where + ".nodes", "expected a list");
    for (size_t i = 0; i < value.size(); ++i) {
      std::string node_where = where + ".nodes[" + std::to_string(i) + "]";
      if (!value[i].is_object()) return Bad(node_where, "expected a mapping");
      auto node = MapObject(value[i], NodeFields(), node_where, "");
      if (!node) return node.error();
      if (!node->contains("HostName")) return Bad(node_where, "hostname is required");
      if (!node->contains("Name")) return Bad(node_where, "name is required");
      if (!node->contains("RegionID")) (*node)["RegionID"] = *id;
      nodes.push_back(std::move(*node));
    }
  }
  (*region)["Nodes"] = std::move(nodes);
  return region;
}

}  // namespace

Result<json> NormalizeDerpMap(const json& in) {
  if (!in.is_object()) return Bad("top level", "expected a mapping with \"regions\"");
  json out = json::object();
  json regions = json::object();
  for (const auto& [key, value] : in.items()) {
    std::string lower = Lower(key);
    if (lower == "regions") {
      if (value.is_null()) continue;
      if (!value.is_object()) return Bad("regions", "expected a mapping of region id to region");
      for (const auto& [id, region] : value.items()) {
        // `1: null` drops region 1 from the maps merged before this one (Headscale's form).
        if (region.is_null()) {
          auto number = Coerce(json(id), Type::kInt, "regions." + id);
          if (!number) return number.error();
          regions[std::to_string(number->get<int64_t>())] = nullptr;
          continue;
        }
        auto normalized = NormalizeRegion(id, region);
        if (!normalized) return normalized.error();
        std::string region_key = std::to_string((*normalized)["RegionID"].get<int64_t>());
        regions[region_key] = std::move(*normalized);
      }
    } else if (lower == "omitdefaultregions") {
      auto b = Coerce(value, Type::kBool, key);
      if (!b) return b.error();
      out["omitDefaultRegions"] = *b;
    } else if (lower == "homeparams") {
      out["HomeParams"] = value;
    } else {
      return Bad("top level", "unknown key \"" + key + "\"");
    }
  }
  out["Regions"] = std::move(regions);
  return Ok(std::move(out));
}

nlohmann::json WithoutEmptyRegions(const nlohmann::json& derp_map, int* dropped) {
  nlohmann::json out = derp_map;
  int n = 0;
  if (out.contains("Regions") && out["Regions"].is_object()) {
    auto& regions = out["Regions"];
    for (auto it = regions.begin(); it != regions.end();) {
      const auto& nodes = it.value().is_object() ? it.value().value("Nodes", nlohmann::json()) : nlohmann::json();
      if (nodes.is_array() && !nodes.empty()) {
        ++it;
      } else {
        it = regions.erase(it);
        ++n;
      }
    }
  }
  if (dropped) *dropped = n;
  return out;
}

nlohmann::json WithoutCertPins(const nlohmann::json& derp_map) {
  nlohmann::json out = derp_map;
  if (!out.contains("Regions") || !out["Regions"].is_object()) return out;
  for (auto& [id, region] : out["Regions"].items()) {
    if (!region.contains("Nodes") || !region["Nodes"].is_array()) continue;
    for (auto& node : region["Nodes"]) {
      if (!node.value("CertName", "").starts_with("sha256-raw:")) continue;
      node.erase("CertName");
      node["InsecureForTests"] = true;
    }
  }
  return out;
}

}  // namespace keel::tailcfg
