#pragma once
// The `keel` command line: a CLI11 command tree shaped like Headscale's (serve, users,
// preauthkeys, nodes). `serve` runs the App in this process; every other command calls the
// admin API of a running server over the unix socket named in the config.
// Threading: call from main (or a test) on one thread.

#include <iosfwd>

namespace keel::cli {

// Parses `argv` and runs the command. Returns the process exit code: 0 on success, non-zero
// on a bad argument (CLI11's message on `err`) or a failed command ("Error: ..." on `err`).
// `in` answers confirmation prompts, which are only asked when stdin is a terminal.
int RunCli(int argc, const char* const* argv, std::istream& in, std::ostream& out,
           std::ostream& err);

}  // namespace keel::cli
