#include "app/keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "base/bytes.h"
#include "base/file.h"
#include "crypto/x25519.h"

namespace keel::app {
namespace {

Error SysError(const std::string& what, const std::string& path) {
  return MakeError(Errc::kUnavailable, what + " " + path + ": " + std::strerror(errno));
}


Result<crypto::PrivateKey> WriteNewKey(const std::string& path) {
  crypto::PrivateKey key = crypto::GeneratePrivateKey();
  KEEL_TRY(WriteKeyFile(path, key));
  return key;
}

}  // namespace

Result<crypto::PrivateKey> ReadKey(const std::string& path) {
  auto read = ReadFileText(path);
  if (!read) return MakeError(Errc::kUnavailable, "key file: " + read.error().message);
  auto key = crypto::PrivateKey::Parse(TrimSpace(*read));
  if (!key || key->IsZero()) {
    return MakeError(Errc::kDataLoss, "key file " + path +
                                          " is not a private key (expected \"privkey:\" and "
                                          "64 hex digits); move it away to generate a new one");
  }
  return key;
}

Result<void> EnsureParentDir(const std::string& file_path) {
  auto parent = std::filesystem::path(file_path).parent_path();
  if (parent.empty()) return {};
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  if (ec) {
    return MakeError(Errc::kUnavailable,
                     "cannot create directory " + parent.string() + ": " + ec.message());
  }
  return {};
}

Result<void> WriteKeyFile(const std::string& path, const crypto::PrivateKey& key) {
  KEEL_TRY(EnsureParentDir(path));
  std::string text = key.ToText() + "\n";
  // O_EXCL: never overwrite a key another process has just written.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return SysError("cannot create key file", path);
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  int saved = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    errno = saved;
    return SysError("cannot write key file", path);
  }
  return {};
}

Result<crypto::PrivateKey> LoadOrCreateKey(const std::string& path, spdlog::logger& logger) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return ReadKey(path);
  if (errno != ENOENT) return SysError("cannot access key file", path);
  auto key = WriteNewKey(path);
  if (key) logger.info("generated a new private key in {}", path);
  return key;
}

}  // namespace keel::app
