#pragma once
// How CLI commands print results: aligned tables for people, JSON or YAML for scripts
// (-o json | json-line | yaml, as in Headscale). Pure functions; any thread.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace keel::cli {

using Row = std::vector<std::string>;

// Columns padded to their widest cell and separated by " | ", header first.
std::string RenderTable(const Row& header, const std::vector<Row>& rows);

// "json": indented; "json-line": one line; "yaml": the same value as YAML. Each ends in a
// newline.
std::string RenderOutput(const nlohmann::json& value, const std::string& format);

// A table cell for a JSON value: strings bare, null as "-", booleans as yes/no, lists joined
// with ", ".
std::string Cell(const nlohmann::json& value);

}  // namespace keel::cli
