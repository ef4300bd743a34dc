#pragma once
// The parsed form of a Tailscale policy file (acls, grants, groups, hosts, tagOwners,
// autoApprovers, ssh, nodeAttrs, tests, sshTests) and its validation.
//
// ParsePolicy is pure: text in, immutable Policy (or an error naming line and key) out. A
// Policy never changes after parsing and may be shared between threads.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "policy/ip_set.h"

namespace keel::policy {

struct Alias {
  enum class Kind { kStar, kUser, kGroup, kTag, kHost, kPrefix, kAutogroup };
  Kind kind = Kind::kStar;
  std::string name;  // as written (user email, group:x, tag:x, host name, autogroup:x)
  IpRange range;     // kPrefix only
  bool Is(std::string_view autogroup) const { return kind == Kind::kAutogroup && name == autogroup; }
};

struct PortRange {
  uint16_t first = 0;
  uint16_t last = 65535;
  friend bool operator==(const PortRange&, const PortRange&) = default;
};

struct DstSpec {
  Alias alias;
  std::vector<PortRange> ports;
};

// One unit of access: an ACL entry, or the `ip` entries of a grant that share protocols.
struct Rule {
  std::vector<Alias> srcs;
  std::vector<DstSpec> dsts;
  std::vector<int> protos;   // empty: the client default (TCP, UDP, ICMP)
  nlohmann::json app;        // grant app capabilities (object) or null
  std::vector<std::string> via;  // via tags
  bool from_acl = false;
};

struct SshRule {
  bool check = false;
  std::vector<Alias> srcs;
  std::vector<Alias> dsts;
  std::vector<std::string> users;
  std::optional<int64_t> check_period_s;  // absent: default (12h); 0: always
  std::vector<std::string> accept_env;
  bool has_accept_env = false;
};

struct NodeAttr {
  std::vector<Alias> targets;
  std::vector<std::string> attrs;
  nlohmann::json app;
};

struct PolicyTest {
  Alias src;
  std::string proto;  // "" or tcp/udp/sctp
  std::vector<std::string> accept;
  std::vector<std::string> deny;
};

struct SshTest {
  Alias src;
  std::vector<Alias> dsts;
  std::vector<std::string> accept;
  std::vector<std::string> check;
  std::vector<std::string> deny;
};

struct Policy {
  std::string text;  // the source, for line numbers in later errors
  std::map<std::string, std::vector<std::string>> groups;  // members: user emails
  std::map<std::string, IpRange> hosts;
  std::map<std::string, std::vector<std::string>> tag_owners;
  std::vector<Rule> rules;
  bool has_rules = false;  // acls or grants present (else allow all)
  std::vector<std::pair<IpRange, std::vector<Alias>>> route_approvers;
  std::vector<Alias> exit_approvers;
  std::vector<SshRule> ssh;
  bool has_ssh = false;
  std::vector<NodeAttr> node_attrs;
  bool randomize_client_port = false;
  std::vector<PolicyTest> tests;
  std::vector<SshTest> ssh_tests;
};

// Parses and validates; errors say which line and key are wrong.
Result<Policy> ParsePolicy(std::string_view hujson);
// Resolves one alias name against a parsed policy's groups, tags and hosts.
Result<Alias> ParsePolicyAlias(const Policy& policy, const std::string& name);

}  // namespace keel::policy
