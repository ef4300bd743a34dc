#pragma once
// RunBlocking: run a blocking or CPU-heavy call on the worker pool and resume the calling
// coroutine on its own executor with the result (architecture.md decision 1).

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <type_traits>
#include <utility>

namespace keel {

// `fn` is moved into the spawned coroutine's frame, so its captures live as long as the call.
template <class Fn>
boost::asio::awaitable<std::invoke_result_t<Fn>> RunBlocking(boost::asio::thread_pool& pool,
                                                             Fn fn) {
  using R = std::invoke_result_t<Fn>;
  co_return co_await boost::asio::co_spawn(
      pool.get_executor(),
      [fn = std::move(fn)]() mutable -> boost::asio::awaitable<R> { co_return fn(); },
      boost::asio::use_awaitable);
}

}  // namespace keel
