#pragma once
// The admin commands behind the CLI tree: each calls one /api/v1/ endpoint and prints the
// result as a table or JSON. Internal to the cli folder.

#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/result.h"

namespace keel::cli {

struct Context {
  std::string config_path;   // empty: defaults (the socket is data/keel.sock)
  std::string output = "table";  // json | json-line | table
  std::istream* in = nullptr;
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  bool interactive = false;  // stdin is a terminal: confirmations may be asked
};

struct PreAuthKeyArgs {
  std::string user;
  bool reusable = false;
  bool ephemeral = false;
  std::string expiration = "1h";  // a duration from now; "0" = never expires
  std::vector<std::string> tags;
};

// Prints "Error: <message>" and returns the exit status 1.
int Fail(Context& ctx, const std::string& message);

// Calls the admin API of the server named by the config (`body` null: none); a non-2xx
// answer becomes an Error carrying the server's {"error"} message.
Result<nlohmann::json> CallAdminApi(Context& ctx, const std::string& method,
                                    const std::string& target,
                                    const nlohmann::json& body = nullptr);

int UsersCreate(Context& ctx, const std::string& name, const std::string& display_name,
                const std::string& email);
int UsersList(Context& ctx);
int UsersDelete(Context& ctx, const std::string& name, bool force);
// The user named by `id`, or by `name` when id is 0.
int UsersRename(Context& ctx, uint64_t id, const std::string& name, const std::string& new_name);

int PreAuthKeysCreate(Context& ctx, const PreAuthKeyArgs& args);
int PreAuthKeysList(Context& ctx, const std::string& user);
int PreAuthKeysExpire(Context& ctx, const std::string& key);
int PreAuthKeysDelete(Context& ctx, uint64_t id);

int NodesList(Context& ctx, const std::string& user);

// Approves or rejects a pending auth request (an SSH check).
int AuthDecide(Context& ctx, const std::string& auth_id, bool approve);
int NodesDelete(Context& ctx, uint64_t id, bool force);
// `expiry` RFC 3339 (empty: now); `disable`: the node never expires.
int NodesExpire(Context& ctx, uint64_t id, const std::string& expiry, bool disable);
int NodesRename(Context& ctx, uint64_t id, const std::string& new_name);
// Replaces the node's approved routes (empty: none).
int NodesApproveRoutes(Context& ctx, uint64_t id, const std::vector<std::string>& routes);
// Replaces the node's tags (empty: none).
int NodesTag(Context& ctx, uint64_t id, const std::vector<std::string>& tags);
// Announced, approved and served routes of every routing node, or of node `id` (0: all).
int NodesListRoutes(Context& ctx, uint64_t id);

}  // namespace keel::cli
