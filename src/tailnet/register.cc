// Tailnet::Register: the decision order of control.md §1.4 for /machine/register.

#include <algorithm>

#include "model/names.h"
#include "model/routes.h"
#include "tailnet/auth_key.h"
#include "tailnet/tailnet_impl.h"

namespace keel::tailnet {
namespace {

using Kind = RegisterOutcome::Kind;

constexpr std::string_view kInvalidKey = "invalid pre auth key";
constexpr std::string_view kKeyExpired = "authkey expired";
constexpr std::string_view kKeyUsed = "authkey already used";
constexpr std::string_view kKeyInUse = "node key already in use by another machine";

RegisterOutcome Refused(std::string_view message) {
  RegisterOutcome out;
  out.kind = Kind::kRefused;
  out.error = std::string(message);
  return out;
}

// The tags a node registering with `key` gets: the key's own, else those the client asks for
// (`tailscale up --advertise-tags`), which tagOwners must let the key's user apply. Like
// Tailscale, a request with any tag the user may not apply is refused whole; the message is
// Tailscale's, as `tailscale up` prints it.
Result<std::vector<std::string>> TagsFor(const Snapshot& s, model::UserId user,
                                         const std::vector<std::string>& key_tags,
                                         std::vector<std::string> requested) {
  if (!key_tags.empty() || requested.empty()) return key_tags;
  std::sort(requested.begin(), requested.end());
  requested.erase(std::unique(requested.begin(), requested.end()), requested.end());
  std::vector<std::string> rejected;
  for (const auto& tag : requested) {
    if (!s.policy || !s.policy->UserOwnsTag(user, tag)) rejected.push_back(tag);
  }
  if (rejected.empty()) return requested;
  std::string list;
  for (const auto& t : rejected) list += (list.empty() ? "" : " ") + t;
  return MakeError(Errc::kPermissionDenied,
                   "requested tags [" + list + "] are invalid or not permitted");
}

}  // namespace

Result<RegisterOutcome> Tailnet::Register(const RegisterInput& input) {
  std::lock_guard lock(impl_->mu);
  return impl_->RegisterLocked(input);
}

RegisterOutcome Tailnet::Impl::Success(const model::Node& node) const {
  auto cur = Current();
  RegisterOutcome out;
  out.kind = node.IsExpired(clock.Now()) ? Kind::kNodeKeyExpired : Kind::kAuthorized;
  const model::Node* published = cur->FindNode(node.id);
  out.node = published != nullptr ? *published : node;
  if (const model::User* u = cur->FindUser(node.user_id)) out.user = *u;
  return out;
}

Result<RegisterOutcome> Tailnet::Impl::RegisterLocked(const RegisterInput& in) {
  SystemTime now = clock.Now();
  auto cur = Current();
  const model::Node* by_key = cur->FindByNodeKey(in.node_key);
  // A node key is bound to one machine forever; nothing below may cross that line.
  if (by_key != nullptr && by_key->machine_key != in.machine_key) return Refused(kKeyInUse);

  // 1. Logout: a past Expiry wins over everything else.
  if (!IsZeroTime(in.expiry) && in.expiry <= now) {
    if (by_key != nullptr) return Logout(*by_key);
    RegisterOutcome out;
    out.kind = Kind::kLoggedOut;  // unknown key: nothing to log out, the client wipes anyway
    return out;
  }
  // 2. Known node key without Auth: a restart of tailscaled.
  if (in.auth_key.empty() && by_key != nullptr) return Success(*by_key);
  // 3. Pre-auth key.
  if (!in.auth_key.empty()) return RegisterWithAuthKey(in, by_key);
  // 4. Unknown key, no Auth: a first login, `--force-reauth`, or a rotation after expiry. Each
  // needs someone to log in; the node (found by machine key then) keeps its addresses.
  RegisterOutcome out;
  out.kind = Kind::kLoginRequired;
  return out;
}

Result<RegisterOutcome> Tailnet::RegisterInteractive(const RegisterInput& in, model::UserId user) {
  std::lock_guard lock(impl_->mu);
  return impl_->RegisterForUser(in, user);
}

Result<RegisterOutcome> Tailnet::Impl::RegisterForUser(const RegisterInput& in,
                                                       model::UserId user) {
  auto cur = Current();
  if (cur->FindUser(user) == nullptr) {
    return MakeError(Errc::kNotFound, "user " + std::to_string(user) + " not found");
  }
  const model::Node* by_key = cur->FindByNodeKey(in.node_key);
  if (by_key != nullptr && by_key->machine_key != in.machine_key) return Refused(kKeyInUse);
  auto tags = TagsFor(*cur, user, {}, in.request_tags);
  if (!tags) {
    log->info("login refused: {}", tags.error().message);
    return Refused(tags.error().message);
  }
  Grant grant{user, nullptr};
  if (const model::Node* same = SameMachineNode(in, user, by_key)) {
    if (by_key != nullptr && by_key->id != same->id) return Refused(kKeyInUse);
    return ReauthInPlace(in, *same, grant, std::move(*tags));
  }
  if (by_key != nullptr) return Refused(kKeyInUse);
  return CreateNode(in, grant, std::move(*tags));
}

const model::Node* Tailnet::Impl::SameMachineNode(const RegisterInput& in, model::UserId user,
                                                  const model::Node* by_key) const {
  if (by_key != nullptr && by_key->user_id == user) return by_key;
  for (const auto& [id, node] : Current()->nodes) {
    if (node->machine_key == in.machine_key && node->user_id == user) return node.get();
  }
  return nullptr;
}

Result<void> Tailnet::Impl::MarkKeyUsed(store::Tx& tx, Grant grant) {
  if (grant.key == nullptr || grant.key->used) return {};
  model::PreAuthKey used = *grant.key;
  used.used = true;
  return tx.UpdatePreAuthKey(used);
}

void Tailnet::Impl::KeyUsedCommitted(Grant grant) {
  if (grant.key == nullptr || grant.key->used) return;
  model::PreAuthKey used = *grant.key;
  used.used = true;
  keys[used.id] = used;
}

Result<RegisterOutcome> Tailnet::Impl::Logout(const model::Node& node) {
  Draft d = Begin();
  RegisterOutcome out;
  out.kind = Kind::kLoggedOut;
  if (node.ephemeral) {
    out.node = node;
    KEEL_TRY(DeleteNodeLocked(d, node.id));
    Commit(std::move(d));
    log->info("node {} ({}) logged out and was deleted (ephemeral)", node.id, node.given_name);
    return out;
  }
  model::Node updated = node;
  updated.expiry = clock.Now();  // clamp: never store the client's 1970
  KEEL_TRY(store.Transaction([&](store::Tx& tx) { return tx.UpdateNode(updated); }));
  PutNode(d, updated, ChangeKind::kNodePatched);
  Commit(std::move(d));
  out.node = *Current()->FindNode(node.id);
  if (const model::User* u = Current()->FindUser(node.user_id)) out.user = *u;
  log->info("node {} ({}) logged out", node.id, node.given_name);
  return out;
}

Result<RegisterOutcome> Tailnet::Impl::RegisterWithAuthKey(const RegisterInput& in,
                                                           const model::Node* by_key) {
  auto parts = ParseAuthKey(in.auth_key);
  if (!parts) return Refused(kInvalidKey);
  auto key = FindKeyByPrefix(parts->prefix);
  if (!key || !AuthKeySecretMatches(parts->secret, key->secret_hash)) return Refused(kInvalidKey);
  auto cur = Current();
  if (cur->FindUser(key->user_id) == nullptr) return Refused(kInvalidKey);
  if (key->IsExpired(clock.Now())) return Refused(kKeyExpired);

  // Same machine and same owner: the node is re-registering (§1.3 C).
  const model::Node* same = SameMachineNode(in, key->user_id, by_key);
  auto tags = TagsFor(*cur, key->user_id, key->tags, in.request_tags);
  if (!tags) {
    log->info("registration refused: {}", tags.error().message);
    return Refused(tags.error().message);
  }
  if (same != nullptr) {
    if (by_key != nullptr && by_key->id != same->id) return Refused(kKeyInUse);
    if (key->used && !key->reusable &&
        (same->node_key != in.node_key || same->IsExpired(clock.Now()))) {
      return Refused(kKeyUsed);
    }
    return ReauthInPlace(in, *same, Grant{key->user_id, &*key}, std::move(*tags));
  }
  // The node key belongs to this machine's node of another user: never move a key between ids.
  if (by_key != nullptr) return Refused(kKeyInUse);
  if (key->used && !key->reusable) return Refused(kKeyUsed);
  return CreateNode(in, Grant{key->user_id, &*key}, std::move(*tags));
}

SystemTime Tailnet::Impl::InitialExpiry(const RegisterInput& in,
                                        const std::vector<std::string>& tags) const {
  SystemTime now = clock.Now();
  // A future expiry the client asked for wins (Headscale's rule); tagged nodes never expire.
  if (!IsZeroTime(in.expiry) && in.expiry > now) return in.expiry;
  if (!tags.empty() || settings.node_expiry.count() == 0) return ZeroTime();
  return now + settings.node_expiry;
}

Result<RegisterOutcome> Tailnet::Impl::ReauthInPlace(const RegisterInput& in, model::Node node,
                                                     Grant grant, std::vector<std::string> tags) {
  Draft d = Begin();
  const model::Node before = node;
  if (in.hostname != node.hostname) {
    if (model::IsAutoDerivedGivenName(node.given_name, node.hostname)) {
      node.given_name = UniqueGivenName(*d.next, node.id, model::GivenNameBase(in.hostname));
    }
    node.hostname = in.hostname;
  }
  node.node_key = in.node_key;
  node.hostinfo_json = in.hostinfo_json;
  node.announced_routes = model::RoutesFromHostinfo(node.hostinfo_json);
  node.tags = std::move(tags);
  node.expiry = InitialExpiry(in, node.tags);
  node.ephemeral = grant.key != nullptr && grant.key->ephemeral;
  if (grant.key != nullptr) node.auth_key_id = grant.key->id;
  KEEL_TRY(store.Transaction([&](store::Tx& tx) -> Result<void> {
    KEEL_TRY(tx.UpdateNode(node));
    return MarkKeyUsed(tx, grant);
  }));
  KeyUsedCommitted(grant);
  bool updated = node.hostname != before.hostname || node.given_name != before.given_name ||
                 node.tags != before.tags || node.hostinfo_json != before.hostinfo_json;
  bool patched = node.node_key != before.node_key || node.expiry != before.expiry;
  std::optional<ChangeKind> kind;
  if (updated) {
    kind = ChangeKind::kNodeUpdated;
  } else if (patched) {
    kind = ChangeKind::kNodePatched;
  }
  PutNode(d, node, kind);
  Commit(std::move(d));
  log->info("node {} ({}) re-registered {}", node.id, node.given_name,
            grant.key != nullptr ? "with a pre-auth key" : "after a login");
  return Success(node);
}

Result<RegisterOutcome> Tailnet::Impl::CreateNode(const RegisterInput& in, Grant grant,
                                                  std::vector<std::string> tags) {
  Draft d = Begin();
  model::Node node;
  node.machine_key = in.machine_key;
  node.node_key = in.node_key;
  node.user_id = grant.user_id;
  node.tags = std::move(tags);
  node.hostname = in.hostname;
  node.given_name = UniqueGivenName(*d.next, 0, model::GivenNameBase(in.hostname));
  node.hostinfo_json = in.hostinfo_json;
  node.announced_routes = model::RoutesFromHostinfo(node.hostinfo_json);
  node.created = clock.Now();
  node.expiry = InitialExpiry(in, node.tags);
  node.ephemeral = grant.key != nullptr && grant.key->ephemeral;
  if (grant.key != nullptr) node.auth_key_id = grant.key->id;
  auto addrs = ips.Allocate();
  if (!addrs) return addrs.error();
  node.ipv4 = addrs->first;
  node.ipv6 = addrs->second;
  auto r = store.Transaction([&](store::Tx& tx) -> Result<void> {
    auto inserted = tx.InsertNode(node);
    if (!inserted) return inserted.error();
    node.id = inserted->id;
    return MarkKeyUsed(tx, grant);
  });
  if (!r) {
    ips.Release(node.ipv4, node.ipv6);
    return r.error();
  }
  KeyUsedCommitted(grant);
  PutNode(d, node, ChangeKind::kNodeAdded);
  Commit(std::move(d));
  log->info("node {} ({}) registered for user {} at {}", node.id, node.given_name, node.user_id,
            node.ipv4->to_string());
  return Success(node);
}

}  // namespace keel::tailnet
