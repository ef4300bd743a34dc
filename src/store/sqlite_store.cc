#include "store/sqlite_store.h"

#include <algorithm>
#include <set>

#include "base/metrics.h"
#include "store/migrations.h"
#include "store/sqlite_tx.h"

namespace keel::store {
namespace {

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Rolls back unless dismissed, so a callback that throws (a bug) cannot leave the shared
// connection inside a transaction.
class RollbackGuard {
 public:
  explicit RollbackGuard(SqliteDb& db) : db_(&db) {}
  ~RollbackGuard() {
    if (db_ != nullptr) (void)db_->Exec("ROLLBACK");
  }
  void Dismiss() { db_ = nullptr; }

 private:
  SqliteDb* db_;
};

}  // namespace

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path) {
  auto db = SqliteDb::Open(path);
  if (!db) return db.error();
  std::unique_ptr<SqliteStore> store(new SqliteStore(std::move(*db)));
  KEEL_TRY(store->Configure());
  KEEL_TRY(store->Migrate());
  return store;
}

Result<void> SqliteStore::Configure() {
  // busy_timeout first: the other pragmas may need a lock another process holds.
  KEEL_TRY(db_->Exec("PRAGMA busy_timeout = 5000"));
  // The first real read: a file that is not SQLite fails here ("file is not a database").
  KEEL_TRY(db_->Exec("PRAGMA journal_mode = WAL"));
  KEEL_TRY(db_->Exec("PRAGMA foreign_keys = ON"));
  return {};
}

Result<void> SqliteStore::Migrate() {
  std::lock_guard lock(mu_);
  KEEL_TRY(db_->Exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      "id TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)"));
  std::set<std::string> applied;
  {
    auto st = db_->Prepare("SELECT id FROM schema_migrations");
    if (!st) return st.error();
    while (true) {
      auto row = st->Step();
      if (!row) return row.error();
      if (!*row) break;
      applied.insert(st->Text(0));
    }
  }
  auto migrations = SqliteMigrations();
  for (const auto& id : applied) {
    bool known = std::any_of(migrations.begin(), migrations.end(),
                             [&](const Migration& m) { return m.id == id; });
    if (!known) {
      return MakeError(Errc::kFailedPrecondition,
                       "database " + db_->path() + " has migration " + id +
                           " that this keel does not know; it was written by a newer version");
    }
  }
  for (const auto& m : migrations) {
    if (applied.contains(std::string(m.id))) continue;
    KEEL_TRY(db_->Exec("BEGIN IMMEDIATE"));
    RollbackGuard guard(*db_);
    KEEL_TRY(db_->Exec(m.sql));
    auto st = db_->Prepare("INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)");
    if (!st) return st.error();
    st->Bind(1, m.id).Bind(2, NowNanos());
    KEEL_TRY(st->Run());
    KEEL_TRY(db_->Exec("COMMIT"));
    guard.Dismiss();
  }
  return {};
}

namespace {

// Time from asking for a transaction to its end, waiting for the store's mutex included.
prometheus::Histogram& TransactionSeconds() {
  static auto& h = prometheus::BuildHistogram()
                       .Name("keel_store_transaction_seconds")
                       .Help("Time a store transaction takes, waiting for the store included")
                       .Register(metrics::Registry())
                       .Add({}, metrics::LatencyBuckets());
  return h;
}

}  // namespace

Result<void> SqliteStore::Transaction(const std::function<Result<void>(Tx&)>& fn) {
  metrics::ScopedTimer timer(TransactionSeconds());
  std::lock_guard lock(mu_);
  // IMMEDIATE takes the write lock up front, so a read-then-write never fails half way with
  // SQLITE_BUSY when another process shares the file.
  KEEL_TRY(db_->Exec("BEGIN IMMEDIATE"));
  RollbackGuard guard(*db_);
  SqliteTx tx(*db_);
  auto r = fn(tx);
  if (!r) return r;
  KEEL_TRY(db_->Exec("COMMIT"));
  guard.Dismiss();
  return {};
}

Result<std::vector<std::string>> SqliteStore::AppliedMigrations() {
  std::lock_guard lock(mu_);
  auto st = db_->Prepare("SELECT id FROM schema_migrations ORDER BY id");
  if (!st) return st.error();
  return CollectRows<std::string>(
      *st, [](const Statement& s) -> Result<std::string> { return s.Text(0); });
}

}  // namespace keel::store
