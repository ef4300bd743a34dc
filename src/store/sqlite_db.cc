#include "store/sqlite_db.h"

#include <sqlite3.h>

namespace keel::store {
namespace {

Errc ErrcFor(int rc) {
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) return Errc::kFailedPrecondition;
      return Errc::kAlreadyExists;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    // A full disk: the write is refused whole (the transaction rolls back) and reads go on,
    // so it is the caller's to retry once there is room, not an internal error.
    case SQLITE_FULL:
      return Errc::kUnavailable;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return Errc::kDataLoss;
    default:
      return Errc::kInternal;
  }
}

}  // namespace

Statement::Statement(Statement&& other) noexcept : db_(other.db_), stmt_(other.stmt_) {
  other.stmt_ = nullptr;
}

Statement::~Statement() {
  if (stmt_ != nullptr) sqlite3_finalize(stmt_);
}

// Bind errors (wrong index, out of memory) surface from the next Step().
Statement& Statement::Bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Statement& Statement::Bind(int index, std::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::BindBlob(int index, const void* data, size_t size) {
  sqlite3_bind_blob(stmt_, index, data, static_cast<int>(size), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::BindNull(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

Statement& Statement::BindOpt(int index, const std::optional<int64_t>& value) {
  return value ? Bind(index, *value) : BindNull(index);
}

Statement& Statement::BindOpt(int index, const std::optional<std::string>& value) {
  return value ? Bind(index, std::string_view(*value)) : BindNull(index);
}

Result<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->MakeDbError(sqlite3_extended_errcode(sqlite3_db_handle(stmt_)), sqlite3_sql(stmt_));
}

Result<void> Statement::Run() {
  while (true) {
    auto r = Step();
    if (!r) return r.error();
    if (!*r) return {};
  }
}

bool Statement::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

int64_t Statement::Int(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string Statement::Text(int col) const {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  if (p == nullptr) return {};
  return std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::string Statement::Blob(int col) const {
  auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
  if (p == nullptr) return {};
  return std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

Result<std::unique_ptr<SqliteDb>> SqliteDb::Open(const std::string& path) {
  return OpenWith(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX);
}

Result<std::unique_ptr<SqliteDb>> SqliteDb::OpenReadOnly(const std::string& path) {
  return OpenWith(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX);
}

Result<std::unique_ptr<SqliteDb>> SqliteDb::OpenWith(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    sqlite3_close(raw);
    return MakeError(Errc::kUnavailable, "sqlite: cannot open " + path + ": " + msg);
  }
  sqlite3_extended_result_codes(raw, 1);
  return std::unique_ptr<SqliteDb>(new SqliteDb(raw, path));
}

SqliteDb::~SqliteDb() { sqlite3_close(db_); }

Result<void> SqliteDb::Exec(std::string_view sql) {
  std::string s(sql);
  int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return MakeDbError(sqlite3_extended_errcode(db_), s);
  return {};
}

Result<Statement> SqliteDb::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return MakeDbError(sqlite3_extended_errcode(db_), sql);
  return Statement(*this, stmt);
}

int64_t SqliteDb::LastInsertId() const { return sqlite3_last_insert_rowid(db_); }

int SqliteDb::Changes() const { return sqlite3_changes(db_); }

Error SqliteDb::MakeDbError(int rc, std::string_view what) const {
  std::string context(what.substr(0, 60));
  std::string message = "sqlite " + path_ + ": " + sqlite3_errmsg(db_) + " (in \"" + context + "\")";
  if ((rc & 0xff) == SQLITE_FULL) {
    message += "; no space left for the database: nothing was written, free some and retry";
  }
  return MakeError(ErrcFor(rc), std::move(message));
}

}  // namespace keel::store
