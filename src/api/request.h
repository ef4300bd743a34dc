#pragma once
// Reading admin API requests: JSON bodies, typed fields, path segments and ids, each failing
// with a kInvalidArgument that names what was wrong. Internal to the api folder; pure
// functions, any thread.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace keel::api {

Error BadRequest(std::string message);

// The body as a JSON object; an empty body is {}.
Result<nlohmann::json> ParseBody(const std::string& body);

// An optional field: absent or null gives the type's empty value. T is std::string, bool or
// std::vector<std::string>.
template <class T>
Result<T> Field(const nlohmann::json& j, const char* key);

// An id field: protobuf's JSON mapping writes uint64 as a string, but numbers are taken too.
// Absent, null or "" gives 0.
Result<uint64_t> IdField(const nlohmann::json& j, const char* key);

// A percent-encoded path segment, decoded ('+' stays literal, unlike in query strings).
std::string PathDecode(std::string_view in);

// A decimal id from a path segment or query value; `what` names it in the error.
Result<uint64_t> ParseId(std::string_view text, std::string_view what);

// True for "true"/"1" query values (grpc-gateway's bool forms), false for absent or others.
bool QueryFlag(const std::optional<std::string>& value);

}  // namespace keel::api
