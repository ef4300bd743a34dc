#include "app/file_watch.h"

#include <sys/inotify.h>

#include <cstring>
#include <filesystem>

namespace keel::app {

Result<std::unique_ptr<FileWatch>> FileWatch::Create(boost::asio::any_io_executor executor,
                                                     const std::string& path,
                                                     std::function<void()> on_change) {
  std::filesystem::path p(path);
  std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return MakeError(Errc::kInternal, std::string("inotify: ") + std::strerror(errno));
  // Finished writes, and the renames by which editors and tools replace a file.
  if (::inotify_add_watch(fd, dir.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return MakeError(Errc::kNotFound, "cannot watch " + dir + ": " + why);
  }
  std::unique_ptr<FileWatch> w(new FileWatch(executor, p.filename().string(), std::move(on_change)));
  w->fd_.assign(fd);
  w->Read();
  return w;
}

FileWatch::FileWatch(boost::asio::any_io_executor executor, std::string name,
                     std::function<void()> cb)
    : fd_(std::move(executor)), name_(std::move(name)), on_change_(std::move(cb)) {}

FileWatch::~FileWatch() { Stop(); }

void FileWatch::Stop() {
  *alive_ = false;
  boost::system::error_code ec;
  fd_.close(ec);
}

void FileWatch::Read() {
  fd_.async_read_some(boost::asio::buffer(buf_), [this, alive = alive_](
                                                     const boost::system::error_code& ec, size_t n) {
    if (ec || !*alive) return;
    bool ours = false;
    for (size_t off = 0; off + sizeof(inotify_event) <= n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf_ + off);
      if (ev->len > 0 && name_ == ev->name) ours = true;
      off += sizeof(inotify_event) + ev->len;
    }
    if (ours) on_change_();
    if (*alive) Read();
  });
}

}  // namespace keel::app
