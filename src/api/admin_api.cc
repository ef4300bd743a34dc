#include "api/admin_api.h"

#include "api/openapi_doc.h"
#include "api/render.h"
#include "api/request.h"
#include "base/run_blocking.h"

namespace keel::api {
namespace {

using boost::asio::awaitable;
using http::Request;
using http::Response;
using nlohmann::json;

constexpr std::string_view kPrefix = "/api/v1/";
constexpr std::string_view kBearer = "Bearer ";

// grpc's status code for an Errc, as grpc-gateway reports it in {"code"}.
int GrpcCode(Errc code) {
  switch (code) {
    case Errc::kInvalidArgument: return 3;
    case Errc::kNotFound: return 5;
    case Errc::kAlreadyExists: return 6;
    case Errc::kPermissionDenied: return 7;
    case Errc::kResourceExhausted: return 8;
    case Errc::kFailedPrecondition: return 9;
    case Errc::kUnsupported: return 12;
    case Errc::kInternal: return 13;
    case Errc::kUnavailable: return 14;
    case Errc::kDataLoss: return 15;
    case Errc::kUnauthenticated: return 16;
  }
  return 2;
}

std::string_view Title(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
  }
}

Response Problem(int status, int grpc_code, const std::string& detail) {
  json body = {{"type", "about:blank"}, {"title", Title(status)}, {"status", status},
               {"detail", detail},      {"code", grpc_code},      {"message", detail}};
  return Response{status, {{"Content-Type", "application/problem+json"}}, body.dump()};
}

}  // namespace

int StatusFor(Errc code) {
  switch (code) {
    case Errc::kInvalidArgument: return 400;
    case Errc::kUnauthenticated: return 401;
    case Errc::kPermissionDenied: return 403;
    case Errc::kNotFound: return 404;
    case Errc::kAlreadyExists:
    case Errc::kFailedPrecondition:
    case Errc::kResourceExhausted: return 409;
    case Errc::kUnsupported: return 501;
    case Errc::kUnavailable: return 503;
    case Errc::kInternal:
    case Errc::kDataLoss: return 500;
  }
  return 500;
}

Response ErrorResponse(const Error& error) {
  return Problem(StatusFor(error.code), GrpcCode(error.code), error.message);
}

Response JsonReply(int status, const json& body) { return Response::Json(status, body.dump()); }

Response MethodNotAllowed(const Request& req) {
  return Problem(405, 12, "method " + req.method + " not allowed on " + req.path);
}

AdminApi::AdminApi(tailnet::Tailnet& tailnet, ApiKeys& keys, boost::asio::thread_pool& pool,
                   const Clock& clock, std::shared_ptr<spdlog::logger> logger)
    : tailnet_(tailnet), keys_(keys), pool_(pool), clock_(clock), logger_(std::move(logger)) {}

void AdminApi::RegisterRoutes(http::Router& router, bool require_key) {
  auto handler = [this, require_key](Request req) -> awaitable<Response> {
    return Handle(std::move(req), require_key);
  };
  router.HandlePrefix(std::string(kPrefix), handler);
  router.Handle("/api/v1", handler);
}

awaitable<Response> AdminApi::Handle(Request request, bool require_key) {
  if (require_key) {
    std::string_view header = request.Header("Authorization");
    if (!header.starts_with(kBearer)) {
      co_return Problem(401, 16, "missing \"Authorization: Bearer <API key>\" header");
    }
    std::string key(header.substr(kBearer.size()));
    auto checked = co_await RunBlocking(pool_, [&] { return keys_.Check(key); });
    if (!checked) {
      // The key itself is never logged, only that one was refused and from where.
      logger_->info("refused API request from {}: {}", request.remote, checked.error().message);
      co_return ErrorResponse(checked.error());
    }
  }
  Result<Response> r = co_await Dispatch(request);
  if (!r) {
    if (StatusFor(r.error().code) >= 500) {
      logger_->error("{} {}: {}", request.method, request.path, r.error().message);
    }
    co_return ErrorResponse(r.error());
  }
  co_return std::move(*r);
}

