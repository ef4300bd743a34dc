#include "base/file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace keel {

Result<std::string> ReadFileText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return MakeError(errno == ENOENT ? Errc::kNotFound : Errc::kUnavailable,
                     "cannot read " + path + ": " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return MakeError(Errc::kUnavailable, "cannot read " + path);
  return text.str();
}

}  // namespace keel
