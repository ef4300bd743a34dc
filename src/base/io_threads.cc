#include "base/io_threads.h"

#include <algorithm>

namespace keel {

IoThreads::IoThreads(size_t count) {
  for (size_t i = 0; i < std::max<size_t>(count, 1); ++i) {
    auto loop = std::make_unique<Loop>();
    Loop* l = loop.get();
    loop->thread = std::thread([l] {
      l->io.run();
      l->done = true;
    });
    loops_.push_back(std::move(loop));
  }
}

IoThreads::~IoThreads() { Join(); }

boost::asio::any_io_executor IoThreads::Next() {
  size_t i = next_.fetch_add(1, std::memory_order_relaxed) % loops_.size();
  return loops_[i]->io.get_executor();
}

void IoThreads::Join(std::chrono::milliseconds grace) {
  for (auto& l : loops_) l->work.reset();
  auto deadline = std::chrono::steady_clock::now() + grace;
  for (auto& l : loops_) {
    while (!l->done && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  for (auto& l : loops_) {
    l->io.stop();
    if (l->thread.joinable()) l->thread.join();
  }
}

}  // namespace keel
