#pragma once
// Logging setup. Components take a named spdlog logger in their constructor (style.md §7);
// this creates or fetches one that writes to stderr at the configured level.

#include <memory>
#include <spdlog/spdlog.h>
#include <string>

namespace keel {

// Sets the default level for every logger ("trace".."off"); false if `level` is unknown.
bool SetLogLevel(const std::string& level);

// "text" (spdlog's default lines) or "json": one object a line, {"time", "level", "logger",
// "message"}, for log shippers (Headscale's log.format). Applies to every logger, present and
// future; false if `format` is unknown.
bool SetLogFormat(const std::string& format);

// Returns the logger called `name`, creating it (stderr, shared level) on first use.
std::shared_ptr<spdlog::logger> GetLogger(const std::string& name);

}  // namespace keel
