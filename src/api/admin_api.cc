#include "api/admin_api.h"

#include <charconv>

#include "api/render.h"
#include "base/run_blocking.h"

namespace keel::api {
namespace {

using boost::asio::awaitable;
using http::Request;
using http::Response;
using nlohmann::json;

constexpr std::string_view kPrefix = "/api/v1/";

Error BadRequest(std::string message) {
  return MakeError(Errc::kInvalidArgument, std::move(message));
}

Result<json> ParseBody(const std::string& body) {
  json j = json::parse(body.empty() ? std::string("{}") : body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return BadRequest("request body must be a JSON object");
  }
  // json converts to almost anything, so the implicit conversion to Result is ambiguous.
  return Result<json>(boost::system::in_place_value, std::move(j));
}

// An optional field: absent or null gives the type's empty value.
template <class T>
Result<T> Field(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return T{};
  bool ok = false;
  if constexpr (std::is_same_v<T, std::string>) {
    ok = it->is_string();
  } else if constexpr (std::is_same_v<T, bool>) {
    ok = it->is_boolean();
  } else {
    ok = it->is_array();
    for (const auto& item : *it) ok = ok && item.is_string();
  }
  if (!ok) return BadRequest(std::string("field \"") + key + "\" has the wrong type");
  return it->get<T>();
}

// Path segments are percent-encoded by clients; '+' stays literal (unlike query strings).
std::string PathDecode(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    unsigned value = 0;
    if (in[i] == '%' && i + 2 < in.size() &&
        std::from_chars(in.data() + i + 1, in.data() + i + 3, value, 16).ptr ==
            in.data() + i + 3) {
      out.push_back(static_cast<char>(value));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

// A decimal id from a path segment or query value; `what` names it in the error.
Result<uint64_t> ParseId(std::string_view text, std::string_view what = "node") {
  uint64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return BadRequest("invalid " + std::string(what) + " id \"" + std::string(text) + "\"");
  }
  return id;
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
  return JsonReply(StatusFor(error.code), {{"error", error.message}});
}

Response JsonReply(int status, const json& body) { return Response::Json(status, body.dump()); }

Response MethodNotAllowed(const Request& req) {
  return JsonReply(405, {{"error", "method " + req.method + " not allowed on " + req.path}});
}

AdminApi::AdminApi(tailnet::Tailnet& tailnet, boost::asio::thread_pool& pool, const Clock& clock,
                   std::shared_ptr<spdlog::logger> logger)
    : tailnet_(tailnet), pool_(pool), clock_(clock), logger_(std::move(logger)) {}

void AdminApi::RegisterRoutes(http::Router& router) {
  auto handler = [this](Request req) -> awaitable<Response> {
    return Handle(std::move(req));
  };
  router.HandlePrefix(std::string(kPrefix), handler);
  router.Handle("/api/v1", handler);
}

awaitable<Response> AdminApi::Handle(Request request) {
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
  if (rest == "node") {
    if (req.method != "GET") co_return MethodNotAllowed(req);
    co_return co_await Nodes();
  }
  if (rest.starts_with("node/")) co_return co_await NodeAction(req, rest.substr(5));
  if (rest == "auth/approve" || rest == "auth/reject") {
    if (req.method != "POST") co_return MethodNotAllowed(req);
    co_return co_await DecideAuth(req, rest == "auth/approve");
  }
  if (rest == "policy") co_return co_await Policy(req);
  if (rest == "policy/check") co_return co_await CheckPolicy(req);
  co_return MakeError(Errc::kNotFound, "no such endpoint: " + req.path);
}

AdminApi::Reply AdminApi::Users(const Request& req) {
  if (req.method == "GET") {
    auto users = co_await RunBlocking(pool_, [&] { return tailnet_.ListUsers(); });
    json out = json::array();
    for (const auto& u : users) out.push_back(UserJson(u));
    co_return JsonReply(200, out);
  }
  if (req.method != "POST") co_return MethodNotAllowed(req);
  auto body = ParseBody(req.body);
  if (!body) co_return body.error();
  auto name = Field<std::string>(*body, "name");
  auto display = Field<std::string>(*body, "display_name");
  auto email = Field<std::string>(*body, "email");
  for (const auto* f : {&name, &display, &email}) {
    if (!*f) co_return f->error();
  }
  if (name->empty()) co_return BadRequest("field \"name\" is required");
  auto user = co_await RunBlocking(
      pool_, [&] { return tailnet_.CreateUser(*name, *display, *email); });
  if (!user) co_return user.error();
  logger_->info("created user {}", user->name);
  co_return JsonReply(200, UserJson(*user));
}

// POST auth/approve or auth/reject {"authId": "..."} (Headscale's paths and body).
AdminApi::Reply AdminApi::DecideAuth(const Request& req, bool approve) {
  auto body = ParseBody(req.body);
  if (!body) co_return body.error();
  auto id = Field<std::string>(*body, "authId");
  if (!id) co_return id.error();
  if (id->empty()) id = Field<std::string>(*body, "auth_id");  // the proto's own spelling
  if (!id) co_return id.error();
  if (id->empty()) co_return BadRequest("field \"authId\" is required");
  if (!auth_) co_return MakeError(Errc::kNotFound, "no pending auth request " + *id);
  auto r = auth_->Decide(*id, approve);
  if (!r) co_return r.error();
  logger_->info("auth request {} {}", *id, approve ? "approved" : "rejected");
  co_return JsonReply(200, json::object());
}

// POST user/<id>/rename/<new name> (Headscale's path).
AdminApi::Reply AdminApi::RenameUser(std::string_view id_text, const std::string& new_name) {
  auto id = ParseId(id_text, "user");
  if (!id) co_return id.error();
  auto user = co_await RunBlocking(pool_, [&] { return tailnet_.RenameUser(*id, new_name); });
  if (!user) co_return user.error();
  logger_->info("renamed user {} to {}", *id, user->name);
  co_return JsonReply(200, UserJson(*user));
}

AdminApi::Reply AdminApi::DeleteUser(const std::string& name) {
  auto r = co_await RunBlocking(pool_, [&] { return tailnet_.DeleteUser(name); });
  if (!r) co_return r.error();
  logger_->info("deleted user {}", name);
  co_return JsonReply(200, {{"deleted", name}});
}

AdminApi::Reply AdminApi::PreAuthKeys(const Request& req) {
  if (req.method == "GET") {
    auto snap = tailnet_.snapshot();
    std::string user = req.Query("user").value_or("");
    if (!user.empty() && snap->FindUserByName(user) == nullptr) {
      co_return MakeError(Errc::kNotFound, "user \"" + user + "\" not found");
    }
    auto keys = co_await RunBlocking(pool_, [&] { return tailnet_.ListPreAuthKeys(user); });
    json out = json::array();
    for (const auto& k : keys) out.push_back(PreAuthKeyJson(k, *snap, clock_.Now()));
    co_return JsonReply(200, out);
  }
  if (req.method == "DELETE") {  // DELETE preauthkey?id=N (Headscale's form)
    auto id = ParseId(req.Query("id").value_or(""), "pre-auth key");
    if (!id) co_return id.error();
    auto r = co_await RunBlocking(pool_, [&] { return tailnet_.DeletePreAuthKey(*id); });
    if (!r) co_return r.error();
    logger_->info("deleted pre-auth key {}", *id);
    co_return JsonReply(200, json::object());
  }
  if (req.method != "POST") co_return MethodNotAllowed(req);
  auto body = ParseBody(req.body);
  if (!body) co_return body.error();
  auto user = Field<std::string>(*body, "user");
  auto reusable = Field<bool>(*body, "reusable");
  auto ephemeral = Field<bool>(*body, "ephemeral");
  auto expiration_text = Field<std::string>(*body, "expiration");
  auto tags = Field<std::vector<std::string>>(*body, "tags");
  if (!user) co_return user.error();
  if (!reusable) co_return reusable.error();
  if (!ephemeral) co_return ephemeral.error();
  if (!expiration_text) co_return expiration_text.error();
  if (!tags) co_return tags.error();
  if (user->empty()) co_return BadRequest("field \"user\" is required");
  SystemTime expiration = ZeroTime();
  if (!expiration_text->empty()) {
    auto t = ParseTime(*expiration_text);
    if (!t) co_return BadRequest("expiration \"" + *expiration_text + "\" is not RFC 3339");
    expiration = *t;
  }
  auto created = co_await RunBlocking(pool_, [&] {
    return tailnet_.CreatePreAuthKey(*user, *reusable, *ephemeral, expiration, *tags);
  });
  if (!created) co_return created.error();
  logger_->info("created pre-auth key {} for user {}", created->key.prefix, *user);
  json out = PreAuthKeyJson(created->key, *tailnet_.snapshot(), clock_.Now());
  out["key"] = created->secret_text;
  co_return JsonReply(200, out);
}

AdminApi::Reply AdminApi::ExpirePreAuthKey(const Request& req) {
  auto body = ParseBody(req.body);
  if (!body) co_return body.error();
  auto key = Field<std::string>(*body, "key");
  if (!key) co_return key.error();
  if (key->empty()) co_return BadRequest("field \"key\" is required");
  auto r = co_await RunBlocking(pool_, [&] { return tailnet_.ExpirePreAuthKey(*key); });
  if (!r) co_return r.error();
  logger_->info("expired a pre-auth key");  // the text may be the full secret: never logged
  co_return JsonReply(200, {{"expired", true}});
}

AdminApi::Reply AdminApi::Nodes() {
  auto snap = tailnet_.snapshot();
  json out = json::array();
  SystemTime now = clock_.Now();
  for (const auto& [id, node] : snap->nodes) out.push_back(NodeJson(*node, *snap, now));
  co_return JsonReply(200, out);
}

// rest: "<id>", "<id>/expire", "<id>/rename/<name>", "<id>/approve_routes" ({"routes":[...]})
// or "<id>/tags" ({"tags":[...]}): Headscale's paths and bodies.
AdminApi::Reply AdminApi::NodeAction(const Request& req, std::string_view rest) {
  size_t slash = rest.find('/');
  auto id = ParseId(rest.substr(0, slash));
  if (!id) co_return id.error();
  std::string_view action = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  Result<model::Node> node = MakeError(Errc::kInternal, "unreachable");
  if (action.empty()) {
    if (req.method != "DELETE") co_return MethodNotAllowed(req);
    auto r = co_await RunBlocking(pool_, [&] { return tailnet_.DeleteNode(*id); });
    if (!r) co_return r.error();
    logger_->info("deleted node {}", *id);
    co_return JsonReply(200, {{"deleted", *id}});
  }
  if (req.method != "POST") co_return MethodNotAllowed(req);
  if (action == "expire") {
    // Optional body {"expiry": RFC 3339, "disableExpiry": bool}; none: expire now.
    std::optional<SystemTime> when;
    if (!req.body.empty()) {
      auto body = ParseBody(req.body);
      if (!body) co_return body.error();
      auto expiry = Field<std::string>(*body, "expiry");
      auto disable = Field<bool>(*body, "disableExpiry");
      if (!expiry) co_return expiry.error();
      if (!disable) co_return disable.error();
      if (*disable) {
        when = ZeroTime();
      } else if (!expiry->empty()) {
        auto t = ParseTime(*expiry);
        if (!t) co_return BadRequest("expiry \"" + *expiry + "\" is not RFC 3339");
        when = *t;
      }
    }
    node = co_await RunBlocking(pool_, [&] { return tailnet_.ExpireNode(*id, when); });
  } else if (action.starts_with("rename/") && action.size() > 7) {
    std::string name = PathDecode(action.substr(7));
    node = co_await RunBlocking(pool_, [&] { return tailnet_.RenameNode(*id, name); });
  } else if (action == "approve_routes" || action == "tags") {
    bool routes = action == "approve_routes";
    auto body = ParseBody(req.body);
    if (!body) co_return body.error();
    auto list = Field<std::vector<std::string>>(*body, routes ? "routes" : "tags");
    if (!list) co_return list.error();
    node = co_await RunBlocking(pool_, [&] {
      return routes ? tailnet_.ApproveRoutes(*id, *list) : tailnet_.SetTags(*id, *list);
    });
  } else {
    co_return MakeError(Errc::kNotFound, "no such endpoint: " + req.path);
  }
  if (!node) co_return node.error();
  logger_->info("node {}: {}", *id, action.substr(0, action.find('/')));
  // The snapshot's copy carries runtime fields (online) that the returned value may lack.
  auto snap = tailnet_.snapshot();
  const model::Node* current = snap->FindNode(*id);
  co_return JsonReply(200, NodeJson(current ? *current : *node, *snap, clock_.Now()));
}

}  // namespace keel::api
