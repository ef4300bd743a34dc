#pragma once
// Compiles a parsed Policy against a tailnet into what each node receives: PacketFilter
// rules, SSHPolicy, CapMap, visible peers and effective route approvals.
//
// Cost model: Compile resolves every alias once through user, group and tag indexes, computes
// autogroup:self sources once per user, and builds an index from node address to the filter
// entries that name it, so NodeFilter is proportional to the rules that concern the node, not
// to the tailnet. SshPolicy and CapMap are computed once per identity (owner or tag set) and
// shared by every node with that identity (a mutex guards that cache). Outputs are immutable
// and may be read from many threads; a policy or tailnet change makes a new CompiledPolicy.
//
// A rule finds its source and destination nodes through an index of node addresses, so its
// cost follows the nodes it names. Recompile (the same policy after a tailnet change) keeps,
// shared, every rule the change does not concern, and works out which nodes' outputs the
// change can have touched: the nodes that changed, the members of every rule whose sources,
// destinations or filter text changed, and the devices of users who gained or lost one. Each
// node carries the generation of the compile that last touched it, so a session holding a
// view from an earlier compile of the same line knows in O(1) whether it must recompute.

#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "policy/ip_set.h"
#include "policy/policy.h"

namespace keel::policy {

struct PolicyUser {
  uint64_t id = 0;
  std::string name;
  std::string email;
  // Policy groups ("group:x") the user is in beyond the policy's own `groups`: given by an
  // identity provider.
  std::vector<std::string> groups;
  friend bool operator==(const PolicyUser&, const PolicyUser&) = default;
};

struct PolicyNode {
  uint64_t id = 0;
  std::string hostname;
  std::optional<PolicyUser> user;  // owner of an untagged node
  std::vector<std::string> tags;
  std::string ipv4;
  std::string ipv6;
  std::vector<std::string> routable_ips;     // advertised routes
  std::vector<std::string> approved_routes;  // approved by an admin
  friend bool operator==(const PolicyNode&, const PolicyNode&) = default;
};

struct CompileOptions {
  // Email domains that `user:*@<domain>` and `localpart:*@<domain>` may name (exact match).
  // Empty: the email domain of the tailnet owner (the user with the lowest id), which is what
  // a hosted tailnet is associated with.
  std::vector<std::string> associated_domains;
};

class CompiledPolicy {
 public:
  // Refuses the policy when it names a domain the tailnet is not associated with, or when a
  // `tests` or `sshTests` assertion fails.
  static Result<std::shared_ptr<const CompiledPolicy>> Compile(std::shared_ptr<const Policy> policy,
                                                               std::vector<PolicyUser> users,
                                                               std::vector<PolicyNode> nodes,
                                                               const CompileOptions& options = {});

  // Compiles prev's policy against the tailnet as it is now, continuing prev's line of
  // compiles (see ViewUnchangedSince).
  static Result<std::shared_ptr<const CompiledPolicy>> Recompile(const CompiledPolicy& prev,
                                                                 std::vector<PolicyUser> users,
                                                                 std::vector<PolicyNode> nodes,
                                                                 const CompileOptions& options = {});

  const std::shared_ptr<const Policy>& policy() const { return policy_; }
  // Whether what `earlier` gave `node` (peers, PacketFilter, SSHPolicy, CapMap) is what this
  // compile gives it. False unless `earlier` is this compile or one of its last
  // kRememberedAncestors ancestors through Recompile.
  bool ViewUnchangedSince(size_t node, const CompiledPolicy& earlier) const;
  // How many nodes this compile touched (all of them when it starts a line).
  size_t TouchedCount() const;
  // How many rules this compile kept from the one it follows, rather than compiling them again.
  size_t KeptRuleCount() const { return rules_kept_; }
  static constexpr size_t kRememberedAncestors = 32;

  size_t NodeCount() const;
  std::optional<size_t> IndexOf(uint64_t node_id) const;

  // tailcfg.FilterRule[] for the node (only rules where it is a destination).
  nlohmann::json PacketFilter(size_t node) const;
  // tailcfg.SSHPolicy {"rules": [...]}.
  nlohmann::json SshPolicy(size_t node) const;
  // How long an approved SSH check is remembered: the shortest checkPeriod of the policy's
  // check rules (default 12h; 0 means ask every time). Shortest, so no rule is asked less
  // often than it says.
  int64_t SshCheckPeriodSeconds() const;
  // NodeCapMap entries the policy grants (nodeAttrs, randomizeClientPort).
  nlohmann::json CapMap(size_t node) const;
  // Node ids the node may see (either side can reach the other).
  std::vector<uint64_t> Peers(size_t node) const;
  // Advertised routes that are approved (by an admin or by autoApprovers).
  std::vector<std::string> ApprovedRoutes(size_t node) const;
  // Whether tagOwners lets the user apply `tag` (named directly, through a group, or
  // autogroup:member); false for a tag the policy does not define.
  bool UserOwnsTag(uint64_t user_id, const std::string& tag) const;
  // Whether the policy defines `tag` in tagOwners.
  bool DefinesTag(const std::string& tag) const { return policy_->tag_owners.contains(tag); }

  struct Node;
  struct Entry;
  struct CRule;
  struct CSshRule;

  CompiledPolicy();
  ~CompiledPolicy();

