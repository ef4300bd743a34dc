// Tailnet: the operator's mutations (users, pre-auth keys, node delete/expire/rename).

#include <algorithm>
#include <cctype>

#include "model/names.h"
#include "model/routes.h"
#include "tailnet/auth_key.h"
#include "tailnet/tailnet_impl.h"

namespace keel::tailnet {

Result<model::User> Tailnet::CreateUser(const std::string& name, const std::string& display_name,
                                        const std::string& email) {
  KEEL_TRY(model::ValidateUserName(name));
  std::lock_guard lock(impl_->mu);
  Draft d = impl_->Begin();
  if (d.next->FindUserByName(name) != nullptr) {
    return MakeError(Errc::kAlreadyExists, "user \"" + name + "\" already exists");
  }
  model::User user;
  user.name = name;
  user.display_name = display_name.empty() ? name : display_name;
  user.email = email;
  user.created = impl_->clock.Now();
  KEEL_TRY(impl_->store.Transaction([&](store::Tx& tx) -> Result<void> {
    auto r = tx.InsertUser(user);
    if (!r) return r.error();
    user = *r;
    return {};
  }));
  d.next->users[user.id] = user;
  impl_->Commit(std::move(d));
  return user;
}

Result<void> Tailnet::DeleteUser(const std::string& name) {
  std::lock_guard lock(impl_->mu);
  Draft d = impl_->Begin();
  const model::User* user = d.next->FindUserByName(name);
  if (user == nullptr) return MakeError(Errc::kNotFound, "user \"" + name + "\" not found");
  model::UserId id = user->id;
  auto owned = std::count_if(d.next->nodes.begin(), d.next->nodes.end(),
                             [&](const auto& e) { return e.second->user_id == id; });
  if (owned > 0) {
    return MakeError(Errc::kFailedPrecondition, "user \"" + name + "\" still owns " +
                                                    std::to_string(owned) + " node(s)");
  }
  KEEL_TRY(impl_->store.Transaction([&](store::Tx& tx) -> Result<void> {
    KEEL_TRY(tx.DeletePreAuthKeysOfUser(id));
    return tx.DeleteUser(id);
  }));
  std::erase_if(impl_->keys, [&](const auto& e) { return e.second.user_id == id; });
  d.next->users.erase(id);
  impl_->Commit(std::move(d));
  return {};
}

Result<model::User> Tailnet::RenameUser(model::UserId id, const std::string& new_name) {
  KEEL_TRY(model::ValidateUserName(new_name));
  std::lock_guard lock(impl_->mu);
  Draft d = impl_->Begin();
  auto it = d.next->users.find(id);
  if (it == d.next->users.end()) return MakeError(Errc::kNotFound, "user " + std::to_string(id) + " not found");
  if (it->second.name == new_name) return it->second;
  if (d.next->FindUserByName(new_name) != nullptr) {
    return MakeError(Errc::kAlreadyExists, "user \"" + new_name + "\" already exists");
  }
  model::User user = it->second;
  // A display name that was just the old name follows the rename.
  if (user.display_name == user.name) user.display_name = new_name;
  user.name = new_name;
  KEEL_TRY(impl_->store.Transaction([&](store::Tx& tx) { return tx.UpdateUser(user); }));
  it->second = user;
  Impl::RepublishNodesOfUser(d, id);
  impl_->Commit(std::move(d));
  return user;
}

namespace {

// A user name for someone the provider names `username` (or, failing that, by `email`):
// lowercased and stripped to what user names allow.
std::string ProviderUserName(const ProviderProfile& p) {
  auto clean = [](std::string_view raw) {
    std::string out;
    for (char c : raw) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
      if (ok) out.push_back(c);
    }
    while (!out.empty() && !std::isalnum(static_cast<unsigned char>(out.front()))) out.erase(0, 1);
    return out.substr(0, 200);
  };
  std::string name = model::ValidateUserName(p.username) ? p.username : clean(p.username);
  if (name.empty()) name = clean(std::string_view(p.email).substr(0, p.email.find('@')));
  return name.empty() ? "user" : name;
}

}  // namespace

