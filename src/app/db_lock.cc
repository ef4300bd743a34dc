#include "app/db_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace keel::app {

Result<DatabaseLock> DatabaseLock::Acquire(const std::string& db_path) {
  const std::string path = db_path + ".lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return MakeError(Errc::kUnavailable, "cannot open " + path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    char pid[32] = {};
    ssize_t n = ::pread(fd, pid, sizeof pid - 1, 0);
    ::close(fd);
    if (err != EWOULDBLOCK) return MakeError(Errc::kUnavailable, "cannot lock " + path + ": " + std::strerror(err));
    std::string holder = n > 0 ? "keel (pid " + std::string(pid, static_cast<size_t>(n)) + ")" : "keel";
    return MakeError(Errc::kFailedPrecondition,
                     "another " + holder + " is serving the database " + db_path +
                         "; one database takes one keel: stop that one, or give this one its own "
                         "database.sqlite.path");
  }
  std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // The pid only improves the other process's message; the lock is what matters.
  }
  return DatabaseLock(fd);
}

DatabaseLock::DatabaseLock(DatabaseLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

DatabaseLock& DatabaseLock::operator=(DatabaseLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

DatabaseLock::~DatabaseLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace keel::app
