#pragma once
// Thin RAII wrapper over the SQLite C API: a connection and prepared statements whose return
// codes become Results (style.md §7). Not thread-safe; SqliteStore serialises access.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace keel::store {

class SqliteDb;

class Statement {
 public:
  Statement(SqliteDb& db, sqlite3_stmt* stmt) : db_(&db), stmt_(stmt) {}
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  ~Statement();

  // Parameters are 1-based, as in SQLite.
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, std::string_view text);
  Statement& BindBlob(int index, const void* data, size_t size);
  Statement& BindNull(int index);
  // nullopt binds NULL.
  Statement& BindOpt(int index, const std::optional<int64_t>& value);
  Statement& BindOpt(int index, const std::optional<std::string>& value);

  // true: a row is available; false: done.
  Result<bool> Step();
  // Steps to completion; for statements that return no rows.
  Result<void> Run();

  bool IsNull(int col) const;
  int64_t Int(int col) const;
  std::string Text(int col) const;
  std::string Blob(int col) const;

 private:
  SqliteDb* db_;
  sqlite3_stmt* stmt_;
};

// Steps `st` to completion, appending `row(st)` (a Result<T>) for every row.
template <class T, class RowFn>
Result<std::vector<T>> CollectRows(Statement& st, RowFn row) {
  std::vector<T> out;
  while (true) {
    auto more = st.Step();
    if (!more) return more.error();
    if (!*more) return out;
    auto item = row(static_cast<const Statement&>(st));
    if (!item) return item.error();
    out.push_back(std::move(*item));
  }
}

class SqliteDb {
 public:
  // Opens (creating if needed) the database at `path`; ":memory:" for a private one.
  static Result<std::unique_ptr<SqliteDb>> Open(const std::string& path);
  // Opens an existing database that this connection may only read (imports).
  static Result<std::unique_ptr<SqliteDb>> OpenReadOnly(const std::string& path);
  ~SqliteDb();

  Result<void> Exec(std::string_view sql);
  Result<Statement> Prepare(std::string_view sql);
  int64_t LastInsertId() const;
  // Rows changed by the last statement.
  int Changes() const;
  const std::string& path() const { return path_; }

  // Error for SQLite result code `rc` with the connection's message and `what` as context.
  Error MakeDbError(int rc, std::string_view what) const;

 private:
  SqliteDb(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  static Result<std::unique_ptr<SqliteDb>> OpenWith(const std::string& path, int flags);
  sqlite3* db_;
  std::string path_;
};

}  // namespace keel::store
