#pragma once
// A minimal HTTP/1.1 client over a unix socket (Beast), used by the CLI to call the admin API
// of a running `keel serve`. One request per connection; blocking for the caller.
// Threading: any thread; each call runs its own io_context.

#include <chrono>
#include <string>

#include "base/result.h"

namespace keel::cli {

struct HttpReply {
  int status = 0;
  std::string body;
};

// Sends `method target` with a JSON `body` (omitted when empty) to the server listening on
// `socket_path`. kUnavailable with "cannot reach keel at ...: is `keel serve` running?" when
// nothing listens there; kUnavailable on timeout or a broken reply.
Result<HttpReply> UnixHttpRequest(const std::string& socket_path, const std::string& method,
                                  const std::string& target, const std::string& body = "",
                                  std::chrono::seconds timeout = std::chrono::seconds(30));

}  // namespace keel::cli
