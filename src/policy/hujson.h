#pragma once
// HuJSON (JSON with comments and trailing commas) reading for policy files.
//
// The text is normalised (comments blanked, trailing commas dropped, line breaks kept so
// positions still point at the user's text) and handed to nlohmann::json. Pure functions.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/result.h"

namespace keel::policy {

// Returns the parsed document or an error naming the line and column of the mistake.
Result<nlohmann::json> ParseHuJson(std::string_view text);
// 1-based line of the first occurrence of `needle` in `text`, 0 when absent.
int LineOf(std::string_view text, std::string_view needle);

}  // namespace keel::policy
