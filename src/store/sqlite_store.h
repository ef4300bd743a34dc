#pragma once
// SqliteStore: the Store on one SQLite file (WAL, foreign keys on, busy timeout), with the
// append-only migrations of migrations.cc applied at Open. One connection guarded by a
// mutex: transactions from several threads run one after another.

#include <memory>
#include <mutex>
#include <string>

#include "store/sqlite_db.h"
#include "store/store.h"

namespace keel::store {

class SqliteStore final : public Store {
 public:
  // Opens or creates the database at `path` (":memory:" for a throwaway one) and migrates it.
  // Errors name the path and SQLite's reason (e.g. "file is not a database").
  static Result<std::unique_ptr<SqliteStore>> Open(const std::string& path);

  Result<void> Transaction(const std::function<Result<void>(Tx&)>& fn) override;

  // Ids of the applied migrations, ascending (for tests and `keel doctor`-style output).
  Result<std::vector<std::string>> AppliedMigrations();

 private:
  explicit SqliteStore(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}
  Result<void> Configure();
  Result<void> Migrate();

  std::mutex mu_;
  std::unique_ptr<SqliteDb> db_;
};

}  // namespace keel::store
