#pragma once
// Headscale 0.29 config keys that keel accepts without acting on them, each with the reason,
// so an operator can point keel at a Headscale config file unchanged: the key is read, and one
// startup warning names it and says why it has no effect (yet). Keys Headscale itself refuses
// (removed in 0.29) are errors that say what replaces them.
// Pure data and functions; any thread.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::config {

struct ForeignKey {
  std::string_view key;  // dotted; a section ("oidc") covers every key under it
  std::string_view why;  // completes "<key> has no effect: ..."
  // The value with which keel already does what the key asks (keel always uses SQLite's WAL,
  // so `write_ahead_log: true` needs no warning); empty: every value but an empty one warns.
  std::string_view quiet_value = "";
  bool removed = false;  // Headscale refuses it too: an error, `why` says what to do instead
};

// The entry covering dotted `key` (exactly, or as its section), if any.
std::optional<ForeignKey> FindForeignKey(std::string_view key);

// Every key of the table, for suggestions and environment overrides.
std::vector<std::string_view> ForeignKeyNames();

}  // namespace keel::config
