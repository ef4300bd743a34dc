// Per-node SSHPolicy and the sshTests assertions.
#include <algorithm>
#include <map>

#include "policy/compiler_internal.h"

namespace keel::policy {

using nlohmann::json;

namespace {

json ActionJson(const SshRule& r) {
  if (!r.check) {
    return {{"accept", true}, {"allowAgentForwarding", true}, {"allowLocalPortForwarding", true},
            {"allowRemotePortForwarding", true}};
  }
  // The check period is enforced by the control plane when it answers holdAndDelegate; the
  // captured control plane never sends a sessionDuration for check rules. The URL must be
  // absolute and https: the client fetches it over its Noise channel only for https URLs, and
  // ignores the host (the captures say "unused").
  return {{"holdAndDelegate",
           "https://unused/machine/ssh/action/$SRC_NODE_ID/to/$DST_NODE_ID?local_user=$LOCAL_USER"}};
}

json Principals(const std::vector<IpAddr>& ips) {
  json p = json::array();
  for (const auto& ip : ips) p.push_back({{"nodeIP", ip.ToString()}});
  return p;
}

// The user map every rule of an SSH entry carries: root (mapped or refused), `*` for
// autogroup:nonroot, and each named login. localpart entries become rules of their own.
json BaseUserMap(const SshRule& r) {
  json users = json::object();
  bool root = false;
  for (const auto& u : r.users) {
    if (u == "autogroup:nonroot") users["*"] = "=";
    else if (u == "root") root = true;
    else if (!LocalpartDomain(u)) users[u] = u;
  }
  users["root"] = root ? "root" : "";
  return users;
}

}  // namespace

std::optional<std::string> LocalpartDomain(const std::string& user) {
  if (!user.starts_with("localpart:")) return std::nullopt;
  std::string pattern = user.substr(10);
  size_t at = pattern.rfind('@');
  if (at == std::string::npos || pattern.substr(0, at) != "*" || at + 1 == pattern.size()) return std::nullopt;
  return pattern.substr(at + 1);
}

// Everything about an ssh entry that does not depend on the destination node, once per compile.
void CompiledPolicy::BuildSsh() {
  for (const SshRule& r : policy_->ssh) {
    CSshRule c;
    c.rule = &r;
    for (const auto& a : r.srcs) c.src.AddSet(Resolve(a));
    c.users = BaseUserMap(r);
    for (const auto& u : r.users) {
      auto domain = LocalpartDomain(u);
      if (!domain) continue;
      c.has_localpart = true;
      for (const auto& pu : users_) {
        if (EmailDomain(pu.email) == *domain) {
          c.localparts[pu.id] = pu.email.substr(0, pu.email.rfind('@'));
        }
      }
    }
    std::vector<uint64_t> srcs((nodes_.size() + 63) / 64, 0);
    MarkAddressesIn(c.src, srcs);
    ForEachBit(srcs, [&](size_t i) {  // in node order, which the rules list sources in
      const Node& o = nodes_[i];
      if (o.tagged()) c.tagged.insert(c.tagged.end(), o.ips.begin(), o.ips.end());
      else if (o.in.user) c.by_user[o.in.user->id].insert(c.by_user[o.in.user->id].end(), o.ips.begin(), o.ips.end());
    });
    for (const auto& [uid, ips] : c.by_user) c.all.insert(c.all.end(), ips.begin(), ips.end());
    c.all.insert(c.all.end(), c.tagged.begin(), c.tagged.end());
    ssh_rules_.push_back(std::move(c));
  }
}

// Mirrors the hosted control plane: sources are grouped per owning user (by user id), tagged
// sources last; with localpart logins each user's rule is followed by one mapping the user to
// their own login. Check rules precede accept rules.
nlohmann::json CompiledPolicy::SshRules(size_t node, bool* node_specific) const {
  const Node& n = nodes_[node];
  json checks = json::array(), accepts = json::array();
  for (const CSshRule& c : ssh_rules_) {
    const SshRule& r = *c.rule;
    if (c.src.Empty()) continue;
    json& bucket = r.check ? checks : accepts;
    auto emit = [&](const std::vector<IpAddr>& ips, std::optional<uint64_t> uid) {
      if (ips.empty()) return;
      json rule = {{"principals", Principals(ips)}, {"sshUsers", c.users}, {"action", ActionJson(r)}};
      if (r.has_accept_env) rule["acceptEnv"] = r.accept_env;
      bucket.push_back(rule);
      if (!uid) return;
      if (auto it = c.localparts.find(*uid); it != c.localparts.end()) {
        rule["sshUsers"] = {{it->second, it->second}};
        bucket.push_back(std::move(rule));
      }
    };
    bool self = false, others = false, in_dst = false;
    for (const auto& d : r.dsts) {
      if (d.Is("autogroup:self")) {
        self = true;
      } else {
        others = true;
        in_dst = in_dst || NodeIn(node, d);
      }
    }
    const bool owned = !n.tagged() && n.in.user;
    auto own = [&]() -> const std::vector<IpAddr>& {  // the owner's devices among the sources
      static const std::vector<IpAddr> kNone;
      auto it = c.by_user.find(n.in.user->id);
      return it == c.by_user.end() ? kNone : it->second;
    };
    if (self && owned) emit(own(), n.in.user->id);
    if (!others) continue;
    if (in_dst && c.has_localpart) {
      for (const auto& [uid, ips] : c.by_user) emit(ips, uid);
      emit(c.tagged, std::nullopt);
    } else if (in_dst) {
      emit(c.all, std::nullopt);
    } else if (c.has_localpart && n.ip_set.Overlaps(c.src)) {
      // A source outside the destinations still gets its own user's localpart mapping.
      if (n.tagged()) {
        *node_specific = true;
        emit(n.ips, std::nullopt);
      } else if (owned) {
        emit(own(), n.in.user->id);
      }
    }
  }
  for (auto& a : accepts) checks.push_back(std::move(a));
  return checks;
}

int64_t CompiledPolicy::SshCheckPeriodSeconds() const {
  constexpr int64_t kDefault = 12 * 3600;  // Tailscale's default checkPeriod
  std::optional<int64_t> shortest;
  for (const SshRule& r : policy_->ssh) {
    if (!r.check) continue;
    int64_t p = r.check_period_s.value_or(kDefault);
    shortest = shortest ? std::min(*shortest, p) : p;
  }
  return shortest.value_or(kDefault);
}

nlohmann::json CompiledPolicy::SshPolicy(size_t node) const {
  const size_t identity = nodes_[node].identity;
  {
    std::lock_guard lock(cache_mu_);
    if (auto it = ssh_cache_.find(identity); it != ssh_cache_.end()) return it->second;
  }
  bool node_specific = false;
  json out = {{"rules", SshRules(node, &node_specific)}};
  if (!node_specific) {
    std::lock_guard lock(cache_mu_);
    ssh_cache_.emplace(identity, out);
  }
  return out;
}

namespace {

// The verdict of the node's SSH rules for a connection from `src` as `login`: "accept",
// "check" or "" (denied). First matching rule wins, like the client.
std::string SshVerdict(const json& rules, const std::vector<IpAddr>& src, const std::string& login) {
  for (const auto& r : rules) {
    bool principal = false;
    for (const auto& p : r["principals"]) {
      for (const auto& ip : src) principal |= p.value("nodeIP", "") == ip.ToString();
    }
    if (!principal) continue;
    const json& users = r["sshUsers"];
    std::string mapped;
    if (users.contains(login)) mapped = users[login].get<std::string>();
    else if (users.contains("*") && login != "root") mapped = users["*"].get<std::string>();
    if (mapped.empty()) continue;
    return r["action"].contains("holdAndDelegate") ? "check" : "accept";
  }
  return "";
}

}  // namespace

Result<void> CompiledPolicy::RunSshTests() const {
  for (const SshTest& t : policy_->ssh_tests) {
    std::vector<IpAddr> src;
    for (size_t i : NodesIn(t.src)) src.insert(src.end(), nodes_[i].ips.begin(), nodes_[i].ips.end());
    for (const auto& d : t.dsts) {
      auto fail = [&](const std::string& want, const std::string& user) {
        return MakeError(Errc::kInvalidArgument, "policy: sshTests: " + t.src.name + " -> " + d.name +
                                                     " as " + user + ": expected " + want);
      };
      // A destination no node answers to (an address outside the tailnet) accepts no one.
      auto dst_nodes = NodesIn(d);
      if (dst_nodes.empty() && !t.accept.empty()) return fail("accept", t.accept.front());
      if (dst_nodes.empty() && !t.check.empty()) return fail("check", t.check.front());
      for (size_t dn : dst_nodes) {
        json rules = SshPolicy(dn)["rules"];
        for (const auto& u : t.accept) {
          if (SshVerdict(rules, src, u).empty()) return fail("accept", u);
        }
        for (const auto& u : t.check) {
          if (SshVerdict(rules, src, u) != "check") return fail("check", u);
        }
        for (const auto& u : t.deny) {
          if (!SshVerdict(rules, src, u).empty()) return fail("deny", u);
        }
      }
    }
  }
  return {};
}

}  // namespace keel::policy