AdminApi::Reply AdminApi::Dispatch(const Request& req) {
  std::string_view rest = req.path;
  if (rest.starts_with(kPrefix)) {
    rest.remove_prefix(kPrefix.size());
  } else {
    rest = {};
  }
  while (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest == "user") co_return co_await Users(req);
  if (rest.starts_with("user/")) {
    std::string_view tail = rest.substr(5);
    if (size_t r = tail.find("/rename/"); r != std::string_view::npos) {
      if (req.method != "POST") co_return MethodNotAllowed(req);
      co_return co_await RenameUser(tail.substr(0, r), PathDecode(tail.substr(r + 8)));
    }
    if (req.method != "DELETE") co_return MethodNotAllowed(req);
    co_return co_await DeleteUser(PathDecode(tail));
  }
  if (rest == "preauthkey") co_return co_await PreAuthKeys(req);
  if (rest == "preauthkey/expire") {
    if (req.method != "POST") co_return MethodNotAllowed(req);
    co_return co_await ExpirePreAuthKey(req);
  }
  if (rest == "auth/register" || rest == "node/register") {
    if (req.method != "POST") co_return MethodNotAllowed(req);
    co_return co_await RegisterLogin(req, rest == "node/register");
  }
  if (rest == "node") co_return co_await Nodes(req);
  if (rest == "node/backfillips") co_return co_await BackfillIps(req);
  if (rest.starts_with("node/")) co_return co_await NodeAction(req, rest.substr(5));
  if (rest == "apikey" || rest.starts_with("apikey/")) {
    co_return co_await ApiKeyRoutes(req, rest.substr(6));
  }
  if (rest == "auth/approve" || rest == "auth/reject") {
    if (req.method != "POST") co_return MethodNotAllowed(req);
    co_return co_await DecideAuth(req, rest == "auth/approve");
  }
  if (rest == "policy") co_return co_await Policy(req);
  if (rest == "policy/check") co_return co_await CheckPolicy(req);
  if (rest == "health") co_return co_await Health();
  if (rest == "openapi.yaml") {
    if (req.method != "GET") co_return MethodNotAllowed(req);
    co_return Response{200, {{"Content-Type", "application/yaml"}}, std::string(OpenApiYaml())};
  }
  co_return MakeError(Errc::kNotFound, "no such endpoint: " + req.path);
}

Result<model::User> AdminApi::ResolveUser(const std::string& id_or_name) const {
  auto snap = tailnet_.snapshot();
  if (auto id = ParseId(id_or_name, "user")) {
    if (const model::User* user = snap->FindUser(*id)) return *user;
  }
  if (const model::User* user = snap->FindUserByName(id_or_name)) return *user;
  return MakeError(Errc::kNotFound, "user \"" + id_or_name + "\" not found");
}

AdminApi::Reply AdminApi::Users(const Request& req) {
  if (req.method == "GET") {
    // Headscale's filters; each given one must match.
    auto id = req.Query("id");
    auto name = req.Query("name");
    auto email = req.Query("email");
    auto users = co_await RunBlocking(pool_, [&] { return tailnet_.ListUsers(); });
    json out = json::array();
    for (const auto& u : users) {
      if (id && !id->empty() && std::to_string(u.id) != *id) continue;
      if (name && !name->empty() && u.name != *name) continue;
      if (email && !email->empty() && u.email != *email) continue;
      out.push_back(UserJson(u));
    }
    co_return JsonReply(200, {{"users", std::move(out)}});
  }
  if (req.method != "POST") co_return MethodNotAllowed(req);
  auto body = ParseBody(req.body);
  if (!body) co_return body.error();
  auto name = Field<std::string>(*body, "name");
  auto display = Field<std::string>(*body, "displayName");
  auto email = Field<std::string>(*body, "email");
  auto picture = Field<std::string>(*body, "pictureUrl");
  for (const auto* f : {&name, &display, &email, &picture}) {
    if (!*f) co_return f->error();
  }
  if (name->empty()) co_return BadRequest("field \"name\" is required");
  auto user = co_await RunBlocking(
      pool_, [&] { return tailnet_.CreateUser(*name, *display, *email); });
  if (!user) co_return user.error();
  logger_->info("created user {}", user->name);
  co_return JsonReply(200, {{"user", UserJson(*user)}});
}

