#pragma once
// Reading small whole files (config, keys, certificates, policies) as text. Any thread.

#include <string>

#include "base/result.h"

namespace keel {

// The whole content of `path`. Errors name the path and the system's reason.
Result<std::string> ReadFileText(const std::string& path);

}  // namespace keel
