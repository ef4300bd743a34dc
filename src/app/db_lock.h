#pragma once
// One keel per database: an exclusive lock (flock) on "<sqlite path>.lock", held while the App
// lives. A second keel on the same file refuses to start instead of splitting the tailnet
// between two processes that each believe they own it. The lock goes with the process, so a
// crash leaves nothing to clean up.

#include <string>

#include "base/result.h"

namespace keel::app {

class DatabaseLock {
 public:
  // Fails, naming the holder's pid, when another process holds the lock.
  static Result<DatabaseLock> Acquire(const std::string& db_path);

  DatabaseLock(DatabaseLock&& other) noexcept;
  DatabaseLock& operator=(DatabaseLock&& other) noexcept;
  DatabaseLock(const DatabaseLock&) = delete;
  DatabaseLock& operator=(const DatabaseLock&) = delete;
  ~DatabaseLock();

 private:
  explicit DatabaseLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace keel::app
