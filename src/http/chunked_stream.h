#pragma once
// A ResponseStream over an HTTP/1.1 connection: the status line and headers, then each Write
// as one chunk, flushed at once, so a long poll's frames reach the client as they are made.
// Internal to the http module. Threading: the connection's executor only.

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <memory>
#include <spdlog/logger.h>

#include "http/server_internal.h"

namespace keel::http::internal {

// Runs `handler` for `req` and streams its response on `socket` until the handler finishes or
// the client goes away (which cancels the handler). The connection must close afterwards.
boost::asio::awaitable<void> ServeStreamed(Socket& socket, const StreamHandler& handler, Request req,
                                           unsigned version, std::shared_ptr<spdlog::logger> logger);

}  // namespace keel::http::internal
