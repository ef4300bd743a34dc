#pragma once
// Internal structures of CompiledPolicy shared by compiler.cc, ssh.cc and policy_tests.cc.
// Immutable after CompiledPolicy::Build.

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "policy/compiler.h"

namespace keel::policy {

struct CompiledPolicy::Node {
  PolicyNode in;
  std::vector<IpAddr> ips;
  IpSet ip_set;
  IpSet subnet_routes;  // approved non-exit routes
  bool is_exit = false;
  std::vector<std::string> approved;  // effective approved routes, as text
  size_t identity = 0;  // nodes with the same owner (or the same tags) share an identity
  bool tagged() const { return !in.tags.empty(); }
};

// One filter entry of a rule: a prefix (or "*") and a port range.
struct CompiledPolicy::Entry {
  std::string ip;  // as sent ("*", "1.2.3.4", "10.0.0.0/8")
  IpRange range;
  bool star = false;
  PortRange ports;
};

struct CompiledPolicy::CRule {
  const Rule* rule = nullptr;
  IpSet src;
  IpSet src_nodes_only;  // src without the subnet routes a `*` source adds
  IpSet dst_all;         // every destination but autogroup:self and via prefixes
  std::vector<std::string> src_strings;
  std::vector<Entry> entries;           // regular destinations
  std::vector<PortRange> self_ports;    // autogroup:self destination ports (empty: none)
  bool has_self = false;
  std::unordered_map<uint64_t, IpSet> self_srcs;  // user id -> their devices among the sources
  std::vector<IpRange> via_dsts;        // via: resolved destination prefixes
  bool via_internet = false;
  std::vector<std::vector<IpRange>> app_dsts;  // per destination alias, for CapGrant
  std::vector<std::string> app_back_srcs;      // SrcIPs of companion caps: app_dsts as text
  std::vector<uint64_t> src_nodes, dst_nodes;  // bitsets over node index
};

// The address sets a rule compiles from (ResolveRule), which decide whether a recompile may
// keep the rule from the previous compile (Reusable).
struct CompiledPolicy::RuleSets {
  IpSet src;             // with the subnet routes a `*` source adds
  IpSet src_nodes_only;
  std::vector<IpSet> dsts;  // per rule.dsts entry; empty for autogroup:self and via rules
  IpSet dst_all;
  std::vector<IpRange> via_dsts;
  bool danger = false;
  bool via_internet = false;
};

// The node-independent part of one ssh entry: its sources grouped the way SSHPolicy lists them.
struct CompiledPolicy::CSshRule {
  const SshRule* rule = nullptr;
  IpSet src;
  nlohmann::json users;  // the sshUsers map every rule of the entry carries
  bool has_localpart = false;
  std::map<uint64_t, std::string> localparts;  // user id -> login, for localpart:*@domain users
  std::map<uint64_t, std::vector<IpAddr>> by_user;  // untagged source addresses per owner
  std::vector<IpAddr> tagged;                        // tagged source addresses
  std::vector<IpAddr> all;                           // by_user (in user order), then tagged
};

std::string EmailDomain(const std::string& email);
// Whether a policy user name (email, "name@", bare name, `user:` prefix, `*@domain`) names u.
bool UserMatches(const PolicyUser& u, std::string_view name);

// The domain of a canonical `localpart:*@<domain>` SSH user; nullopt for anything else
// (malformed localpart strings are ordinary login names).
std::optional<std::string> LocalpartDomain(const std::string& user);

// Whether the node carries one of the rule's via tags.
inline bool HasViaTag(const CompiledPolicy::Node& n, const Rule& rule) {
  return std::any_of(rule.via.begin(), rule.via.end(), [&](const std::string& t) {
    return std::find(n.in.tags.begin(), n.in.tags.end(), t) != n.in.tags.end();
  });
}

// Bits past the end are clear: a rule kept from an earlier compile is narrower.
inline bool TestBit(const std::vector<uint64_t>& b, size_t i) {
  return i / 64 < b.size() && ((b[i / 64] >> (i % 64)) & 1);
}
inline void SetBit(std::vector<uint64_t>& b, size_t i) { b[i / 64] |= uint64_t{1} << (i % 64); }
// Calls fn(i) for every set bit, in increasing order; cost follows the set bits, not the width.
template <class Fn>
void ForEachBit(const std::vector<uint64_t>& b, Fn&& fn) {
  for (size_t w = 0; w < b.size(); ++w) {
    for (uint64_t word = b[w]; word != 0; word &= word - 1) fn(w * 64 + static_cast<size_t>(__builtin_ctzll(word)));
  }
}

}  // namespace keel::policy
