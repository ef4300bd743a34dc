#pragma once
// FileWatch: calls back when a file is written or replaced (an editor's rename), using
// inotify on the file's folder so a replaced file is still seen. The callback runs on the
// executor given; it should re-read the file and keep the old contents if the new ones are
// bad. Stop() (or destruction) ends the watch.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <memory>
#include <string>

#include "base/result.h"

namespace keel::app {

class FileWatch {
 public:
  static Result<std::unique_ptr<FileWatch>> Create(boost::asio::any_io_executor executor,
                                                   const std::string& path,
                                                   std::function<void()> on_change);
  ~FileWatch();
  void Stop();

 private:
  FileWatch(boost::asio::any_io_executor executor, std::string name, std::function<void()> cb);
  void Read();

  boost::asio::posix::stream_descriptor fd_;
  std::string name_;  // the file's name within its watched folder
  std::function<void()> on_change_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  char buf_[4096];
};

}  // namespace keel::app
