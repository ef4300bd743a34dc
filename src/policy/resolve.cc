// Alias resolution: which nodes an alias names and which addresses they hold. Every alias the
// policy mentions is resolved once in BuildIndexes (through user, group and tag indexes), so
// later membership tests are a bit lookup.
#include <algorithm>

#include "policy/compiler_internal.h"

namespace keel::policy {

std::string EmailDomain(const std::string& email) {
  size_t at = email.rfind('@');
  return at == std::string::npos ? "" : email.substr(at + 1);
}

bool UserMatches(const PolicyUser& u, std::string_view name) {
  if (name.starts_with("user:")) name.remove_prefix(5);
  if (name.starts_with("*@")) return !u.email.empty() && EmailDomain(u.email) == name.substr(2);
  return u.email == name || u.name + "@" == name || (!u.email.empty() && u.name == name);
}

std::vector<uint64_t> CompiledPolicy::UsersNamed(const std::string& name) const {
  std::vector<uint64_t> out;
  std::string_view n = name;
  if (n.starts_with("user:")) n.remove_prefix(5);
  if (n.starts_with("*@")) {
    for (const auto& u : users_) {
      if (UserMatches(u, n)) out.push_back(u.id);
    }
    return out;
  }
  if (auto it = user_by_name_.find(std::string(n)); it != user_by_name_.end()) out = it->second;
  return out;
}

bool CompiledPolicy::UserOwnsTag(uint64_t user_id, const std::string& tag) const {
  auto owners = policy_->tag_owners.find(tag);
  if (owners == policy_->tag_owners.end()) return false;
  auto groups = user_groups_.find(user_id);
  for (const auto& owner : owners->second) {
    if (owner == "autogroup:member") return true;
    if (owner.starts_with("group:")) {
      if (groups != user_groups_.end() &&
          std::find(groups->second.begin(), groups->second.end(), owner) != groups->second.end()) {
        return true;
      }
      continue;
    }
    if (owner.starts_with("tag:") || owner.starts_with("autogroup:")) continue;  // not a user
    auto ids = UsersNamed(owner);
    if (std::find(ids.begin(), ids.end(), user_id) != ids.end()) return true;
  }
  return false;
}

void CompiledPolicy::BuildIndexes() {
  AssignIdentities();
  for (const auto& u : users_) {
    // The spellings UserMatches accepts: the email, "name@", and the bare name of an email user.
    auto add = [&](const std::string& key) {
      auto& ids = user_by_name_[key];
      if (std::find(ids.begin(), ids.end(), u.id) == ids.end()) ids.push_back(u.id);
    };
    if (!u.email.empty()) add(u.email), add(u.name);
    add(u.name + "@");
  }
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node& n = nodes_[i];
    for (const auto& t : n.in.tags) tag_nodes_[t].push_back(i);
    if (!n.tagged() && n.in.user) user_nodes_[n.in.user->id].push_back(i);
  }
  auto join = [&](uint64_t uid, const std::string& group) {
    auto& gs = user_groups_[uid];
    if (std::find(gs.begin(), gs.end(), group) != gs.end()) return;
    gs.push_back(group);
    group_users_[group].push_back(uid);
  };
  for (const auto& [group, members] : policy_->groups) {
    for (const auto& m : members) {
      for (uint64_t uid : UsersNamed(m)) join(uid, group);
    }
  }
  for (const auto& u : users_) {
    for (const auto& group : u.groups) join(u.id, group);
  }
  auto memo = [&](const std::vector<Alias>& aliases) {
    for (const auto& a : aliases) Memoize(a);
  };
  for (const Rule& r : policy_->rules) {
    memo(r.srcs);
    for (const auto& d : r.dsts) Memoize(d.alias);
  }
  for (const SshRule& r : policy_->ssh) memo(r.srcs), memo(r.dsts);
  for (const NodeAttr& na : policy_->node_attrs) memo(na.targets);
  for (const auto& [prefix, who] : policy_->route_approvers) memo(who);
  memo(policy_->exit_approvers);
}

// Resolves node-naming aliases (users, groups, tags, member/tagged) once.
void CompiledPolicy::Memoize(const Alias& a) {
  bool by_identity = a.kind == Alias::Kind::kUser || a.kind == Alias::Kind::kGroup || a.kind == Alias::Kind::kTag ||
                     a.Is("autogroup:member") || a.Is("autogroup:tagged");
  if (!by_identity || members_.contains(a.name)) return;
  Members m;
  m.bits.assign((nodes_.size() + 63) / 64, 0);
  auto add_user = [&](uint64_t uid) {
    if (auto it = user_nodes_.find(uid); it != user_nodes_.end()) {
      for (size_t i : it->second) SetBit(m.bits, i);
    }
  };
  if (a.kind == Alias::Kind::kUser) {
    for (uint64_t uid : UsersNamed(a.name)) add_user(uid);
  } else if (a.kind == Alias::Kind::kGroup) {
    // Both the policy's members and those an identity provider placed.
    if (auto it = group_users_.find(a.name); it != group_users_.end()) {
      for (uint64_t uid : it->second) add_user(uid);
    }
  } else if (a.kind == Alias::Kind::kTag) {
    if (auto it = tag_nodes_.find(a.name); it != tag_nodes_.end()) {
      for (size_t i : it->second) SetBit(m.bits, i);
    }
  } else {
    bool tagged = a.Is("autogroup:tagged");
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i].tagged() == tagged) SetBit(m.bits, i);
    }
  }
  std::vector<IpRange> ranges;
  ForEachBit(m.bits, [&](size_t i) {
    for (const auto& ip : nodes_[i].ips) ranges.push_back({ip, ip});
  });
  m.ips = IpSet::FromRanges(std::move(ranges));
  members_.emplace(a.name, std::move(m));
}

