#include "cli/admin_commands.h"

#include <cstdint>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "base/bytes.h"
#include "base/clock.h"
#include "cli/api_client.h"
#include "cli/output.h"
#include "config/config.h"
#include "config/duration.h"

namespace keel::cli {
namespace {

using nlohmann::json;

// Tables show times to the second ("2026-08-22 10:00:00"); JSON keeps full RFC 3339.
std::string TableCell(const std::string& field, const json& value) {
  static const std::set<std::string> kTimes = {"createdAt", "expiration", "expiry", "lastSeen"};
  std::string cell = Cell(value);
  if (!kTimes.contains(field) || cell.size() < 19 || cell[10] != 'T') return cell;
  cell[10] = ' ';
  return cell.substr(0, 19);
}

// A column: its header and how to read it from an item ("user.name" reads a nested field).
struct Column {
  std::string header;
  std::string field;
};

json FieldOf(const json& item, const std::string& path) {
  size_t dot = path.find('.');
  json value = item.value(path.substr(0, dot), json());
  if (dot == std::string::npos || !value.is_object()) return value;
  return FieldOf(value, path.substr(dot + 1));
}

int PrintTable(Context& ctx, const json& list, const std::vector<Column>& columns) {
  Row header;
  for (const auto& c : columns) header.push_back(c.header);
  std::vector<Row> rows;
  for (const auto& item : list) {
    Row row;
    for (const auto& c : columns) row.push_back(TableCell(c.field, FieldOf(item, c.field)));
    rows.push_back(std::move(row));
  }
  return Print(ctx, list, RenderTable(header, rows));
}

// False when the operator declines; always true with --force or without a terminal.
bool Confirm(Context& ctx, const std::string& question) {
  if (ctx.force || !ctx.interactive || ctx.Machine()) return true;
  *ctx.out << question << " [y/N] " << std::flush;
  std::string answer;
  std::getline(*ctx.in, answer);
  return answer == "y" || answer == "Y" || answer == "yes";
}

// The API's answer, or the part of it under `field` ({"user": {...}} -> {...}).
int Simple(Context& ctx, const Result<json>& r, const std::string& done,
           const char* field = nullptr) {
  if (!r) return Fail(ctx, r.error().message);
  const json& value = field && r->contains(field) ? (*r)[field] : *r;
  return Print(ctx, value, done + "\n");
}

std::string NodePath(uint64_t id) { return "/api/v1/node/" + std::to_string(id); }

// The list under `field` of an API answer.
Result<json> ListOf(Context& ctx, const std::string& target, const char* field) {
  auto r = CallAdminApi(ctx, "GET", target);
  if (!r) return r.error();
  json list = r->value(field, json::array());
  return Result<json>(boost::system::in_place_value, std::move(list));
}

}  // namespace

int Fail(Context& ctx, const std::string& message) {
  if (ctx.Machine()) {
    *ctx.err << RenderOutput(json{{"error", message}}, ctx.output);
  } else {
    *ctx.err << "Error: " << message << "\n";
  }
  return 1;
}

int Print(Context& ctx, const json& value, const std::string& text) {
  *ctx.out << (ctx.Machine() ? RenderOutput(value, ctx.output) : text);
  return 0;
}

Result<json> CallAdminApi(Context& ctx, const std::string& method, const std::string& target,
                          const json& body) {
  ApiEndpoint endpoint;
  std::chrono::seconds timeout(30);
  endpoint.url = ctx.remote;
  endpoint.api_key = ctx.api_key;
  endpoint.insecure = ctx.insecure;
  auto config = config::LoadConfig(ctx.config_path);
  if (!config) return config.error();
  endpoint.unix_socket = config->unix_socket;
  if (endpoint.url.empty()) endpoint.url = config->cli.address;
  if (endpoint.api_key.empty()) endpoint.api_key = config->cli.api_key;
  endpoint.insecure = endpoint.insecure || config->cli.insecure;
  if (!endpoint.url.empty()) timeout = config->cli.timeout;
  if (!endpoint.url.empty() && endpoint.api_key.empty()) {
    return MakeError(Errc::kInvalidArgument,
                     "a remote keel needs an API key: --api-key, cli.api_key or KEEL_CLI_API_KEY");
  }
  auto reply = ApiRequest(endpoint, method, target, body.is_null() ? "" : body.dump(), timeout);
  if (!reply) return reply.error();
  json parsed = json::parse(reply->body, nullptr, false);
  if (reply->status >= 300) {
    std::string message = "server answered HTTP " + std::to_string(reply->status);
    if (parsed.is_object()) message = parsed.value("detail", parsed.value("message", message));
    return MakeError(Errc::kUnavailable, message);
  }
  if (parsed.is_discarded()) return MakeError(Errc::kDataLoss, "server sent invalid JSON");
  return Result<json>(boost::system::in_place_value, std::move(parsed));
}

Result<std::string> ExpirationFromFlag(const std::string& text) {
  auto duration = config::ParseDuration(text);
  if (!duration) return MakeError(Errc::kInvalidArgument, "--expiration: " + duration.error().message);
  auto when = std::chrono::system_clock::now() +
              std::chrono::duration_cast<std::chrono::system_clock::duration>(*duration);
  return FormatTime(std::chrono::floor<std::chrono::seconds>(when));
}

int UsersCreate(Context& ctx, const std::string& name, const std::string& display_name,
                const std::string& email, const std::string& picture_url) {
  json body = {{"name", name}, {"displayName", display_name}, {"email", email},
               {"pictureUrl", picture_url}};
  return Simple(ctx, CallAdminApi(ctx, "POST", "/api/v1/user", body), "User created", "user");
}

int UsersList(Context& ctx, uint64_t id, const std::string& name, const std::string& email) {
  std::string target = "/api/v1/user?";
  if (id != 0) target += "id=" + std::to_string(id) + "&";
  if (!name.empty()) target += "name=" + PercentEncode(name) + "&";
  if (!email.empty()) target += "email=" + PercentEncode(email);
  auto users = ListOf(ctx, target, "users");
  if (!users) return Fail(ctx, users.error().message);
  return PrintTable(ctx, *users, {{"ID", "id"}, {"Name", "name"}, {"Display name", "displayName"},
                                  {"Email", "email"}, {"Created", "createdAt"}});
}

// The decimal id of the user named by `id` or `name`.
Result<std::string> UserId(Context& ctx, uint64_t id, const std::string& name) {
  if (id != 0) return std::to_string(id);
  if (name.empty()) return MakeError(Errc::kInvalidArgument, "--name or --identifier flag is required");
  auto users = ListOf(ctx, "/api/v1/user?name=" + PercentEncode(name), "users");
  if (!users) return users.error();
  if (users->empty()) return MakeError(Errc::kNotFound, "user \"" + name + "\" not found");
  return (*users)[0].value("id", "");
}

int UsersRename(Context& ctx, uint64_t id, const std::string& name, const std::string& new_name) {
  auto user = UserId(ctx, id, name);
  if (!user) return Fail(ctx, user.error().message);
  return Simple(ctx,
                CallAdminApi(ctx, "POST",
                             "/api/v1/user/" + *user + "/rename/" + PercentEncode(new_name)),
                "User renamed", "user");
}

int UsersDelete(Context& ctx, uint64_t id, const std::string& name) {
  auto user = UserId(ctx, id, name);
  if (!user) return Fail(ctx, user.error().message);
  if (!Confirm(ctx, "Do you want to remove the user \"" + (name.empty() ? *user : name) +
                        "\" and any associated preauthkeys?")) {
    return Fail(ctx, "aborted");
  }
  return Simple(ctx, CallAdminApi(ctx, "DELETE", "/api/v1/user/" + *user), "User destroyed");
}

int PreAuthKeysCreate(Context& ctx, const PreAuthKeyArgs& args) {
  auto expiration = ExpirationFromFlag(args.expiration);
  if (!expiration) return Fail(ctx, expiration.error().message);
  json body = {{"user", args.user},           {"reusable", args.reusable},
               {"ephemeral", args.ephemeral}, {"expiration", *expiration},
               {"aclTags", args.tags}};
  auto r = CallAdminApi(ctx, "POST", "/api/v1/preauthkey", body);
  if (!r) return Fail(ctx, r.error().message);
  const json& key = (*r)["preAuthKey"];
  return Print(ctx, key, key.value("key", "") + "\n");
}

int PreAuthKeysList(Context& ctx, const std::string& user) {
  std::string target = "/api/v1/preauthkey";
  if (!user.empty()) target += "?user=" + PercentEncode(user);
  auto keys = ListOf(ctx, target, "preAuthKeys");
  if (!keys) return Fail(ctx, keys.error().message);
  return PrintTable(ctx, *keys,
                    {{"ID", "id"}, {"Key", "key"}, {"User", "user.name"},
                     {"Reusable", "reusable"}, {"Ephemeral", "ephemeral"}, {"Used", "used"},
                     {"Expiration", "expiration"}, {"Created", "createdAt"}, {"Tags", "aclTags"}});
}

int PreAuthKeysExpire(Context& ctx, uint64_t id, const std::string& key) {
  if (id == 0 && key.empty()) return Fail(ctx, "--id flag is required");
  json body = id != 0 ? json{{"id", std::to_string(id)}} : json{{"key", key}};
  return Simple(ctx, CallAdminApi(ctx, "POST", "/api/v1/preauthkey/expire", body), "Key expired");
}

int PreAuthKeysDelete(Context& ctx, uint64_t id) {
  return Simple(ctx, CallAdminApi(ctx, "DELETE", "/api/v1/preauthkey?id=" + std::to_string(id)),
                "Key deleted");
}

int ApiKeysCreate(Context& ctx, const std::string& expiration_text) {
  auto expiration = ExpirationFromFlag(expiration_text);
  if (!expiration) return Fail(ctx, expiration.error().message);
  auto r = CallAdminApi(ctx, "POST", "/api/v1/apikey", json{{"expiration", *expiration}});
  if (!r) return Fail(ctx, r.error().message);
  return Print(ctx, *r, r->value("apiKey", "") + "\n");
}

int ApiKeysList(Context& ctx) {
  auto keys = ListOf(ctx, "/api/v1/apikey", "apiKeys");
  if (!keys) return Fail(ctx, keys.error().message);
  return PrintTable(ctx, *keys, {{"ID", "id"}, {"Prefix", "prefix"}, {"Expiration", "expiration"},
                                 {"Created", "createdAt"}, {"Last seen", "lastSeen"}});
}

int ApiKeysExpire(Context& ctx, const std::string& prefix, uint64_t id) {
  if (prefix.empty() && id == 0) return Fail(ctx, "--prefix or --id flag is required");
  json body = {{"prefix", prefix}, {"id", std::to_string(id)}};
  return Simple(ctx, CallAdminApi(ctx, "POST", "/api/v1/apikey/expire", body), "Key expired");
}

int ApiKeysDelete(Context& ctx, const std::string& prefix, uint64_t id) {
  if (prefix.empty() && id == 0) return Fail(ctx, "--prefix or --id flag is required");
  std::string target = "/api/v1/apikey/" + PercentEncode(prefix.empty() ? "-" : prefix) +
                       "?id=" + std::to_string(id);
  return Simple(ctx, CallAdminApi(ctx, "DELETE", target), "Key deleted");
}

int NodesList(Context& ctx, const std::string& user) {
  std::string target = "/api/v1/node";
  if (!user.empty()) target += "?user=" + PercentEncode(user);
  auto nodes = ListOf(ctx, target, "nodes");
  if (!nodes) return Fail(ctx, nodes.error().message);
  return PrintTable(ctx, *nodes,
                    {{"ID", "id"}, {"Hostname", "name"}, {"Name", "givenName"},
                     {"User", "user.name"}, {"IP addresses", "ipAddresses"},
                     {"Last seen", "lastSeen"}, {"Expiration", "expiry"}, {"Connected", "online"},
                     {"Tags", "tags"}});
}

int NodesDelete(Context& ctx, uint64_t id) {
  if (!Confirm(ctx, "Do you want to remove the node " + std::to_string(id) + "?")) {
    return Fail(ctx, "aborted");
  }
  return Simple(ctx, CallAdminApi(ctx, "DELETE", NodePath(id)), "Node deleted");
}

int NodesExpire(Context& ctx, uint64_t id, const std::string& expiry, bool disable) {
  if (disable && !expiry.empty()) return Fail(ctx, "--expiry and --disable exclude each other");
  if (!expiry.empty() && !ParseTime(expiry)) {
    return Fail(ctx, "--expiry \"" + expiry + "\" is not RFC 3339 (e.g. 2025-08-27T10:00:00Z)");
  }
  std::string target = NodePath(id) + "/expire";
  if (disable) target += "?disableExpiry=true";
  if (!expiry.empty()) target += "?expiry=" + PercentEncode(expiry);
  return Simple(ctx, CallAdminApi(ctx, "POST", target),
                disable ? "Node expiry disabled" : "Node expired", "node");
}

int NodesRename(Context& ctx, uint64_t id, const std::string& new_name) {
  return Simple(ctx, CallAdminApi(ctx, "POST", NodePath(id) + "/rename/" + PercentEncode(new_name)),
                "Node renamed", "node");
}

int NodesApproveRoutes(Context& ctx, uint64_t id, const std::vector<std::string>& routes) {
  return Simple(ctx,
                CallAdminApi(ctx, "POST", NodePath(id) + "/approve_routes", json{{"routes", routes}}),
                "Node updated", "node");
}

int NodesTag(Context& ctx, uint64_t id, const std::vector<std::string>& tags) {
  return Simple(ctx, CallAdminApi(ctx, "POST", NodePath(id) + "/tags", json{{"tags", tags}}),
                "Node updated", "node");
}

int NodesListRoutes(Context& ctx, uint64_t id) {
  auto all = ListOf(ctx, "/api/v1/node", "nodes");
  if (!all) return Fail(ctx, all.error().message);
  json nodes = json::array();
  bool found = false;
  for (auto& n : *all) {
    if (id != 0 && n.value("id", "") != std::to_string(id)) continue;
    found = true;
    // Like Headscale: only nodes that announce, have approved or serve routes.
    bool routed = false;
    for (const char* f : {"availableRoutes", "approvedRoutes", "subnetRoutes"}) {
      routed = routed || !n.value(f, json::array()).empty();
    }
    if (routed) nodes.push_back(std::move(n));
  }
  if (id != 0 && !found) return Fail(ctx, "node " + std::to_string(id) + " not found");
  return PrintTable(ctx, nodes,
                    {{"ID", "id"}, {"Hostname", "givenName"}, {"Approved", "approvedRoutes"},
                     {"Available", "availableRoutes"}, {"Serving (Primary)", "subnetRoutes"}});
}

namespace {

// "Node <givenName> registered", as Headscale words it.
int Registered(Context& ctx, const Result<json>& r) {
  if (!r) return Fail(ctx, r.error().message);
  json node = r->value("node", json::object());
  return Print(ctx, node, "Node " + node.value("givenName", std::string()) + " registered\n");
}

}  // namespace

int NodesRegister(Context& ctx, const std::string& user, const std::string& key) {
  std::cerr << "Command \"register\" is deprecated, use 'keel auth register --auth-id <id> --user "
               "<user>' instead\n";
  return Registered(ctx, CallAdminApi(ctx, "POST", "/api/v1/node/register?user=" +
                                                       PercentEncode(user) + "&key=" +
                                                       PercentEncode(key)));
}

int AuthRegister(Context& ctx, const std::string& auth_id, const std::string& user) {
  return Registered(ctx, CallAdminApi(ctx, "POST", "/api/v1/auth/register",
                                      json{{"authId", auth_id}, {"user", user}}));
}

int NodesBackfillIps(Context& ctx) {
  if (!Confirm(ctx, "Are you sure that you want to assign/remove IPs to/from nodes?")) {
    return Fail(ctx, "aborted");
  }
  auto r = CallAdminApi(ctx, "POST", "/api/v1/node/backfillips?confirmed=true");
  if (!r) return Fail(ctx, r.error().message);
  std::string text;
  for (const auto& change : r->value("changes", json::array())) text += Cell(change) + "\n";
  return Print(ctx, *r, text.empty() ? "No changes\n" : text);
}

int AuthDecide(Context& ctx, const std::string& auth_id, bool approve) {
  return Simple(ctx,
                CallAdminApi(ctx, "POST", approve ? "/api/v1/auth/approve" : "/api/v1/auth/reject",
                             json{{"authId", auth_id}}),
                approve ? "Auth request approved" : "Auth request rejected");
}

int Health(Context& ctx) {
  auto r = CallAdminApi(ctx, "GET", "/api/v1/health");
  if (!r) return Fail(ctx, r.error().message);
  bool ok = r->value("databaseConnectivity", false);
  Print(ctx, *r, std::string("Database: ") + (ok ? "OK" : "unreachable") + "\n");
  return ok ? 0 : 1;
}

}  // namespace keel::cli