Result<model::User> Tailnet::UpsertProviderUser(const ProviderProfile& profile) {
  if (profile.provider_id.empty()) {
    return MakeError(Errc::kInvalidArgument, "a provider user needs a provider identifier");
  }
  std::lock_guard lock(impl_->mu);
  Draft d = impl_->Begin();
  model::User user;
  bool found = false;
  for (const auto& [id, u] : d.next->users) {
    if (u.provider_id == profile.provider_id) {
      user = u;
      found = true;
    }
  }
  model::User before = user;
  if (!found) {
    std::string base = ProviderUserName(profile);
    user.name = base;
    for (int i = 2; d.next->FindUserByName(user.name) != nullptr; ++i) {
      user.name = base + "-" + std::to_string(i);
    }
    user.created = impl_->clock.Now();
    user.provider_id = profile.provider_id;
  }
  user.provider = profile.provider;
  // No email (the provider did not vouch for one) leaves the one stored before, as Headscale.
  if (!profile.email.empty()) user.email = profile.email;
  user.display_name = profile.display_name.empty() ? user.name : profile.display_name;
  user.profile_pic_url = profile.picture;
  user.provider_groups = profile.groups;
  if (found && user.email == before.email && user.display_name == before.display_name &&
      user.profile_pic_url == before.profile_pic_url && user.provider_groups == before.provider_groups &&
      user.provider == before.provider) {
    return user;
  }
  KEEL_TRY(impl_->store.Transaction([&](store::Tx& tx) -> Result<void> {
    if (found) return tx.UpdateUser(user);
    auto r = tx.InsertUser(user);
    if (!r) return r.error();
    user = *r;
    return {};
  }));
  d.next->users[user.id] = user;
  if (found) Impl::RepublishNodesOfUser(d, user.id);
  impl_->Commit(std::move(d));
  return user;
}

std::vector<model::User> Tailnet::ListUsers() const {
  std::vector<model::User> out;
  for (const auto& [id, user] : impl_->Current()->users) out.push_back(user);
  return out;
}

Result<CreatedPreAuthKey> Tailnet::CreatePreAuthKey(const std::string& user, bool reusable,
                                                    bool ephemeral, SystemTime expiration,
                                                    std::vector<std::string> tags) {
  for (const auto& tag : tags) {
    if (!tag.starts_with("tag:") || tag.size() == 4) {
      return MakeError(Errc::kInvalidArgument, "invalid tag \"" + tag + "\" (want tag:<name>)");
    }
  }
  std::sort(tags.begin(), tags.end());
  tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
  std::lock_guard lock(impl_->mu);
  auto snap = impl_->Current();
  const model::User* owner = snap->FindUserByName(user);
  if (owner == nullptr) return MakeError(Errc::kNotFound, "user \"" + user + "\" not found");
  // A tagged key hands out tags, so its user must be one tagOwners lets apply them.
  for (const auto& tag : tags) {
    if (!snap->policy || !snap->policy->UserOwnsTag(owner->id, tag)) {
      return MakeError(Errc::kFailedPrecondition,
                       "user \"" + user + "\" may not apply " + tag +
                           (snap->policy && snap->policy->DefinesTag(tag)
                                ? ": the policy's tagOwners do not list them"
                                : ": the policy's tagOwners do not define it"));
    }
  }
  auto secret = GenerateAuthKey();
  if (!secret) return secret.error();
  model::PreAuthKey key;
  key.prefix = secret->prefix;
  key.secret_hash = secret->secret_hash;
  key.user_id = owner->id;
  key.reusable = reusable;
  key.ephemeral = ephemeral;
  key.tags = std::move(tags);
  key.created = impl_->clock.Now();
  key.expiration = expiration;
  KEEL_TRY(impl_->store.Transaction([&](store::Tx& tx) -> Result<void> {
    auto r = tx.InsertPreAuthKey(key);
    if (!r) return r.error();
    key = *r;
    return {};
  }));
  impl_->keys[key.id] = key;
  return CreatedPreAuthKey{key, secret->text};
}

