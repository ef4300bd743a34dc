// The node endpoints of AdminApi: list, get, delete, expire, rename, tags, routes, backfill.

#include <map>

#include "api/admin_api.h"
#include "api/render.h"
#include "api/request.h"
#include "base/run_blocking.h"

namespace keel::api {
namespace {

using http::Request;
using nlohmann::json;

}  // namespace

AdminApi::Reply AdminApi::Nodes(const Request& req) {
  if (req.method != "GET") co_return MethodNotAllowed(req);
  std::optional<model::UserId> owner;
  if (auto user = req.Query("user"); user && !user->empty()) {
    auto resolved = ResolveUser(*user);
    if (!resolved) co_return resolved.error();
    owner = resolved->id;
  }
  std::map<model::PreAuthKeyId, model::PreAuthKey> keys;
  for (auto& k : tailnet_.ListPreAuthKeys()) keys.emplace(k.id, std::move(k));
  auto snap = tailnet_.snapshot();
  json out = json::array();
  for (const auto& [id, node] : snap->nodes) {
    if (owner && (node->user_id != *owner || !node->tags.empty())) continue;
    const model::PreAuthKey* key = nullptr;
    if (node->auth_key_id) {
      if (auto it = keys.find(*node->auth_key_id); it != keys.end()) key = &it->second;
    }
    out.push_back(NodeJson(*node, *snap, key));
  }
  co_return JsonReply(200, {{"nodes", std::move(out)}});
}

// {"node": ...} for node `id` after a change, from the snapshot (which carries runtime fields
// such as online that `changed` may lack).
AdminApi::Reply AdminApi::NodeReply(model::NodeId id, const Result<model::Node>& changed) {
  if (!changed) co_return changed.error();
  auto snap = tailnet_.snapshot();
  const model::Node* current = snap->FindNode(id);
  const model::Node& node = current ? *current : *changed;
  const model::PreAuthKey* key = nullptr;
  std::vector<model::PreAuthKey> keys;
  if (node.auth_key_id) {
    keys = tailnet_.ListPreAuthKeys();
    for (const auto& k : keys) {
      if (k.id == *node.auth_key_id) key = &k;
    }
  }
  co_return JsonReply(200, {{"node", NodeJson(node, *snap, key)}});
}

// rest: "<id>", "<id>/expire", "<id>/rename/<name>", "<id>/approve_routes" ({"routes":[...]})
// or "<id>/tags" ({"tags":[...]}).
AdminApi::Reply AdminApi::NodeAction(const Request& req, std::string_view rest) {
  size_t slash = rest.find('/');
  auto id = ParseId(rest.substr(0, slash), "node");
  if (!id) co_return id.error();
  std::string_view action = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  if (action.empty() && req.method == "GET") {
    const model::Node* node = tailnet_.snapshot()->FindNode(*id);
    if (!node) co_return MakeError(Errc::kNotFound, "node " + std::to_string(*id) + " not found");
    co_return co_await NodeReply(*id, *node);
  }
  if (action.empty()) {
    if (req.method != "DELETE") co_return MethodNotAllowed(req);
    auto r = co_await RunBlocking(pool_, [&] { return tailnet_.DeleteNode(*id); });
    if (!r) co_return r.error();
    logger_->info("deleted node {}", *id);
    co_return JsonReply(200, json::object());
  }
  if (req.method != "POST") co_return MethodNotAllowed(req);
  Result<model::Node> node = MakeError(Errc::kInternal, "unreachable");
  if (action == "expire") {
    // Headscale's query ?expiry=RFC3339&disableExpiry=true; a JSON body with the same fields
    // is taken too. Neither: expire now.
    std::string expiry = req.Query("expiry").value_or("");
    bool disable = QueryFlag(req.Query("disableExpiry"));
    if (!req.body.empty()) {
      auto body = ParseBody(req.body);
      if (!body) co_return body.error();
      auto e = Field<std::string>(*body, "expiry");
      auto d = Field<bool>(*body, "disableExpiry");
      if (!e) co_return e.error();
      if (!d) co_return d.error();
      if (!e->empty()) expiry = *e;
      disable = disable || *d;
    }
    std::optional<SystemTime> when;
    if (disable) {
      when = ZeroTime();
    } else if (!expiry.empty()) {
      auto t = ParseTime(expiry);
      if (!t) co_return BadRequest("expiry \"" + expiry + "\" is not RFC 3339");
      when = *t;
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
  if (node) logger_->info("node {}: {}", *id, action.substr(0, action.find('/')));
  co_return co_await NodeReply(*id, node);
}

// POST node/backfillips?confirmed=true. keel gives every node an address of each family when
// it registers, so there is something to fill only in nodes brought from elsewhere; until
// keel can allocate for them, such nodes are named in a refusal rather than skipped.
AdminApi::Reply AdminApi::BackfillIps(const Request& req) {
  if (req.method != "POST") co_return MethodNotAllowed(req);
  if (!QueryFlag(req.Query("confirmed"))) co_return BadRequest("not confirmed, aborting");
  std::string missing;
  for (const auto& [id, node] : tailnet_.snapshot()->nodes) {
    if (!node->ipv4 || !node->ipv6) missing += (missing.empty() ? "" : ", ") + node->given_name;
  }
  if (!missing.empty()) {
    co_return MakeError(Errc::kUnsupported, "nodes lack an address and keel cannot backfill "
                                            "them yet: " + missing);
  }
  co_return JsonReply(200, {{"changes", json::array()}});
}

}  // namespace keel::api