 private:
  struct RuleSets;
  // `prev`: the compile this one follows (Recompile), whose unchanged rules it may keep.
  static Result<std::shared_ptr<CompiledPolicy>> Make(std::shared_ptr<const Policy> policy,
                                                      std::vector<PolicyUser> users, std::vector<PolicyNode> nodes,
                                                      const CompileOptions& options, const CompiledPolicy* prev);
  // (lineage.cc) Fills changed_ and removed_ from prev.
  void NoteChanges(const CompiledPolicy& prev);
  // (lineage.cc) Whether rules of prev may be kept as they are: no node left (indexes would
  // move), users are the same, and no routes changed.
  bool CanKeepRules(const CompiledPolicy& prev) const;
  // (lineage.cc) Whether prev's compiled `old` is what this compile would make of `sets`.
  bool Reusable(const CRule& old, const RuleSets& sets) const;
  RuleSets ResolveRule(const Rule& rule) const;
  CRule CompileRule(const Rule& rule, RuleSets sets) const;
  // (lineage.cc) Marks the nodes whose outputs may differ from prev's and inherits the rest.
  void ContinueLine(const CompiledPolicy& prev);
  Result<void> CheckDomains(const CompileOptions& options) const;
  Result<void> Build(const CompiledPolicy* prev);
  void BuildIndexes();
  // Fills rule_group_.
  void GroupRulesBySource();
  // "*" as text: the tailnet ranges and every approved subnet route, sorted.
  std::vector<std::string> StarStrings() const;
  std::vector<std::string> SourceStrings(const Rule& rule) const;
  void Memoize(const Alias& a);
  std::vector<uint64_t> UsersNamed(const std::string& name) const;
  const std::vector<size_t>& NodesOfUser(uint64_t user_id) const;
  Result<void> RunTests() const;
  // Whether a compiled rule lets `src` reach `dst`:`port` over IP protocol `proto`.
  bool RulesAllow(const IpAddr& src, const IpAddr& dst, int port, int proto) const;
  Result<void> RunSshTests() const;
  IpSet Resolve(const Alias& a) const;
  std::vector<size_t> NodesIn(const Alias& a) const;
  std::vector<uint64_t> AliasBits(const Alias& a) const;  // NodesIn as a bitset
  std::vector<size_t> SelfTargets(const Alias& src) const;
  bool NodeIn(size_t node, const Alias& a) const;
  nlohmann::json SshRules(size_t node, bool* node_specific) const;
  void BuildSsh();
  void AssignIdentities();
  void IndexAddresses();
  // Sets the bit of every node holding an address in `set`: a walk of the address index per
  // range, so the cost follows the set and the nodes it names, not the size of the tailnet.
  void MarkAddressesIn(const IpSet& set, std::vector<uint64_t>& bits) const;
  std::optional<nlohmann::json> SelfRule(size_t node, size_t rule) const;
  void AppendSpecial(size_t node, size_t rule, nlohmann::json& out) const;
  void AppendCompanions(const Node& n, const nlohmann::json& app, const std::vector<std::string>& srcs,
                        const IpSet& dsts, nlohmann::json& out) const;

  std::shared_ptr<const Policy> policy_;
  std::vector<PolicyUser> users_;
  std::vector<Node> nodes_;
  std::unordered_map<uint64_t, size_t> by_id_;
  std::vector<std::shared_ptr<const CRule>> rules_;  // shared with the compiles that kept them
  // Per rule: the first rule with the same sources and protocols, whose filter rule it joins.
  std::vector<size_t> rule_group_;
  size_t rules_kept_ = 0;
  std::vector<CSshRule> ssh_rules_;  // one per policy ssh entry
  IpSet subnet_routes_all_;
  std::vector<std::string> subnet_route_strings_;
  // Single-address filter entries by address; wider entries are scanned (they are few).
  std::unordered_map<std::string, std::vector<std::pair<size_t, size_t>>> by_addr_;
  std::vector<std::pair<size_t, size_t>> wide_entries_;
  // Every node address with its node index, sorted by address; nodes with approved subnet
  // routes or an exit route (few), which rules reach through their routes too.
  std::vector<std::pair<IpAddr, size_t>> addr_index_;
  std::vector<size_t> routed_;

  // Indexes built once per compile: user spellings -> user ids, user -> untagged nodes and
  // groups, tag -> nodes, and the node set (bits over node index) of each alias in the policy.
  struct Members {
    std::vector<uint64_t> bits;
    IpSet ips;
  };
  std::unordered_map<std::string, std::vector<uint64_t>> user_by_name_;
  std::unordered_map<uint64_t, std::vector<size_t>> user_nodes_;
  std::unordered_map<uint64_t, std::vector<std::string>> user_groups_;
  std::unordered_map<std::string, std::vector<uint64_t>> group_users_;  // the inverse
  std::unordered_map<std::string, std::vector<size_t>> tag_nodes_;
  std::unordered_map<std::string, Members> members_;

  // The line of compiles: this compile's generation (unique in the process), the generations
  // of its remembered ancestors, and per node the generation of the compile that last touched
  // what the node receives.
  uint64_t generation_ = 0;
  std::vector<uint64_t> ancestors_;
  std::vector<uint64_t> touched_at_;
  // After Recompile: the nodes that joined or changed since the previous compile (bits over
  // node index), and whether any node left.
  std::vector<uint64_t> changed_;
  bool removed_ = false;

  // SSHPolicy and CapMap depend only on a node's identity (owner or tags), with noted
  // exceptions, so they are computed once per identity on first request.
  bool cap_map_by_ip_ = false;  // a nodeAttrs target names addresses
  mutable std::mutex cache_mu_;
  mutable std::unordered_map<size_t, nlohmann::json> ssh_cache_;
  mutable std::unordered_map<size_t, nlohmann::json> cap_cache_;
};

}  // namespace keel::policy
