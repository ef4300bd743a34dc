#pragma once
// AdminApi: the operator's REST API under /api/v1/, with Headscale 0.29's paths, verbs and
// JSON shapes (render.h), so Headscale's scripts and web UIs work against keel.
//
//   GET    user[?id=&name=&email=]         {users}        POST user {name, displayName, email}
//   DELETE user/{id}                                      POST user/{id}/rename/{newName}
//   GET    preauthkey[?user=]              {preAuthKeys}  POST preauthkey {user, reusable,
//   POST   preauthkey/expire {id}                               ephemeral, expiration, aclTags}
//   DELETE preauthkey?id=
//   GET    node[?user=]                    {nodes}        GET/DELETE node/{id}
//   POST   node/{id}/expire[?expiry=&disableExpiry=]      POST node/{id}/rename/{newName}
//   POST   node/{id}/tags {tags}                          POST node/{id}/approve_routes {routes}
//   POST   node/backfillips?confirmed=true {changes}
//   GET    apikey {apiKeys}   POST apikey {expiration}   POST apikey/expire {prefix|id}
//   DELETE apikey/{prefix}[?id=]
//   GET/PUT policy {policy, updatedAt}   POST policy/check {policy}
//   POST   auth/approve, auth/reject {authId}            GET health {databaseConnectivity}
//   GET    openapi.yaml                  the OpenAPI 3.1 description of all of this
//
// Where Headscale takes an id, keel also takes a name (user/{name}, preauthkey {user: name}).
// Errors are RFC 7807 application/problem+json ({type, title, status, detail}) and also carry
// grpc-gateway's {code, message}, which Headscale's clients read.
//
// Over TCP every request needs "Authorization: Bearer <API key>" (ApiKeys); the unix socket
// is guarded by its file mode and needs none.
// Threading: handlers run on the HTTP server's executor; every call that blocks on the store
// goes to the worker pool through RunBlocking.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <spdlog/logger.h>

#include "api/api_keys.h"
#include "base/clock.h"
#include "base/result.h"
#include "http/message.h"
#include "http/server.h"
#include "tailnet/auth_requests.h"
#include "tailnet/tailnet.h"

namespace keel::api {

class AdminApi {
 public:
  // `tailnet`, `keys`, `pool` and `clock` must outlive the api; the api must outlive the
  // routers' servers.
  AdminApi(tailnet::Tailnet& tailnet, ApiKeys& keys, boost::asio::thread_pool& pool,
           const Clock& clock, std::shared_ptr<spdlog::logger> logger);

  // policy.mode file: PUT /api/v1/policy is refused, pointing at `path` (SIGHUP reloads it).
  void SetPolicyFileMode(std::string path) { policy_file_ = std::move(path); }
  // POST auth/register, auth/approve and auth/reject ({"authId": ...}) decide the logins and
  // SSH checks waiting in `auth`, which must outlive the api. Without it they answer 404.
  void SetAuthRequests(tailnet::AuthRequests& auth) { auth_ = &auth; }

  // Adds the /api/v1/ routes to `router`; with `require_key` each request must carry a valid
  // API key (the TCP listener), without it none is asked (the unix socket).
  void RegisterRoutes(http::Router& router, bool require_key);

  // Answers one request under /api/v1/ (what the routes call; public for tests).
  boost::asio::awaitable<http::Response> Handle(http::Request request, bool require_key);

 private:
  using Reply = boost::asio::awaitable<Result<http::Response>>;
  Reply Dispatch(const http::Request& req);
  Reply Users(const http::Request& req);
  Reply RenameUser(std::string_view id, const std::string& new_name);
  Reply DeleteUser(const std::string& id_or_name);
  Reply PreAuthKeys(const http::Request& req);  // preauthkey_api.cc
  Reply ExpirePreAuthKey(const http::Request& req);
  Reply Nodes(const http::Request& req);  // node_api.cc
  Reply NodeAction(const http::Request& req, std::string_view rest);
  Reply NodeReply(model::NodeId id, const Result<model::Node>& changed);
  Reply BackfillIps(const http::Request& req);
  Reply ApiKeyRoutes(const http::Request& req, std::string_view rest);
  Reply Policy(const http::Request& req);  // policy_api.cc
  Reply CheckPolicy(const http::Request& req);
  Reply DecideAuth(const http::Request& req, bool approve);  // auth_api.cc
  Reply RegisterLogin(const http::Request& req, bool legacy_node_register);
  Reply Health();

  // The user named by a decimal id or, failing that, by name.
  Result<model::User> ResolveUser(const std::string& id_or_name) const;

  tailnet::Tailnet& tailnet_;
  ApiKeys& keys_;
  boost::asio::thread_pool& pool_;
  const Clock& clock_;
  std::shared_ptr<spdlog::logger> logger_;
  std::optional<std::string> policy_file_;
  tailnet::AuthRequests* auth_ = nullptr;
};

// The one mapping from Errc to an HTTP status.
int StatusFor(Errc code);

// An RFC 7807 problem for `error`, with StatusFor(error.code).
http::Response ErrorResponse(const Error& error);

// `body` serialized as a JSON response.
http::Response JsonReply(int status, const nlohmann::json& body);

// 405 problem "method M not allowed on PATH".
http::Response MethodNotAllowed(const http::Request& req);

}  // namespace keel::api
