#pragma once
// An HTTP/1.1 client for the few requests keel itself makes to other servers (an identity
// provider's discovery document, keys, token and userinfo endpoints): Beast over TCP, with
// OpenSSL for https:// (the system's trust store, host name checked). One request per
// connection; a coroutine on the caller's executor, bounded by a timeout and a body limit.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <string>
#include <string_view>

#include "base/result.h"
#include "http/message.h"

namespace keel::http {

struct Url {
  bool tls = false;
  std::string host;    // without brackets
  std::string port;    // "80"/"443" when the URL names none
  std::string target;  // path and query, "/" when empty
};

// "http(s)://host[:port][/path][?query]"; a fragment is dropped. kInvalidArgument otherwise.
Result<Url> ParseUrl(std::string_view url);

struct ClientRequest {
  std::string method = "GET";
  std::string url;
  Headers headers;  // Host, User-Agent and Content-Length are set by Fetch
  std::string body;
  std::chrono::milliseconds timeout{10000};  // the whole exchange, connect to last byte
  size_t max_body_bytes = 1024 * 1024;
};

struct ClientResponse {
  int status = 0;
  Headers headers;
  std::string body;

  std::string_view Header(std::string_view name) const;
};

// Sends `request` and reads the whole response. kUnavailable when the server cannot be
// reached, the TLS handshake fails, the time runs out or the reply is broken or too large;
// the message names the URL without its query (which may carry secrets).
boost::asio::awaitable<Result<ClientResponse>> Fetch(ClientRequest request);

}  // namespace keel::http
