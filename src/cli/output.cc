#include "cli/output.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>

namespace keel::cli {

std::string RenderTable(const Row& header, const std::vector<Row>& rows) {
  std::vector<size_t> width(header.size(), 0);
  auto measure = [&](const Row& row) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  };
  measure(header);
  for (const auto& row : rows) measure(row);
  auto line = [&](const Row& row) {
    std::string out;
    for (size_t i = 0; i < width.size(); ++i) {
      const std::string cell = i < row.size() ? row[i] : "";
      if (i > 0) out += " | ";
      out += cell;
      // No trailing spaces after the last column.
      if (i + 1 < width.size()) out.append(width[i] - cell.size(), ' ');
    }
    return out + "\n";
  };
  std::string out = line(header);
  for (const auto& row : rows) out += line(row);
  return out;
}

namespace {

void EmitYaml(YAML::Emitter& out, const nlohmann::json& value) {
  if (value.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [key, item] : value.items()) {
      out << YAML::Key << key << YAML::Value;
      EmitYaml(out, item);
    }
    out << YAML::EndMap;
  } else if (value.is_array()) {
    out << YAML::BeginSeq;
    for (const auto& item : value) EmitYaml(out, item);
    out << YAML::EndSeq;
  } else if (value.is_null()) {
    out << YAML::Null;
  } else if (value.is_string()) {
    // Always quoted, so ids ("1") and words like "true" read back as strings.
    out << YAML::DoubleQuoted << value.get_ref<const std::string&>();
  } else {
    out << value.dump();
  }
}

}  // namespace

std::string RenderOutput(const nlohmann::json& value, const std::string& format) {
  if (format == "yaml") {
    YAML::Emitter out;
    EmitYaml(out, value);
    return std::string(out.c_str()) + "\n";
  }
  return (format == "json-line" ? value.dump() : value.dump(2)) + "\n";
}

std::string Cell(const nlohmann::json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
  if (value.is_array()) {
    std::string out;
    for (const auto& item : value) out += (out.empty() ? "" : ", ") + Cell(item);
    return out;
  }
  return value.dump();
}

}  // namespace keel::cli