bool CompiledPolicy::NodeIn(size_t i, const Alias& a) const {
  if (auto it = members_.find(a.name); it != members_.end()) return TestBit(it->second.bits, i);
  const Node& n = nodes_[i];
  switch (a.kind) {
    case Alias::Kind::kStar:
      return true;
    case Alias::Kind::kUser:
      return !n.tagged() && n.in.user && UserMatches(*n.in.user, a.name);
    case Alias::Kind::kGroup: {
      if (n.tagged() || !n.in.user) return false;
      auto it = user_groups_.find(n.in.user->id);
      return it != user_groups_.end() && std::find(it->second.begin(), it->second.end(), a.name) != it->second.end();
    }
    case Alias::Kind::kTag:
      return std::find(n.in.tags.begin(), n.in.tags.end(), a.name) != n.in.tags.end();
    case Alias::Kind::kHost:
    case Alias::Kind::kPrefix:
      return std::any_of(n.ips.begin(), n.ips.end(), [&](const IpAddr& ip) {
        return a.range.Contains(ip);
      });
    case Alias::Kind::kAutogroup:
      if (a.name == "autogroup:member") return !n.tagged();
      if (a.name == "autogroup:tagged") return n.tagged();
      return a.name == "autogroup:danger-all";
  }
  return false;
}

IpSet CompiledPolicy::Resolve(const Alias& a) const {
  if (auto it = members_.find(a.name); it != members_.end()) return it->second.ips;
  switch (a.kind) {
    case Alias::Kind::kStar:
      return TailnetAddressSpace();
    case Alias::Kind::kHost:
    case Alias::Kind::kPrefix: {
      IpSet out;
      out.Add(a.range);
      return out;
    }
    case Alias::Kind::kAutogroup:
      if (a.name == "autogroup:internet") return InternetSet();
      if (a.name == "autogroup:danger-all") return IpSet::All();
      if (a.name != "autogroup:member" && a.name != "autogroup:tagged") return {};
      [[fallthrough]];
    default: {
      std::vector<IpRange> ranges;
      for (size_t i = 0; i < nodes_.size(); ++i) {
        if (!NodeIn(i, a)) continue;
        for (const auto& ip : nodes_[i].ips) ranges.push_back({ip, ip});
      }
      return IpSet::FromRanges(std::move(ranges));
    }
  }
}

std::vector<size_t> CompiledPolicy::NodesIn(const Alias& a) const {
  std::vector<size_t> out;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (NodeIn(i, a)) out.push_back(i);
  }
  return out;
}

std::vector<uint64_t> CompiledPolicy::AliasBits(const Alias& a) const {
  if (auto it = members_.find(a.name); it != members_.end()) return it->second.bits;
  std::vector<uint64_t> bits((nodes_.size() + 63) / 64, 0);
  for (size_t i : NodesIn(a)) SetBit(bits, i);
  return bits;
}

// Untagged nodes share their owner's identity; tagged nodes share the identity of their exact
// tag set. Everything an alias other than a host or prefix decides is equal within one.
void CompiledPolicy::AssignIdentities() {
  std::unordered_map<std::string, size_t> ids;
  for (auto& n : nodes_) {
    std::string key;
    if (n.tagged()) {
      std::vector<std::string> tags = n.in.tags;
      std::sort(tags.begin(), tags.end());
      for (const auto& t : tags) key += t + ",";
    } else {
      key = "user:" + (n.in.user ? std::to_string(n.in.user->id) : std::string("none"));
    }
    n.identity = ids.emplace(key, ids.size()).first->second;
  }
  for (const NodeAttr& na : policy_->node_attrs) {
    for (const auto& a : na.targets) {
      cap_map_by_ip_ |= a.kind == Alias::Kind::kHost || a.kind == Alias::Kind::kPrefix;
    }
  }
}

const std::vector<size_t>& CompiledPolicy::NodesOfUser(uint64_t user_id) const {
  static const std::vector<size_t> kNone;
  auto it = user_nodes_.find(user_id);
  return it == user_nodes_.end() ? kNone : it->second;
}

}  // namespace keel::policy
