#include "cli/admin_commands.h"

#include <cstdint>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "base/bytes.h"
#include "base/clock.h"
#include "cli/output.h"
#include "cli/unix_client.h"
#include "config/config.h"
#include "config/duration.h"

namespace keel::cli {
namespace {

using nlohmann::json;

// Prints `value` as JSON, or `table_text` in table mode.
int Print(Context& ctx, const json& value, const std::string& table_text) {
  *ctx.out << (ctx.output == "table" ? table_text : RenderJson(value, ctx.output));
  return 0;
}

// Tables show times to the second ("2026-08-22 10:00:00"); JSON keeps full RFC 3339.
std::string TableCell(const std::string& field, const json& value) {
  static const std::set<std::string> kTimes = {"created", "expiration", "expiry", "last_seen"};
  std::string cell = Cell(value);
  if (!kTimes.contains(field) || cell.size() < 19 || cell[10] != 'T') return cell;
  cell[10] = ' ';
  return cell.substr(0, 19);
}

int PrintTable(Context& ctx, const json& list, const Row& header,
               const std::vector<std::string>& fields) {
  std::vector<Row> rows;
  for (const auto& item : list) {
    Row row;
    for (const auto& f : fields) row.push_back(TableCell(f, item.value(f, json())));
    rows.push_back(std::move(row));
  }
  return Print(ctx, list, RenderTable(header, rows));
}

// False when the operator declines; always true without a terminal (scripts, pipes).
bool Confirm(Context& ctx, const std::string& question, bool force) {
  if (force || !ctx.interactive) return true;
  *ctx.out << question << " [y/N] " << std::flush;
  std::string answer;
  std::getline(*ctx.in, answer);
  return answer == "y" || answer == "Y" || answer == "yes";
}

int Simple(Context& ctx, const Result<json>& r, const std::string& done) {
  if (!r) return Fail(ctx, r.error().message);
  return Print(ctx, *r, done + "\n");
}

}  // namespace

int Fail(Context& ctx, const std::string& message) {
  *ctx.err << "Error: " << message << "\n";
  return 1;
}

Result<json> CallAdminApi(Context& ctx, const std::string& method, const std::string& target,
                          const json& body) {
  auto config = config::LoadConfig(ctx.config_path);
  if (!config) return config.error();
  auto reply = UnixHttpRequest(config->unix_socket, method, target,
                               body.is_null() ? "" : body.dump());
  if (!reply) return reply.error();
  json parsed = json::parse(reply->body, nullptr, false);
  if (reply->status >= 300) {
    std::string fallback = "server answered HTTP " + std::to_string(reply->status);
    std::string message = parsed.is_object() ? parsed.value("error", fallback) : fallback;
    return MakeError(Errc::kUnavailable, message);
  }
  if (parsed.is_discarded()) return MakeError(Errc::kDataLoss, "server sent invalid JSON");
  return Result<json>(boost::system::in_place_value, std::move(parsed));
}

int UsersCreate(Context& ctx, const std::string& name, const std::string& display_name,
                const std::string& email) {
  json body = {{"name", name}, {"display_name", display_name}, {"email", email}};
  return Simple(ctx, CallAdminApi(ctx, "POST", "/api/v1/user", body), "User " + name + " created");
}

int UsersList(Context& ctx) {
  auto r = CallAdminApi(ctx, "GET", "/api/v1/user");
  if (!r) return Fail(ctx, r.error().message);
  return PrintTable(ctx, *r, {"ID", "Name", "Display name", "Email", "Created"},
                    {"id", "name", "display_name", "email", "created"});
}

int UsersRename(Context& ctx, uint64_t id, const std::string& name, const std::string& new_name) {
  if (id == 0) {
    if (name.empty()) return Fail(ctx, "--name or --identifier flag is required");
    auto users = CallAdminApi(ctx, "GET", "/api/v1/user");
    if (!users) return Fail(ctx, users.error().message);
    for (const auto& u : *users) {
      if (u.value("name", "") == name) id = u.value("id", uint64_t{0});
    }
    if (id == 0) return Fail(ctx, "user \"" + name + "\" not found");
  }
  return Simple(ctx,
                CallAdminApi(ctx, "POST",
                             "/api/v1/user/" + std::to_string(id) + "/rename/" + PercentEncode(new_name)),
                "User renamed");
}

int UsersDelete(Context& ctx, const std::string& name, bool force) {
  if (!Confirm(ctx, "Do you want to delete user " + name + "?", force)) {
    return Fail(ctx, "aborted");
  }
  return Simple(ctx, CallAdminApi(ctx, "DELETE", "/api/v1/user/" + PercentEncode(name)),
                "User " + name + " deleted");
}

int PreAuthKeysCreate(Context& ctx, const PreAuthKeyArgs& args) {
  auto duration = config::ParseDuration(args.expiration);
  if (!duration) return Fail(ctx, "--expiration: " + duration.error().message);
  std::string expiration;
  if (duration->count() > 0) {
    auto when = std::chrono::system_clock::now() +
                std::chrono::duration_cast<std::chrono::system_clock::duration>(*duration);
    expiration = FormatTime(std::chrono::floor<std::chrono::seconds>(when));
  }
  json body = {{"user", args.user},           {"reusable", args.reusable},
               {"ephemeral", args.ephemeral}, {"expiration", expiration},
               {"tags", args.tags}};
  auto r = CallAdminApi(ctx, "POST", "/api/v1/preauthkey", body);
  if (!r) return Fail(ctx, r.error().message);
  return Print(ctx, *r, r->value("key", "") + "\n");
}

int PreAuthKeysList(Context& ctx, const std::string& user) {
  std::string target = "/api/v1/preauthkey";
  if (!user.empty()) target += "?user=" + PercentEncode(user);
  auto r = CallAdminApi(ctx, "GET", target);
  if (!r) return Fail(ctx, r.error().message);
  return PrintTable(
      ctx, *r,
      {"ID", "Key prefix", "User", "Reusable", "Ephemeral", "Used", "Expired", "Expiration",
       "Created", "Tags"},
      {"id", "prefix", "user", "reusable", "ephemeral", "used", "expired", "expiration",
       "created", "tags"});
}

int PreAuthKeysExpire(Context& ctx, const std::string& key) {
  return Simple(ctx, CallAdminApi(ctx, "POST", "/api/v1/preauthkey/expire", json{{"key", key}}),
                "Key expired");
}

int PreAuthKeysDelete(Context& ctx, uint64_t id) {
  return Simple(ctx, CallAdminApi(ctx, "DELETE", "/api/v1/preauthkey?id=" + std::to_string(id)),
                "Key deleted");
}

int NodesList(Context& ctx, const std::string& user) {
  auto r = CallAdminApi(ctx, "GET", "/api/v1/node");
  if (!r) return Fail(ctx, r.error().message);
  json nodes = json::array();
  for (auto& n : *r) {
    if (user.empty() || n.value("user", "") == user) nodes.push_back(std::move(n));
  }
  return PrintTable(ctx, nodes,
                    {"ID", "Hostname", "Name", "User", "IP addresses", "Ephemeral", "Last seen",
                     "Expiration", "Connected", "Expired", "Tags"},
                    {"id", "hostname", "name", "user", "ip_addresses", "ephemeral", "last_seen",
                     "expiry", "online", "expired", "tags"});
}

int NodesDelete(Context& ctx, uint64_t id, bool force) {
  if (!Confirm(ctx, "Do you want to delete node " + std::to_string(id) + "?", force)) {
    return Fail(ctx, "aborted");
  }
  return Simple(ctx, CallAdminApi(ctx, "DELETE", "/api/v1/node/" + std::to_string(id)),
                "Node deleted");
}

int NodesExpire(Context& ctx, uint64_t id, const std::string& expiry, bool disable) {
  if (disable && !expiry.empty()) return Fail(ctx, "--expiry and --disable exclude each other");
  if (!expiry.empty() && !ParseTime(expiry)) {
    return Fail(ctx, "--expiry \"" + expiry + "\" is not RFC 3339 (e.g. 2025-08-27T10:00:00Z)");
  }
  json body = nullptr;
  if (disable || !expiry.empty()) body = {{"expiry", expiry}, {"disableExpiry", disable}};
  return Simple(ctx,
                CallAdminApi(ctx, "POST", "/api/v1/node/" + std::to_string(id) + "/expire", body),
                disable ? "Node expiry disabled" : "Node expired");
}

int NodesRename(Context& ctx, uint64_t id, const std::string& new_name) {
  return Simple(ctx,
                CallAdminApi(ctx, "POST",
                             "/api/v1/node/" + std::to_string(id) + "/rename/" +
                                 PercentEncode(new_name)),
                "Node renamed to " + new_name);
}

int NodesApproveRoutes(Context& ctx, uint64_t id, const std::vector<std::string>& routes) {
  return Simple(ctx,
                CallAdminApi(ctx, "POST", "/api/v1/node/" + std::to_string(id) + "/approve_routes",
                             json{{"routes", routes}}),
                "Node updated");
}

int NodesTag(Context& ctx, uint64_t id, const std::vector<std::string>& tags) {
  return Simple(ctx,
                CallAdminApi(ctx, "POST", "/api/v1/node/" + std::to_string(id) + "/tags",
                             json{{"tags", tags}}),
                "Node updated");
}

int NodesListRoutes(Context& ctx, uint64_t id) {
  auto r = CallAdminApi(ctx, "GET", "/api/v1/node");
  if (!r) return Fail(ctx, r.error().message);
  json nodes = json::array();
  bool found = false;
  for (auto& n : *r) {
    if (id != 0 && n.value("id", uint64_t{0}) != id) continue;
    found = true;
    // Like Headscale: only nodes that announce, have approved or serve routes.
    bool routed = false;
    for (const char* f : {"available_routes", "approved_routes", "subnet_routes"}) {
      routed = routed || !n.value(f, json::array()).empty();
    }
    if (routed) nodes.push_back(std::move(n));
  }
  if (id != 0 && !found) return Fail(ctx, "node " + std::to_string(id) + " not found");
  return PrintTable(ctx, nodes, {"ID", "Hostname", "Approved", "Available", "Serving (Primary)"},
                    {"id", "name", "approved_routes", "available_routes", "subnet_routes"});
}

int AuthDecide(Context& ctx, const std::string& auth_id, bool approve) {
  return Simple(ctx,
                CallAdminApi(ctx, "POST", approve ? "/api/v1/auth/approve" : "/api/v1/auth/reject",
                             json{{"authId", auth_id}}),
                approve ? "Auth request approved" : "Auth request rejected");
}

}  // namespace keel::cli
