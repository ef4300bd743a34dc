#pragma once
// Small helpers every fuzz harness uses.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <cstdlib>
#include <exception>

#include "crypto/keys.h"

namespace keel::fuzz {

// A property the harness checks; a violation is a finding, so it aborts for libFuzzer to see.
inline void Check(bool ok) {
  if (!ok) std::abort();
}

// A private key of 32 equal bytes: fixed keys keep runs repeatable and coverage meaningful.
inline crypto::PrivateKey FixedKey(uint8_t fill) {
  crypto::Key32 raw;
  raw.fill(fill);
  return crypto::PrivateKey(raw);
}

// Runs `work` on `io` until nothing is left to do; it must have finished by then (a coroutine
// still waiting is a hang, hence a finding), and an exception out of it is one too.
inline void RunToCompletion(boost::asio::io_context& io, boost::asio::awaitable<void> work) {
  bool done = false;
  boost::asio::co_spawn(io, std::move(work), [&](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
    done = true;
  });
  io.restart();
  io.run();
  Check(done);
}

}  // namespace keel::fuzz