// POST user/<id>/rename/<new name>.
AdminApi::Reply AdminApi::RenameUser(std::string_view id_text, const std::string& new_name) {
  auto user = ResolveUser(PathDecode(id_text));
  if (!user) co_return user.error();
  auto renamed =
      co_await RunBlocking(pool_, [&] { return tailnet_.RenameUser(user->id, new_name); });
  if (!renamed) co_return renamed.error();
  logger_->info("renamed user {} to {}", user->name, renamed->name);
  co_return JsonReply(200, {{"user", UserJson(*renamed)}});
}

AdminApi::Reply AdminApi::DeleteUser(const std::string& id_or_name) {
  auto user = ResolveUser(id_or_name);
  if (!user) co_return user.error();
  auto r = co_await RunBlocking(pool_, [&] { return tailnet_.DeleteUser(user->name); });
  if (!r) co_return r.error();
  logger_->info("deleted user {}", user->name);
  co_return JsonReply(200, json::object());
}

// apikey (GET list, POST create), apikey/expire (POST), apikey/<prefix> (DELETE).
AdminApi::Reply AdminApi::ApiKeyRoutes(const Request& req, std::string_view rest) {
  if (rest.starts_with('/')) rest.remove_prefix(1);
  if (rest.empty() && req.method == "GET") {
    json out = json::array();
    for (const auto& key : keys_.List()) out.push_back(ApiKeyJson(key));
    co_return JsonReply(200, {{"apiKeys", std::move(out)}});
  }
  if (rest.empty() && req.method == "POST") {
    auto body = ParseBody(req.body);
    if (!body) co_return body.error();
    auto text = Field<std::string>(*body, "expiration");
    if (!text) co_return text.error();
    SystemTime expiration = ZeroTime();
    if (!text->empty()) {
      auto t = ParseTime(*text);
      if (!t) co_return BadRequest("expiration \"" + *text + "\" is not RFC 3339");
      expiration = *t;
    }
    auto created = co_await RunBlocking(pool_, [&] { return keys_.Create(expiration); });
    if (!created) co_return created.error();
    logger_->info("created API key {}", ApiKeys::MaskedPrefix(created->key));
    co_return JsonReply(200, {{"apiKey", created->text}});
  }
  if (rest == "expire" && req.method == "POST") {
    auto body = ParseBody(req.body);
    if (!body) co_return body.error();
    auto prefix = Field<std::string>(*body, "prefix");
    auto id = IdField(*body, "id");
    if (!prefix) co_return prefix.error();
    if (!id) co_return id.error();
    auto r = co_await RunBlocking(pool_, [&] { return keys_.Expire(*prefix, *id); });
    if (!r) co_return r.error();
    logger_->info("expired API key {}", *prefix);
    co_return JsonReply(200, json::object());
  }
  if (!rest.empty() && rest != "expire" && req.method == "DELETE") {
    std::string prefix = PathDecode(rest);
    auto id = ParseId(req.Query("id").value_or("0"), "API key");
    if (!id) co_return id.error();
    auto r = co_await RunBlocking(pool_, [&] { return keys_.Delete(prefix, *id); });
    if (!r) co_return r.error();
    logger_->info("deleted API key {}", prefix);
    co_return JsonReply(200, json::object());
  }
  co_return MethodNotAllowed(req);
}

// Headscale's {"databaseConnectivity"}: the store answered a read.
AdminApi::Reply AdminApi::Health() {
  auto r = co_await RunBlocking(pool_, [&] { return tailnet_.CheckStore(); });
  if (!r) logger_->warn("health check: {}", r.error().message);
  co_return JsonReply(200, {{"databaseConnectivity", static_cast<bool>(r)}});
}

}  // namespace keel::api
