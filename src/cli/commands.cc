#include "cli/commands.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <functional>
#include <iostream>

#include "app/app.h"
#include "cli/admin_commands.h"
#include "cli/policy_commands.h"
#include "config/config.h"

namespace keel::cli {
namespace {

// Filled by the leaf command CLI11 selected; run after parsing succeeded.
using Action = std::function<int()>;

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
  *ctx.out << "config " << (ctx.config_path.empty() ? std::string("(defaults)") : ctx.config_path) << " is valid\n";
  return 0;
}

void AddUsers(CLI::App& root, Context& ctx, Action& action) {
  auto* users = root.add_subcommand("users", "Manage users")->alias("user");
  users->require_subcommand(1);

  auto* create = users->add_subcommand("create", "Create a user");
  auto name = std::make_shared<std::string>();
  auto display = std::make_shared<std::string>();
  auto email = std::make_shared<std::string>();
  create->add_option("name", *name, "User name")->required();
  create->add_option("-d,--display-name", *display, "Display name");
  create->add_option("--email", *email, "Email address");
  create->callback([&, name, display, email] {
    action = [&, name, display, email] { return UsersCreate(ctx, *name, *display, *email); };
  });

  users->add_subcommand("list", "List users")->alias("ls")->callback([&] {
    action = [&] { return UsersList(ctx); };
  });

  auto* rename = users->add_subcommand("rename", "Rename a user")->alias("mv");
  auto rename_id = std::make_shared<uint64_t>(0);
  auto rename_name = std::make_shared<std::string>();
  auto new_name = std::make_shared<std::string>();
  rename->add_option("-i,--identifier", *rename_id, "User id");
  rename->add_option("-n,--name", *rename_name, "User name");
  rename->add_option("-r,--new-name", *new_name, "New user name")->required();
  rename->callback([&, rename_id, rename_name, new_name] {
    action = [&, rename_id, rename_name, new_name] {
      return UsersRename(ctx, *rename_id, *rename_name, *new_name);
    };
  });

  auto* del = users->add_subcommand("delete", "Delete a user (it must own no nodes)");
  del->alias("destroy");
  auto del_name = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  del->add_option("name", *del_name, "User name")->required();
  del->add_flag("--force", *force, "Do not ask for confirmation");
  del->callback([&, del_name, force] {
    action = [&, del_name, force] { return UsersDelete(ctx, *del_name, *force); };
  });
}

void AddPreAuthKeys(CLI::App& root, Context& ctx, Action& action) {
  auto* keys = root.add_subcommand("preauthkeys", "Manage pre-auth keys")->alias("preauthkey");
  keys->require_subcommand(1);

  auto* create = keys->add_subcommand("create", "Create a pre-auth key");
  auto args = std::make_shared<PreAuthKeyArgs>();
  create->add_option("-u,--user", args->user, "Owner of the key")->required();
  create->add_flag("--reusable", args->reusable, "The key can register several nodes");
  create->add_flag("--ephemeral", args->ephemeral, "Nodes registered with it are ephemeral");
  create->add_option("-e,--expiration", args->expiration,
                     "Lifetime as a duration (30m, 24h, 90d; 0 = never)")
      ->capture_default_str();
  create->add_option("--tags", args->tags, "Tags for the nodes (tag:a,tag:b)")->delimiter(',');
  create->callback([&, args] { action = [&, args] { return PreAuthKeysCreate(ctx, *args); }; });

  auto* list = keys->add_subcommand("list", "List pre-auth keys")->alias("ls");
  auto user = std::make_shared<std::string>();
  list->add_option("-u,--user", *user, "Only this user's keys");
  list->callback([&, user] { action = [&, user] { return PreAuthKeysList(ctx, *user); }; });

  auto* expire = keys->add_subcommand("expire", "Expire a pre-auth key");
  auto key = std::make_shared<std::string>();
  expire->add_option("key", *key, "The key or its prefix")->required();
  expire->callback([&, key] { action = [&, key] { return PreAuthKeysExpire(ctx, *key); }; });

  auto* del = keys->add_subcommand("delete", "Delete a pre-auth key")->alias("rm");
  auto key_id = std::make_shared<uint64_t>(0);
  del->add_option("-i,--id", *key_id, "Key id")->required();
  del->callback([&, key_id] { action = [&, key_id] { return PreAuthKeysDelete(ctx, *key_id); }; });
}

// `nodes NAME -i ID FLAG a,b`: replaces one of a node's lists (routes, tags). As in Headscale
// the flag takes a comma-separated list, and `FLAG ""` empties the list.
void AddNodeListSetter(CLI::App* nodes, Context& ctx, Action& action, const std::string& name,
                       const std::string& help, const std::string& flag,
                       const std::string& flag_help,
                       int (*run)(Context&, uint64_t, const std::vector<std::string>&)) {
  auto* cmd = nodes->add_subcommand(name, help);
  auto id = std::make_shared<uint64_t>(0);
  auto list = std::make_shared<std::vector<std::string>>();
  cmd->add_option("-i,--identifier", *id, "Node id")->required();
  cmd->add_option(flag, *list, flag_help)->delimiter(',')->required()->expected(0, -1);
  cmd->callback([&ctx, &action, id, list, run] {
    std::erase(*list, std::string());
    action = [&ctx, id, list, run] { return run(ctx, *id, *list); };
  });
}

void AddNodes(CLI::App& root, Context& ctx, Action& action) {
  auto* nodes = root.add_subcommand("nodes", "Manage nodes")->alias("node");
  nodes->require_subcommand(1);

  auto* list = nodes->add_subcommand("list", "List nodes")->alias("ls");
  auto user = std::make_shared<std::string>();
  list->add_option("-u,--user", *user, "Only this user's nodes");
  list->callback([&, user] { action = [&, user] { return NodesList(ctx, *user); }; });

  auto id = std::make_shared<uint64_t>(0);
  auto force = std::make_shared<bool>(false);
  auto* del = nodes->add_subcommand("delete", "Delete a node");
  del->add_option("-i,--identifier", *id, "Node id")->required();
  del->add_flag("--force", *force, "Do not ask for confirmation");
  del->callback([&, id, force] {
    action = [&, id, force] { return NodesDelete(ctx, *id, *force); };
  });

  auto* expire = nodes->add_subcommand("expire", "Expire a node's key (logs it out)");
  expire->alias("logout");
  auto expiry = std::make_shared<std::string>();
  auto disable = std::make_shared<bool>(false);
  expire->add_option("-i,--identifier", *id, "Node id")->required();
  expire->add_option("-e,--expiry", *expiry,
                     "Expire at this time (RFC 3339, e.g. 2025-08-27T10:00:00Z); default now");
  expire->add_flag("-d,--disable", *disable, "Disable key expiry (the node never expires)");
  expire->callback([&, id, expiry, disable] {
    action = [&, id, expiry, disable] { return NodesExpire(ctx, *id, *expiry, *disable); };
  });

  auto* rename = nodes->add_subcommand("rename", "Change a node's MagicDNS name");
  auto new_name = std::make_shared<std::string>();
  rename->add_option("-i,--identifier", *id, "Node id")->required();
  rename->add_option("new_name", *new_name, "The new name (a DNS label)")->required();
  rename->callback([&, id, new_name] {
    action = [&, id, new_name] { return NodesRename(ctx, *id, *new_name); };
  });

  AddNodeListSetter(nodes, ctx, action, "approve-routes", "Manage the approved routes of a node",
                    "-r,--routes", "Routes to approve (CIDR[,CIDR]); empty: none",
                    NodesApproveRoutes);
  AddNodeListSetter(nodes, ctx, action, "tag", "Manage the tags of a node", "-t,--tags",
                    "Tags to set (tag:a,tag:b); empty: none", NodesTag);

  auto* list_routes =
      nodes->add_subcommand("list-routes", "List routes available on nodes")->alias("lsr");
  auto route_node = std::make_shared<uint64_t>(0);
  list_routes->add_option("-i,--identifier", *route_node, "Only this node");
  list_routes->callback([&, route_node] {
    action = [&, route_node] { return NodesListRoutes(ctx, *route_node); };
  });
}

void AddAuth(CLI::App& root, Context& ctx, Action& action) {
  auto* auth = root.add_subcommand("auth", "Decide pending auth requests (SSH checks)");
  auth->require_subcommand(1);
  auto auth_id = std::make_shared<std::string>();
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
  root.add_option("-o,--output", ctx.output, "Output format")
      ->check(CLI::IsMember({"json", "json-line", "table"}))
      ->capture_default_str();
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
  AddUsers(root, ctx, action);
  AddPreAuthKeys(root, ctx, action);
  AddNodes(root, ctx, action);
  AddPolicy(root, ctx, action);
  AddAuth(root, ctx, action);

  try {
    root.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 reports bad arguments (and --help) by exception; this is its only boundary.
    return root.exit(e, out, err);
  }
  return action ? action() : 1;
}

}  // namespace keel::cli
