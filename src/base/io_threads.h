#pragma once
// IoThreads: N io_contexts, each run by one thread of its own, handed out round-robin. What is
// placed on one of them (a connection's socket, its timers and coroutines) is served by that
// single thread, so it needs no locks of its own; only state shared between connections does.
// This is how a listener spreads connections over the cores (one event loop per thread).
// Threading: construct and destroy on one thread; Next() from any thread.

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

namespace keel {

class IoThreads {
 public:
  explicit IoThreads(size_t count);  // at least one thread, whatever `count` says
  ~IoThreads();                      // Join()
  IoThreads(const IoThreads&) = delete;
  IoThreads& operator=(const IoThreads&) = delete;

  size_t size() const { return loops_.size(); }
  // The next loop's executor, round-robin.
  boost::asio::any_io_executor Next();

  // Lets each loop finish the work it still holds (REQUIRES: its owner has closed what it
  // placed there), waiting up to `grace`; then stops the loops and joins the threads. What is
  // left is destroyed with the io_contexts. Idempotent.
  void Join(std::chrono::milliseconds grace = std::chrono::milliseconds(2000));

 private:
  struct Loop {
    boost::asio::io_context io{1};
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{
        io.get_executor()};
    std::thread thread;
    std::atomic<bool> done{false};
  };
  std::vector<std::unique_ptr<Loop>> loops_;
  std::atomic<size_t> next_{0};
};

}  // namespace keel