std::vector<model::PreAuthKey> Tailnet::ListPreAuthKeys(const std::string& user) const {
  std::lock_guard lock(impl_->mu);
  std::optional<model::UserId> filter;
  if (!user.empty()) {
    const model::User* u = impl_->Current()->FindUserByName(user);
    if (u == nullptr) return {};
    filter = u->id;
  }
  std::vector<model::PreAuthKey> out;
  for (const auto& [id, key] : impl_->keys) {
    if (!filter || key.user_id == *filter) out.push_back(key);
  }
  return out;
}

Result<void> Tailnet::ExpirePreAuthKey(const std::string& key_text) {
  std::string prefix = key_text;
  if (auto parts = ParseAuthKey(key_text)) prefix = parts->prefix;
  std::lock_guard lock(impl_->mu);
  auto key = impl_->FindKeyByPrefix(prefix);
  if (!key) return MakeError(Errc::kNotFound, "pre-auth key not found");
  SystemTime now = impl_->clock.Now();
  if (key->IsExpired(now)) return {};
  key->expiration = now;
  KEEL_TRY(impl_->store.Transaction([&](store::Tx& tx) { return tx.UpdatePreAuthKey(*key); }));
  impl_->keys[key->id] = *key;
  return {};
}

Result<void> Tailnet::DeletePreAuthKey(model::PreAuthKeyId id) {
  std::lock_guard lock(impl_->mu);
  if (!impl_->keys.contains(id)) {
    return MakeError(Errc::kNotFound, "pre-auth key " + std::to_string(id) + " not found");
  }
  Draft d = impl_->Begin();
  KEEL_TRY(impl_->DeletePreAuthKeyLocked(d, id));
  impl_->Commit(std::move(d));
  return {};
}

Result<void> Tailnet::Impl::DeletePreAuthKeyLocked(Draft& d, model::PreAuthKeyId id) {
  KEEL_TRY(store.Transaction([&](store::Tx& tx) { return tx.DeletePreAuthKey(id); }));
  keys.erase(id);
  // Nodes keep their registration; the store cleared their reference to the key.
  std::vector<model::Node> registered;
  for (const auto& [nid, node] : d.next->nodes) {
    if (node->auth_key_id == id) registered.push_back(*node);
  }
  for (auto& node : registered) {
    node.auth_key_id.reset();
    PutNode(d, std::move(node), std::nullopt);
  }
  return {};
}

Result<void> Tailnet::DeleteNode(model::NodeId id) {
  std::lock_guard lock(impl_->mu);
  Draft d = impl_->Begin();
  KEEL_TRY(impl_->DeleteNodeLocked(d, id));
  impl_->Commit(std::move(d));
  return {};
}

Result<model::Node> Tailnet::ExpireNode(model::NodeId id, std::optional<SystemTime> when) {
  std::lock_guard lock(impl_->mu);
  Draft d = impl_->Begin();
  const model::Node* cur = d.next->FindNode(id);
  if (cur == nullptr) return MakeError(Errc::kNotFound, "node " + std::to_string(id) + " not found");
  model::Node node = *cur;
  node.expiry = when.value_or(impl_->clock.Now());
  KEEL_TRY(impl_->store.Transaction([&](store::Tx& tx) { return tx.UpdateNode(node); }));
  Impl::PutNode(d, node, ChangeKind::kNodePatched);
  impl_->Commit(std::move(d));
  return *impl_->Current()->FindNode(id);
}

