#pragma once
// The SQLite schema as an append-only list of migrations. Never edit or reorder an entry that
// has shipped; add a new one with a later id.

#include <span>
#include <string_view>

namespace keel::store {

struct Migration {
  std::string_view id;   // "YYYYMMDDNNNN-description", sorted ascending
  std::string_view sql;  // one or more statements, run in the migration's transaction
};

std::span<const Migration> SqliteMigrations();

}  // namespace keel::store
