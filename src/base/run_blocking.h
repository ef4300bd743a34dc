#pragma once
// RunBlocking: run a blocking or CPU-heavy call on the worker pool and resume the calling
// coroutine on its own executor with the result (architecture.md decision 1).

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <type_traits>
#include <utility>

namespace keel {

// `fn` stays in this coroutine's frame, which is suspended until the pool has run it, so
// references it captures from the caller stay valid.
//
// GCC 12 destroys aggregate temporaries written inside a co_await expression twice (a lambda
// closure is one): `co_await RunBlocking(pool, [s] {...})` double-frees `s`. Lambdas capturing
// only references or `this` are harmless; any other lambda must be named first and moved in:
//   auto call = [input = std::move(input)] { ... };
//   auto r = co_await RunBlocking(pool, std::move(call));
template <class Fn>
boost::asio::awaitable<std::invoke_result_t<Fn&>> RunBlocking(boost::asio::thread_pool& pool,
                                                              Fn fn) {
  using R = std::invoke_result_t<Fn&>;
  auto caller = co_await boost::asio::this_coro::executor;
  if constexpr (std::is_void_v<R>) {
    auto initiate = [&pool, &fn, caller](auto handler) {
      boost::asio::post(pool, [&fn, caller, h = std::move(handler)]() mutable {
        fn();
        boost::asio::post(caller, std::move(h));
      });
    };
    co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void()>(
        std::move(initiate), boost::asio::use_awaitable);
  } else {
    std::optional<R> result;
    auto initiate = [&pool, &fn, &result, caller](auto handler) {
      boost::asio::post(pool, [&fn, &result, caller, h = std::move(handler)]() mutable {
        result.emplace(fn());
        boost::asio::post(caller, std::move(h));
      });
    };
    co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void()>(
        std::move(initiate), boost::asio::use_awaitable);
    co_return std::move(*result);
  }
}

}  // namespace keel