Result<model::Node> Tailnet::RenameNode(model::NodeId id, const std::string& new_name) {
  KEEL_TRY(model::ValidateDnsLabel(new_name));
  std::lock_guard lock(impl_->mu);
  Draft d = impl_->Begin();
  const model::Node* cur = d.next->FindNode(id);
  if (cur == nullptr) return MakeError(Errc::kNotFound, "node " + std::to_string(id) + " not found");
  if (cur->given_name == new_name) return *cur;
  for (const auto& [other_id, other] : d.next->nodes) {
    if (other_id != id && other->given_name == new_name) {
      return MakeError(Errc::kAlreadyExists, "name \"" + new_name + "\" is used by node " +
                                                 std::to_string(other_id));
    }
  }
  model::Node node = *cur;
  node.given_name = new_name;
  KEEL_TRY(impl_->store.Transaction([&](store::Tx& tx) { return tx.UpdateNode(node); }));
  Impl::PutNode(d, node, ChangeKind::kNodeUpdated);
  impl_->Commit(std::move(d));
  return *impl_->Current()->FindNode(id);
}

Result<model::Node> Tailnet::ApproveRoutes(model::NodeId id, const std::vector<std::string>& routes) {
  auto approved = model::CanonicalRouteList(routes);
  if (!approved) return approved.error();
  std::lock_guard lock(impl_->mu);
  Draft d = impl_->Begin();
  const model::Node* cur = d.next->FindNode(id);
  if (cur == nullptr) return MakeError(Errc::kNotFound, "node " + std::to_string(id) + " not found");
  const auto& announced = cur->announced_routes;
  for (const auto& r : routes) {
    std::string c = *model::CanonicalPrefix(r);
    if (!std::binary_search(announced.begin(), announced.end(), c)) {
      std::string list;
      for (const auto& a : announced) list += (list.empty() ? "" : ", ") + a;
      return MakeError(Errc::kFailedPrecondition,
                       "node " + std::to_string(id) + " does not advertise " + c +
                           (list.empty() ? " (it advertises no routes)" : " (it advertises " + list + ")"));
    }
  }
  // An exit node is approved as the client advertises it: both families, as far as announced.
  *approved = model::IntersectRoutes(*approved, announced);
  if (*approved == cur->approved_routes) return *cur;
  model::Node node = *cur;
  node.approved_routes = std::move(*approved);
  KEEL_TRY(impl_->store.Transaction([&](store::Tx& tx) { return tx.UpdateNode(node); }));
  Impl::PutNode(d, node, ChangeKind::kNodeUpdated);
  impl_->Commit(std::move(d));
  return *impl_->Current()->FindNode(id);
}

Result<model::Node> Tailnet::SetTags(model::NodeId id, std::vector<std::string> tags) {
  std::sort(tags.begin(), tags.end());
  tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
  std::lock_guard lock(impl_->mu);
  Draft d = impl_->Begin();
  const model::Node* cur = d.next->FindNode(id);
  if (cur == nullptr) return MakeError(Errc::kNotFound, "node " + std::to_string(id) + " not found");
  std::vector<std::string> invalid;
  for (const auto& tag : tags) {
    if (!tag.starts_with("tag:") || tag.size() == 4 || !d.next->policy ||
        !d.next->policy->DefinesTag(tag)) {
      invalid.push_back(tag);
    }
  }
  if (!invalid.empty()) {
    std::string list;
    for (const auto& t : invalid) list += (list.empty() ? "" : " ") + t;
    return MakeError(Errc::kInvalidArgument,
                     "requested tags [" + list + "] are invalid or not permitted (a tag must be "
                     "defined in the policy's tagOwners)");
  }
  if (tags == cur->tags) return *cur;
  model::Node node = *cur;
  node.tags = std::move(tags);
  KEEL_TRY(impl_->store.Transaction([&](store::Tx& tx) { return tx.UpdateNode(node); }));
  Impl::PutNode(d, node, ChangeKind::kNodeUpdated);
  impl_->Commit(std::move(d));
  return *impl_->Current()->FindNode(id);
}

}  // namespace keel::tailnet
