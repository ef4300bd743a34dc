#pragma once
// The admin commands behind the CLI tree: each calls one /api/v1/ endpoint and prints the
// result as a table, or as the API's own JSON (or YAML). Internal to the cli folder.

#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/result.h"

namespace keel::cli {

struct Context {
  std::string config_path;  // empty: defaults (the socket is data/keel.sock)
  std::string output;       // "" (a table) | json | json-line | yaml
  // Remote mode (Headscale's cli.address / cli.api_key): flags win over the config.
  std::string remote;
  std::string api_key;
  bool insecure = false;
  bool force = false;  // --force: no confirmation prompts
  std::istream* in = nullptr;
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  bool interactive = false;  // stdin is a terminal: confirmations may be asked

  bool Machine() const { return !output.empty() && output != "table"; }
};

struct PreAuthKeyArgs {
  std::string user;  // an id, or a name
  bool reusable = false;
  bool ephemeral = false;
  std::string expiration = "1h";  // a duration from now; "0" = now, as in Headscale
  std::vector<std::string> tags;
};

// Prints the error ("Error: <message>" on stderr, or {"error": message} in machine output)
// and returns the exit status 1.
int Fail(Context& ctx, const std::string& message);

// Prints `value` in machine output, or `text` for people.
int Print(Context& ctx, const nlohmann::json& value, const std::string& text);

// Calls the admin API of the server named by the config or the remote flags (`body` null:
// none); a non-2xx answer becomes an Error carrying the server's message.
Result<nlohmann::json> CallAdminApi(Context& ctx, const std::string& method,
                                    const std::string& target,
                                    const nlohmann::json& body = nullptr);

// `--expiration` for a create command: RFC 3339 of now + duration ("0": now).
Result<std::string> ExpirationFromFlag(const std::string& duration);

int UsersCreate(Context& ctx, const std::string& name, const std::string& display_name,
                const std::string& email, const std::string& picture_url);
// Filters as Headscale's: an id (0: any), a name, an email.
int UsersList(Context& ctx, uint64_t id, const std::string& name, const std::string& email);
// The user named by `id`, or by `name` when id is 0.
int UsersDelete(Context& ctx, uint64_t id, const std::string& name);
int UsersRename(Context& ctx, uint64_t id, const std::string& name, const std::string& new_name);

int PreAuthKeysCreate(Context& ctx, const PreAuthKeyArgs& args);
int PreAuthKeysList(Context& ctx, const std::string& user);
// By id, or by the key text or its prefix when id is 0.
int PreAuthKeysExpire(Context& ctx, uint64_t id, const std::string& key);
int PreAuthKeysDelete(Context& ctx, uint64_t id);

int ApiKeysCreate(Context& ctx, const std::string& expiration);
int ApiKeysList(Context& ctx);
int ApiKeysExpire(Context& ctx, const std::string& prefix, uint64_t id);
int ApiKeysDelete(Context& ctx, const std::string& prefix, uint64_t id);

int NodesList(Context& ctx, const std::string& user);
int NodesDelete(Context& ctx, uint64_t id);
// `expiry` RFC 3339 (empty: now); `disable`: the node never expires.
int NodesExpire(Context& ctx, uint64_t id, const std::string& expiry, bool disable);
int NodesRename(Context& ctx, uint64_t id, const std::string& new_name);
// Replaces the node's approved routes (empty: none).
int NodesApproveRoutes(Context& ctx, uint64_t id, const std::vector<std::string>& routes);
// Replaces the node's tags (empty: none).
int NodesTag(Context& ctx, uint64_t id, const std::vector<std::string>& tags);
// Announced, approved and served routes of every routing node, or of node `id` (0: all).
int NodesListRoutes(Context& ctx, uint64_t id);
int NodesRegister(Context& ctx, const std::string& user, const std::string& key);
int NodesBackfillIps(Context& ctx);

// Approves or rejects a pending auth request (an SSH check).
int AuthDecide(Context& ctx, const std::string& auth_id, bool approve);
// Completes a waiting `tailscale up` (a login) for `user` (a name or an id).
int AuthRegister(Context& ctx, const std::string& auth_id, const std::string& user);
int Health(Context& ctx);

}  // namespace keel::cli
