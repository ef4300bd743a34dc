#pragma once
// Logging setup. Components take a named spdlog logger in their constructor (style.md §7);
// this creates or fetches one that writes to stderr at the configured level.

#include <memory>
#include <spdlog/spdlog.h>
#include <string>

namespace keel {

// Sets the default level for every logger ("trace".."off"); false if `level` is unknown.
bool SetLogLevel(const std::string& level);

// Returns the logger called `name`, creating it (stderr, shared level) on first use.
std::shared_ptr<spdlog::logger> GetLogger(const std::string& name);

}  // namespace keel
