#include "cli/policy_commands.h"

#include <memory>
#include <nlohmann/json.hpp>

#include "base/file.h"
#include "cli/output.h"
#include "policy/compiler.h"

namespace keel::cli {
namespace {

using nlohmann::json;

int PolicyGet(Context& ctx) {
  auto r = CallAdminApi(ctx, "GET", "/api/v1/policy");
  if (!r) return Fail(ctx, r.error().message);
  return Print(ctx, *r, (*r)["policy"].get<std::string>());
}

int PolicySend(Context& ctx, const std::string& file, bool check) {
  auto text = ReadFileText(file);
  if (!text) return Fail(ctx, text.error().message);
  auto r = CallAdminApi(ctx, check ? "POST" : "PUT",
                        check ? "/api/v1/policy/check" : "/api/v1/policy", json{{"policy", *text}});
  if (!r) return Fail(ctx, r.error().message);
  *ctx.out << (check ? "Policy is valid\n" : "Policy updated\n");
  return 0;
}

std::vector<std::string> StringList(const json& n, const char* key) {
  return n.contains(key) && n[key].is_array() ? n[key].get<std::vector<std::string>>()
                                              : std::vector<std::string>{};
}

// The golden captures' `topology` ({users[], nodes{hostname: {...}}}), or a whole capture.
void ReadTopology(const json& doc, std::vector<policy::PolicyUser>& users,
                  std::vector<policy::PolicyNode>& nodes) {
  const json& topo = doc.contains("topology") ? doc["topology"] : doc;
  const json users_list = topo.value("users", json::array());
  const json node_map = topo.value("nodes", json::object());
  for (const auto& u : users_list) {
    users.push_back({u.value("id", uint64_t{0}), u.value("name", ""), u.value("email", ""), {}});
  }
  uint64_t next_id = 1;
  for (const auto& [name, n] : node_map.items()) {
    policy::PolicyNode pn;
    pn.id = next_id++;
    pn.hostname = name;
    pn.tags = StringList(n, "tags");
    pn.ipv4 = n.value("ipv4", "");
    pn.ipv6 = n.value("ipv6", "");
    pn.routable_ips = StringList(n, "routable_ips");
    pn.approved_routes = StringList(n, "approved_routes");
    if (pn.tags.empty()) {
      std::string owner = n.value("user", "");
      for (const auto& u : users) {
        if (u.name == owner || (owner.empty() && &u == &users.front())) pn.user = u;
      }
    }
    nodes.push_back(std::move(pn));
  }
}

json Addresses(const policy::PolicyNode& n) {
  json out = json::array();
  if (!n.ipv4.empty()) out.push_back(n.ipv4 + "/32");
  if (!n.ipv6.empty()) out.push_back(n.ipv6 + "/128");
  return out;
}

int PolicyCompile(Context& ctx, const std::string& policy_file, const std::string& topo_file) {
  auto text = ReadFileText(policy_file);
  if (!text) return Fail(ctx, text.error().message);
  auto topo_text = ReadFileText(topo_file);
  if (!topo_text) return Fail(ctx, topo_text.error().message);
  json doc = json::parse(*topo_text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return Fail(ctx, topo_file + ": not a JSON object");
  std::vector<policy::PolicyUser> users;
  std::vector<policy::PolicyNode> nodes;
  ReadTopology(doc, users, nodes);
  auto parsed = policy::ParsePolicy(*text);
  if (!parsed) return Fail(ctx, "policy refused: " + parsed.error().message);
  auto compiled = policy::CompiledPolicy::Compile(
      std::make_shared<const policy::Policy>(std::move(*parsed)), users, nodes);
  if (!compiled) return Fail(ctx, "policy refused: " + compiled.error().message);
  const policy::CompiledPolicy& cp = **compiled;
  json out = json::object();
  for (size_t i = 0; i < nodes.size(); ++i) {
    json peers = json::array();
    for (uint64_t id : cp.Peers(i)) {
      const policy::PolicyNode& p = nodes[*cp.IndexOf(id)];
      peers.push_back({{"Name", p.hostname}, {"Addresses", Addresses(p)}, {"Tags", p.tags}});
    }
    json self{{"Name", nodes[i].hostname}, {"Addresses", Addresses(nodes[i])},
              {"CapMap", cp.CapMap(i)}, {"PrimaryRoutes", cp.ApprovedRoutes(i)}};
    out[nodes[i].hostname] = {
        {"packet_filter_rules", cp.PacketFilter(i)},
        {"netmap", {{"SSHPolicy", cp.SshPolicy(i)}, {"Peers", peers}, {"SelfNode", self}}}};
  }
  *ctx.out << RenderOutput(out, ctx.Machine() ? ctx.output : "json");
  return 0;
}

}  // namespace

void AddPolicy(CLI::App& root, Context& ctx, std::function<int()>& action) {
  auto* pol = root.add_subcommand("policy", "Show, replace, check or compile the access policy");
  pol->require_subcommand(1);
  auto* get = pol->add_subcommand("get", "Print the policy in force");
  for (const char* a : {"show", "view", "fetch"}) get->alias(a);  // Headscale's aliases
  get->callback([&] { action = [&] { return PolicyGet(ctx); }; });
  auto set_file = std::make_shared<std::string>();
  auto* set = pol->add_subcommand("set", "Replace the policy (policy.mode database)");
  set->alias("put")->alias("update");
  set->add_option("-f,--file", *set_file, "Policy file (HuJSON)")->required();
  set->callback([&, set_file] { action = [&, set_file] { return PolicySend(ctx, *set_file, false); }; });
  auto check_file = std::make_shared<std::string>();
  auto* check = pol->add_subcommand("check", "Validate a policy against the live tailnet");
  check->add_option("-f,--file", *check_file, "Policy file (HuJSON)")->required();
  check->callback([&, check_file] {
    action = [&, check_file] { return PolicySend(ctx, *check_file, true); };
  });
  auto files = std::make_shared<std::pair<std::string, std::string>>();
  auto* compile = pol->add_subcommand("compile", "Compile a policy offline against a topology file");
  compile->add_option("--policy", files->first, "Policy file (HuJSON)")->required();
  compile->add_option("--topology", files->second,
                      "Topology JSON ({users, nodes}, or a golden capture)")->required();
  compile->callback([&, files] {
    action = [&, files] { return PolicyCompile(ctx, files->first, files->second); };
  });
}

}  // namespace keel::cli
