#pragma once
// `keel policy get|set|check` (admin API) and `keel policy compile` (offline: compiles a policy
// against a topology file in the golden captures' shape and prints what each node gets).
// Internal to the cli folder; single-threaded like the rest of the CLI.

#include <CLI/CLI.hpp>
#include <functional>

#include "cli/admin_commands.h"

namespace keel::cli {

void AddPolicy(CLI::App& root, Context& ctx, std::function<int()>& action);

}  // namespace keel::cli
