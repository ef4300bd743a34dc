#pragma once
// Request and Response values shared by the HTTP/1.1 server, the HTTP/2 server and handlers.
// Plain data; nothing here knows of Tailscale.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keel::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

// ASCII case-insensitive equality, for header names.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// The URL-decoded value of the first `key=` in `encoded` (a query string or an
// application/x-www-form-urlencoded body); nullopt if absent.
std::optional<std::string> FormValue(std::string_view encoded, std::string_view key);

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as received: path plus query
  std::string path;    // target without the query, not decoded
  std::string query;   // after '?', not decoded
  Headers headers;     // names as received
  std::string body;
  std::string remote;  // peer address, for logs

  // Case-insensitive lookup; empty if absent.
  std::string_view Header(std::string_view name) const;
  // URL-decoded value of the first `key=` in the query; nullopt if absent.
  std::optional<std::string> Query(std::string_view key) const { return FormValue(query, key); }
  // The value of cookie `name` in the Cookie header(s); nullopt if absent.
  std::optional<std::string> Cookie(std::string_view name) const;
};

struct Response {
  int status = 200;
  Headers headers;
  std::string body;

  static Response Text(int status, std::string body);  // text/plain; charset=utf-8
  static Response Json(int status, std::string body);  // application/json
};

}  // namespace keel::http
