#include "cli/commands.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <functional>
#include <iostream>

#include "app/app.h"
#include "app/import_headscale.h"
#include "cli/admin_commands.h"
#include "cli/policy_commands.h"
#include "config/config.h"
#include "crypto/x25519.h"

namespace keel::cli {
namespace {

// Filled by the leaf command CLI11 selected; run after parsing succeeded.
using Action = std::function<int()>;

// `unknown command "X" for "keel nodes"`: X is the first word CLI11 could not place, under the
// deepest command it selected.
// "" when every word found its place.
std::string UnknownCommand(CLI::App& root) {
  std::string path = "keel";
  CLI::App* at = &root;
  while (true) {
    auto selected = at->get_subcommands();
    if (selected.empty()) break;
    at = selected.front();
    path += " " + at->get_name();
  }
  std::vector<std::string> extras = at->remaining();
  if (extras.empty()) extras = root.remaining();
  if (extras.empty() || extras.front().starts_with("-")) return "";
  return "unknown command \"" + extras.front() + "\" for \"" + path + "\"";
}

int Serve(Context& ctx) {
  auto config = config::LoadConfig(ctx.config_path);
  if (!config) return Fail(ctx, config.error().message);
  app::Options options;
  options.config_path = ctx.config_path;
  auto app = app::App::Create(*config, options);
  if (!app) return Fail(ctx, app.error().message);
  (*app)->Start();
  (*app)->Wait();
  return 0;
}

// `keel configtest`: loads and checks the config as `serve` would, without starting.
int ConfigTest(Context& ctx) {
  auto config = config::LoadConfig(ctx.config_path);
  if (!config) return Fail(ctx, config.error().message);
  for (const auto& w : config->warnings) *ctx.err << "warning: " << w << "\n";
  *ctx.out << "config " << (ctx.config_path.empty() ? std::string("(defaults)") : ctx.config_path) << " is valid\n";
  return 0;
}

// `keel generate private-key`: a fresh key in the key files' format ("privkey:<hex>"), for
// provisioning a server's keys ahead of its first start.
int GeneratePrivateKey(Context& ctx) {
  std::string text = crypto::GeneratePrivateKey().ToText();
  return Print(ctx, nlohmann::json{{"private_key", text}}, text + "\n");
}

// Options shared by the leaves: a value that lives as long as the command tree.
template <class T>
std::shared_ptr<T> Value(T initial = T{}) {
  return std::make_shared<T>(std::move(initial));
}

// Headscale's -i/--identifier and -n/--name pair naming a user.
void UserSelector(CLI::App* cmd, const std::shared_ptr<uint64_t>& id,
                  const std::shared_ptr<std::string>& name) {
  cmd->add_option("-i,--identifier", *id, "User identifier (ID)");
  cmd->add_option("-n,--name", *name, "User name");
}

void AddUsers(CLI::App& root, Context& ctx, Action& action) {
  auto* users = root.add_subcommand("users", "Manage users")->alias("user");
  users->require_subcommand(1);

  auto* create = users->add_subcommand("create", "Create a user")->alias("c")->alias("new");
  auto name = Value<std::string>(), display = Value<std::string>(), email = Value<std::string>(),
       picture = Value<std::string>();
  create->add_option("name", *name, "User name")->required();
  create->add_option("-d,--display-name", *display, "Display name");
  create->add_option("-e,--email", *email, "Email address");
  create->add_option("-p,--picture-url", *picture, "Profile picture URL");
  create->callback([&, name, display, email, picture] {
    action = [&, name, display, email, picture] {
      return UsersCreate(ctx, *name, *display, *email, *picture);
    };
  });

  auto* list = users->add_subcommand("list", "List users")->alias("ls")->alias("show");
  auto list_id = Value<uint64_t>(0);
  auto list_name = Value<std::string>(), list_email = Value<std::string>();
  UserSelector(list, list_id, list_name);
  list->add_option("-e,--email", *list_email, "Email address");
  list->callback([&, list_id, list_name, list_email] {
    action = [&, list_id, list_name, list_email] {
      return UsersList(ctx, *list_id, *list_name, *list_email);
    };
  });

  auto* rename = users->add_subcommand("rename", "Rename a user")->alias("mv");
  auto rename_id = Value<uint64_t>(0);
  auto rename_name = Value<std::string>(), new_name = Value<std::string>();
  UserSelector(rename, rename_id, rename_name);
  rename->add_option("-r,--new-name", *new_name, "New user name")->required();
  rename->callback([&, rename_id, rename_name, new_name] {
    action = [&, rename_id, rename_name, new_name] {
      return UsersRename(ctx, *rename_id, *rename_name, *new_name);
    };
  });

  auto* del = users->add_subcommand("destroy", "Delete a user (it must own no nodes)");
  del->alias("delete");
  auto del_id = Value<uint64_t>(0);
  auto del_name = Value<std::string>(), del_positional = Value<std::string>();
  UserSelector(del, del_id, del_name);
  del->add_option("user", *del_positional, "User name (or use -n / -i)");
  del->callback([&, del_id, del_name, del_positional] {
    action = [&, del_id, del_name, del_positional] {
      return UsersDelete(ctx, *del_id, del_name->empty() ? *del_positional : *del_name);
    };
  });
}

void AddPreAuthKeys(CLI::App& root, Context& ctx, Action& action) {
  auto* keys = root.add_subcommand("preauthkeys", "Manage pre-auth keys");
  for (const char* a : {"preauthkey", "authkey", "pre"}) keys->alias(a);
  keys->require_subcommand(1);

  auto* create = keys->add_subcommand("create", "Create a pre-auth key")->alias("c")->alias("new");
  auto args = Value<PreAuthKeyArgs>();
  create->add_option("-u,--user", args->user, "Owner of the key: user ID (or name)")->required();
  create->add_flag("--reusable", args->reusable, "The key can register several nodes");
  create->add_flag("--ephemeral", args->ephemeral, "Nodes registered with it are ephemeral");
  create->add_option("-e,--expiration", args->expiration,
                     "Lifetime from now (30m, 24h, 90d; 0 = expires now)")
      ->capture_default_str();
  create->add_option("--tags", args->tags, "Tags for the nodes (tag:a,tag:b)")->delimiter(',');
  create->callback([&, args] { action = [&, args] { return PreAuthKeysCreate(ctx, *args); }; });

  auto* list = keys->add_subcommand("list", "List pre-auth keys")->alias("ls")->alias("show");
  auto user = Value<std::string>();
  list->add_option("-u,--user", *user, "Only this user's keys (ID or name)");
  list->callback([&, user] { action = [&, user] { return PreAuthKeysList(ctx, *user); }; });

  auto* expire = keys->add_subcommand("expire", "Expire a pre-auth key");
  for (const char* a : {"revoke", "exp", "e"}) expire->alias(a);
  auto expire_id = Value<uint64_t>(0);
  auto key = Value<std::string>();
  expire->add_option("-i,--id", *expire_id, "Key ID");
  expire->add_option("key", *key, "The key or its prefix (instead of --id)");
  expire->callback([&, expire_id, key] {
    action = [&, expire_id, key] { return PreAuthKeysExpire(ctx, *expire_id, *key); };
  });

  auto* del = keys->add_subcommand("delete", "Delete a pre-auth key");
  for (const char* a : {"del", "rm", "d"}) del->alias(a);
  auto key_id = Value<uint64_t>(0);
  del->add_option("-i,--id", *key_id, "Key ID")->required();
  del->callback([&, key_id] { action = [&, key_id] { return PreAuthKeysDelete(ctx, *key_id); }; });
}

void AddApiKeys(CLI::App& root, Context& ctx, Action& action) {
  auto* keys = root.add_subcommand("apikeys", "Manage API keys of the admin API over TCP");
  keys->alias("apikey")->alias("api");
  keys->require_subcommand(1);

  auto* create = keys->add_subcommand("create", "Create an API key (printed once)");
  create->alias("c")->alias("new");
  auto expiration = Value<std::string>("90d");
  create->add_option("-e,--expiration", *expiration, "Lifetime from now (30m, 24h, 90d)")
      ->capture_default_str();
  create->callback([&, expiration] {
    action = [&, expiration] { return ApiKeysCreate(ctx, *expiration); };
  });

  keys->add_subcommand("list", "List API keys")->alias("ls")->alias("show")->callback([&] {
    action = [&] { return ApiKeysList(ctx); };
  });

  auto prefix = Value<std::string>();
  auto id = Value<uint64_t>(0);
  auto* expire = keys->add_subcommand("expire", "Expire an API key");
  for (const char* a : {"revoke", "exp", "e"}) expire->alias(a);
  auto* del = keys->add_subcommand("delete", "Delete an API key")->alias("remove")->alias("del");
  for (auto* cmd : {expire, del}) {
    cmd->add_option("-p,--prefix", *prefix, "Key prefix");
    cmd->add_option("-i,--id", *id, "Key ID");
  }
  expire->callback([&, prefix, id] {
    action = [&, prefix, id] { return ApiKeysExpire(ctx, *prefix, *id); };
  });
  del->callback([&, prefix, id] {
    action = [&, prefix, id] { return ApiKeysDelete(ctx, *prefix, *id); };
  });
}

// `nodes NAME -i ID FLAG a,b`: replaces one of a node's lists (routes, tags). As in Headscale
// the flag takes a comma-separated list, and `FLAG ""` empties the list.
CLI::App* AddNodeListSetter(CLI::App* nodes, Context& ctx, Action& action,
                            const std::string& name, const std::string& help,
                            const std::string& flag, const std::string& flag_help,
                            int (*run)(Context&, uint64_t, const std::vector<std::string>&)) {
  auto* cmd = nodes->add_subcommand(name, help);
  auto id = Value<uint64_t>(0);
  auto list = Value<std::vector<std::string>>();
  cmd->add_option("-i,--identifier", *id, "Node identifier (ID)")->required();
  cmd->add_option(flag, *list, flag_help)->delimiter(',')->required()->expected(0, -1);
  cmd->callback([&ctx, &action, id, list, run] {
    std::erase(*list, std::string());
    action = [&ctx, id, list, run] { return run(ctx, *id, *list); };
  });
  return cmd;
}

void AddNodes(CLI::App& root, Context& ctx, Action& action) {
  auto* nodes = root.add_subcommand("nodes", "Manage nodes")->alias("node");
  nodes->require_subcommand(1);

  auto* list = nodes->add_subcommand("list", "List nodes")->alias("ls")->alias("show");
  auto user = Value<std::string>();
  list->add_option("-u,--user", *user, "Filter by user");
  list->callback([&, user] { action = [&, user] { return NodesList(ctx, *user); }; });

  auto id = Value<uint64_t>(0);
  auto* del = nodes->add_subcommand("delete", "Delete a node")->alias("del");
  del->add_option("-i,--identifier", *id, "Node identifier (ID)")->required();
  del->callback([&, id] { action = [&, id] { return NodesDelete(ctx, *id); }; });

  auto* expire = nodes->add_subcommand("expire", "Expire a node's key (logs it out)");
  for (const char* a : {"logout", "exp", "e"}) expire->alias(a);
  auto expiry = Value<std::string>();
  auto disable = Value<bool>(false);
  expire->add_option("-i,--identifier", *id, "Node identifier (ID)")->required();
  expire->add_option("-e,--expiry", *expiry,
                     "Expire at this time (RFC 3339, e.g. 2025-08-27T10:00:00Z); default now");
  expire->add_flag("-d,--disable", *disable, "Disable key expiry (the node never expires)");
  expire->callback([&, id, expiry, disable] {
    action = [&, id, expiry, disable] { return NodesExpire(ctx, *id, *expiry, *disable); };
  });

  auto* rename = nodes->add_subcommand("rename", "Change a node's MagicDNS name");
  auto new_name = Value<std::string>();
  rename->add_option("-i,--identifier", *id, "Node identifier (ID)")->required();
  rename->add_option("new_name", *new_name, "The new name (a DNS label)")->required();
  rename->callback([&, id, new_name] {
    action = [&, id, new_name] { return NodesRename(ctx, *id, *new_name); };
  });

  AddNodeListSetter(nodes, ctx, action, "approve-routes", "Manage the approved routes of a node",
                    "-r,--routes", "Routes to approve (CIDR[,CIDR]); empty: none",
                    NodesApproveRoutes);
  AddNodeListSetter(nodes, ctx, action, "tag", "Manage the tags of a node", "-t,--tags",
                    "Tags to set (tag:a,tag:b); empty: none", NodesTag)
      ->alias("tags")
      ->alias("t");

  auto* list_routes = nodes->add_subcommand("list-routes", "List routes available on nodes");
  list_routes->alias("lsr")->alias("routes");
  auto route_node = Value<uint64_t>(0);
  list_routes->add_option("-i,--identifier", *route_node, "Only this node");
  list_routes->callback([&, route_node] {
    action = [&, route_node] { return NodesListRoutes(ctx, *route_node); };
  });

  // Headscale keeps it, deprecated, beside `auth register`.
  auto* reg = nodes->add_subcommand("register", "Register a node waiting for interactive login");
  reg->group("");  // hidden from help, as Headscale hides it
  auto reg_user = Value<std::string>(), reg_key = Value<std::string>();
  reg->add_option("-u,--user", *reg_user, "User")->required();
  reg->add_option("-k,--key", *reg_key, "Key")->required();
  reg->callback([&, reg_user, reg_key] {
    action = [&, reg_user, reg_key] { return NodesRegister(ctx, *reg_user, *reg_key); };
  });

  nodes->add_subcommand("backfillips", "Give every node an address of each family")->callback(
      [&] { action = [&] { return NodesBackfillIps(ctx); }; });
}

// `keel import headscale --db PATH [--noise-key PATH]`, into the config's empty database.
int ImportHeadscale(Context& ctx, const std::string& db, const std::string& noise_key) {
  auto config = config::LoadConfig(ctx.config_path);
  if (!config) return Fail(ctx, config.error().message);
  auto report = app::ImportHeadscale(*config, db, noise_key);
  if (!report) return Fail(ctx, report.error().message);
  nlohmann::json out = {{"users", report->users},
                        {"nodes", report->nodes},
                        {"preAuthKeys", report->pre_auth_keys},
                        {"policy", report->policy},
                        {"noiseKey", report->noise_key},
                        {"notes", report->notes}};
  std::string text = "imported " + std::to_string(report->users) + " user(s), " +
                     std::to_string(report->nodes) + " node(s), " +
                     std::to_string(report->pre_auth_keys) + " pre-auth key(s)" +
                     (report->policy ? ", the policy" : "") +
                     (report->noise_key ? ", the Noise key" : "") + " into " +
                     config->database.sqlite.path + "\n";
  for (const auto& note : report->notes) text += "note: " + note + "\n";
  return Print(ctx, out, text);
}

void AddImport(CLI::App& root, Context& ctx, Action& action) {
  auto* import = root.add_subcommand("import", "Import another control server's database");
  import->require_subcommand(1);
  auto* hs = import->add_subcommand("headscale", "Import a Headscale 0.29 SQLite database");
  auto db = Value<std::string>(), noise = Value<std::string>();
  hs->add_option("--db", *db, "Headscale's SQLite file (read, never written)")->required();
  hs->add_option("--noise-key", *noise,
                 "Headscale's noise_private.key: clients go on without logging in again");
  hs->callback([&, db, noise] {
    action = [&, db, noise] { return ImportHeadscale(ctx, *db, *noise); };
  });
}

void AddAuth(CLI::App& root, Context& ctx, Action& action) {
  auto* auth = root.add_subcommand("auth", "Decide pending logins and SSH checks");
  auth->require_subcommand(1);
  auto auth_id = Value<std::string>();
  auto* reg = auth->add_subcommand("register", "Complete a waiting login (tailscale up) for a user");
  auto user = Value<std::string>();
  reg->add_option("--auth-id", *auth_id, "The login's id (keel-authreq-...)")->required();
  reg->add_option("-u,--user", *user, "The user the node is registered to")->required();
  reg->callback([&, auth_id, user] {
    action = [&, auth_id, user] { return AuthRegister(ctx, *auth_id, *user); };
  });
  for (bool approve : {true, false}) {
    auto* cmd = auth->add_subcommand(approve ? "approve" : "reject",
                                     approve ? "Approve a pending auth request"
                                             : "Reject a pending auth request");
    cmd->add_option("--auth-id", *auth_id, "The request's id (keel-authreq-...)")->required();
    cmd->callback([&, auth_id, approve] {
      action = [&, auth_id, approve] { return AuthDecide(ctx, *auth_id, approve); };
    });
  }
}

}  // namespace

int RunCli(int argc, const char* const* argv, std::istream& in, std::ostream& out,
           std::ostream& err) {
  Context ctx;
  ctx.in = &in;
  ctx.out = &out;
  ctx.err = &err;
  ctx.interactive = ::isatty(STDIN_FILENO) == 1;
  Action action;

  CLI::App root("keel: a Tailscale-compatible control server", "keel");
  root.require_subcommand(1);
  // Global options may also follow the subcommand (`keel nodes list -o json`).
  root.fallthrough();
  root.add_option("-c,--config", ctx.config_path, "Config file (YAML)")->envname("KEEL_CONFIG");
  root.add_option("-o,--output", ctx.output,
                  "Output format: empty for people, json, json-line or yaml")
      ->check(CLI::IsMember({"", "json", "json-line", "yaml", "table"}));
  root.add_flag("--force", ctx.force, "Do not ask for confirmation");
  root.add_option("--remote", ctx.remote,
                  "Talk to a remote keel (http(s)://host:port) instead of the local socket")
      ->envname("KEEL_CLI_ADDRESS");
  root.add_option("--api-key", ctx.api_key, "API key for --remote")->envname("KEEL_CLI_API_KEY");
  root.add_flag("--insecure", ctx.insecure, "With an https:// --remote: skip certificate checks");
  root.set_version_flag("--version", std::string("keel ") + KEEL_VERSION);
  root.add_subcommand("serve", "Run the server")->callback([&] {
    action = [&] { return Serve(ctx); };
  });
  root.add_subcommand("version", "Print keel's version")->callback([&] {
    action = [&] {
      *ctx.out << "keel " << KEEL_VERSION << "\n";
      return 0;
    };
  });
  root.add_subcommand("configtest", "Check the config file and exit")->callback([&] {
    action = [&] { return ConfigTest(ctx); };
  });
  root.add_subcommand("health", "Check that the server and its database answer")->callback([&] {
    action = [&] { return Health(ctx); };
  });
  auto* generate = root.add_subcommand("generate", "Generate keys")->alias("gen");
  generate->require_subcommand(1);
  generate->add_subcommand("private-key", "Generate a private key for a keel server")->callback([&] {
    action = [&] { return GeneratePrivateKey(ctx); };
  });
  AddUsers(root, ctx, action);
  AddPreAuthKeys(root, ctx, action);
  AddApiKeys(root, ctx, action);
  AddNodes(root, ctx, action);
  AddPolicy(root, ctx, action);
  AddAuth(root, ctx, action);
  AddImport(root, ctx, action);

  try {
    root.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 reports bad arguments (and --help) by exception; this is its only boundary.
    // A word no command knows is said the way Headscale's CLI says it.
    if (std::string unknown = UnknownCommand(root); !unknown.empty()) return Fail(ctx, unknown);
    if (e.get_exit_code() != 0 && ctx.Machine()) return Fail(ctx, e.what());
    return root.exit(e, out, err);
  }
  return action ? action() : 1;
}

}  // namespace keel::cli
