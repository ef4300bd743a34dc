#include "base/run_blocking.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>
#include <thread>

#include "base/result.h"

namespace keel {
namespace {

TEST(RunBlocking, RunsOnPoolAndReturnsToCaller) {
  boost::asio::io_context io;
  boost::asio::thread_pool pool(2);
  auto io_thread = std::this_thread::get_id();
  bool done = false;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        auto r = co_await RunBlocking(pool, [&]() -> Result<int> {
          EXPECT_NE(std::this_thread::get_id(), io_thread);
          return 42;
        });
        EXPECT_EQ(std::this_thread::get_id(), io_thread);
        EXPECT_EQ(r.value(), 42);
        auto e = co_await RunBlocking(pool, []() -> Result<void> {
          return MakeError(Errc::kNotFound, "x");
        });
        EXPECT_FALSE(e);
        done = true;
      },
      boost::asio::detached);
  io.run();
  pool.join();
  EXPECT_TRUE(done);
}

}  // namespace
}  // namespace keel
