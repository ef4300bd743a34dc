#pragma once
// AdminApi: the operator's JSON API under /api/v1/ (users, pre-auth keys, nodes), served on
// the unix socket that the `keel` CLI talks to. Access control is the socket's file mode;
// there is no API-key auth yet.
//
//   GET    /api/v1/user                      list users
//   POST   /api/v1/user                      {name, display_name?, email?}
//   DELETE /api/v1/user/<name>
//   GET    /api/v1/preauthkey[?user=NAME]
//   POST   /api/v1/preauthkey                {user, reusable?, ephemeral?, expiration?, tags?}
//   POST   /api/v1/preauthkey/expire         {key}
//   GET    /api/v1/node
//   DELETE /api/v1/node/<id>
//   POST   /api/v1/node/<id>/expire
//   POST   /api/v1/node/<id>/rename/<name>
//   GET    /api/v1/policy                    {policy, updated_at, mode}
//   PUT    /api/v1/policy                    {policy}   (409 in file mode)
//   POST   /api/v1/policy/check              {policy}   validate against the live tailnet
//
// Errors are {"error": "..."} with the status from StatusFor().
// Threading: handlers run on the HTTP server's executor; every Tailnet call (they block on
// the store) goes to the worker pool through RunBlocking.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <spdlog/logger.h>

#include "base/clock.h"
#include "base/result.h"
#include "http/message.h"
#include "http/server.h"
#include "tailnet/auth_requests.h"
#include "tailnet/tailnet.h"

namespace keel::api {

class AdminApi {
 public:
  // `tailnet`, `pool` and `clock` must outlive the api; the api must outlive the router's
  // server.
  AdminApi(tailnet::Tailnet& tailnet, boost::asio::thread_pool& pool, const Clock& clock,
           std::shared_ptr<spdlog::logger> logger);

  // policy.mode file: PUT /api/v1/policy is refused, pointing at `path` (SIGHUP reloads it).
  void SetPolicyFileMode(std::string path) { policy_file_ = std::move(path); }
  // POST auth/approve and auth/reject ({"authId": ...}) decide requests in `auth`, which must
  // outlive the api. Without it they answer 404.
  void SetAuthRequests(tailnet::AuthRequests& auth) { auth_ = &auth; }

  // Adds the /api/v1/ routes to `router`.
  void RegisterRoutes(http::Router& router);

  // Answers one request under /api/v1/ (what the routes call; public for tests).
  boost::asio::awaitable<http::Response> Handle(http::Request request);

 private:
  using Reply = boost::asio::awaitable<Result<http::Response>>;
  Reply Dispatch(const http::Request& req);
  Reply Users(const http::Request& req);
  Reply RenameUser(std::string_view id, const std::string& new_name);
  Reply DeleteUser(const std::string& name);
  Reply PreAuthKeys(const http::Request& req);
  Reply ExpirePreAuthKey(const http::Request& req);
  Reply Nodes();
  Reply NodeAction(const http::Request& req, std::string_view rest);
  Reply Policy(const http::Request& req);  // policy_api.cc
  Reply CheckPolicy(const http::Request& req);
  Reply DecideAuth(const http::Request& req, bool approve);

  tailnet::Tailnet& tailnet_;
  boost::asio::thread_pool& pool_;
  const Clock& clock_;
  std::shared_ptr<spdlog::logger> logger_;
  std::optional<std::string> policy_file_;
  tailnet::AuthRequests* auth_ = nullptr;
};

// The one mapping from Errc to an HTTP status.
int StatusFor(Errc code);

// {"error": message} with StatusFor(error.code).
http::Response ErrorResponse(const Error& error);

// `body` serialized as a JSON response.
http::Response JsonReply(int status, const nlohmann::json& body);

// 405 {"error": "method M not allowed on PATH"}.
http::Response MethodNotAllowed(const http::Request& req);

}  // namespace keel::api
