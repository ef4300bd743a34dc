#pragma once
// The OpenAPI 3.1 description of the admin API (src/api/openapi.yaml, built into the binary),
// served at GET /api/v1/openapi.yaml.

#include <string_view>

namespace keel::api {

std::string_view OpenApiYaml();

}  // namespace keel::api
