#pragma once
// The CLI's HTTP/1.1 client for the admin API of a running `keel serve` (Beast): over the
// unix socket of the config, or over TCP (http:// or https://) to a remote keel with an API
// key. One request per connection; blocking for the caller.
// Threading: any thread; each call runs its own io_context.

#include <chrono>
#include <string>

#include "base/result.h"

namespace keel::cli {

struct ApiEndpoint {
  std::string unix_socket;  // used when `url` is empty
  std::string url;          // "http://host:port" or "https://host:port"
  std::string api_key;      // sent as "Authorization: Bearer" over TCP
  bool insecure = false;    // https: do not verify the server's certificate
};

struct HttpReply {
  int status = 0;
  std::string body;
};

// Sends `method target` with a JSON `body` (omitted when empty). kUnavailable with "cannot
// reach keel at ...: is `keel serve` running?" when nothing answers there; kUnavailable on a
// timeout or a broken reply; kDataLoss when a request that changes state was sent but no
// answer came, so its outcome is unknown.
Result<HttpReply> ApiRequest(const ApiEndpoint& endpoint, const std::string& method,
                             const std::string& target, const std::string& body = "",
                             std::chrono::seconds timeout = std::chrono::seconds(30));

}  // namespace keel::cli
