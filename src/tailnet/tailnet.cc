#include "tailnet/tailnet.h"

#include <boost/asio/post.hpp>
#include <set>

#include "model/routes.h"
#include "tailnet/tailnet_impl.h"

namespace keel::tailnet {

// ---------------------------------------------------------------- publication

std::shared_ptr<const Snapshot> Tailnet::Impl::Current() const {
  std::lock_guard lock(snap_mu);
  return snap;
}

Draft Tailnet::Impl::Begin() const {
  auto cur = Current();
  Draft d{std::make_shared<Snapshot>(*cur), {}};
  d.next->version = cur->version + 1;
  return d;
}

void Tailnet::Impl::PutNode(Draft& d, model::Node node, std::optional<ChangeKind> kind) {
  if (const model::Node* old = d.next->FindNode(node.id)) {
    if (old->node_key != node.node_key) d.next->by_node_key.erase(old->node_key.raw());
  }
  node.version = d.next->version;
  d.next->by_node_key[node.node_key.raw()] = node.id;
  model::NodeId id = node.id;
  // A node with no routes left stays a router until UpdateRoutes has cleared its derived ones.
  if (!node.announced_routes.empty() || !node.routes_in_effect.empty()) {
    d.next->routers.insert(id);
  } else {
    d.next->routers.erase(id);
  }
  d.next->nodes[id] = std::make_shared<const model::Node>(std::move(node));
  if (kind) d.changes.push_back(Change{*kind, id});
}

void Tailnet::Impl::RepublishNodesOfUser(Draft& d, model::UserId user) {
  std::vector<model::Node> owned;
  for (const auto& [nid, node] : d.next->nodes) {
    if (node->user_id == user) owned.push_back(*node);
  }
  for (auto& node : owned) PutNode(d, std::move(node), ChangeKind::kNodeUpdated);
}

void Tailnet::Impl::RemoveNode(Draft& d, model::NodeId id) {
  if (const model::Node* old = d.next->FindNode(id)) {
    d.next->by_node_key.erase(old->node_key.raw());
    d.next->routers.erase(id);
    d.next->nodes.erase(id);
    d.changes.push_back(Change{ChangeKind::kNodeRemoved, id});
  }
}

void Tailnet::Impl::Commit(Draft d) {
  RecompilePolicy(d);
  UpdateRoutes(d);
  std::shared_ptr<const Snapshot> published = std::move(d.next);
  {
    std::lock_guard lock(snap_mu);
    snap = published;
  }
  if (d.changes.empty()) return;
  auto changes = std::make_shared<const Changes>(std::move(d.changes));
  std::lock_guard lock(sub_mu);
  for (const auto& [id, sub] : subs) {
    boost::asio::post(sub->executor, [sub = sub, published, changes] {
      if (sub->active.load()) sub->listener(published, *changes);
    });
  }
}

// ---------------------------------------------------------------- helpers

std::string Tailnet::Impl::UniqueGivenName(const Snapshot& s, model::NodeId self,
                                           std::string base) {
  // Only names sharing base's start can collide with base or a suffixed form of it (a suffix
  // of up to 8 characters cuts base to kMaxDnsLabel - 8); collecting just those keeps a
  // registration from allocating a set of every name in the tailnet.
  size_t shared = std::min(base.size(), model::kMaxDnsLabel - 8);
  std::set<std::string_view> taken;
  for (const auto& [id, node] : s.nodes) {
    if (id != self && node->given_name.compare(0, shared, base, 0, shared) == 0) {
      taken.insert(node->given_name);
    }
  }
  if (!taken.contains(base)) return base;
  for (int i = 1;; ++i) {
    std::string suffix = "-" + std::to_string(i);
    std::string stem = base.substr(0, std::min(base.size(), model::kMaxDnsLabel - suffix.size()));
    std::string candidate = stem + suffix;
    if (!taken.contains(candidate)) return candidate;
  }
}

Result<void> Tailnet::Impl::DeleteNodeLocked(Draft& d, model::NodeId id) {
  const model::Node* node = d.next->FindNode(id);
  if (node == nullptr) return MakeError(Errc::kNotFound, "node " + std::to_string(id) + " not found");
  KEEL_TRY(store.Transaction([&](store::Tx& tx) { return tx.DeleteNode(id); }));
  ips.Release(node->ipv4, node->ipv6);
  streams.erase(id);
  ephemeral_deadlines.erase(id);
  RemoveNode(d, id);
  return {};
}

std::optional<model::PreAuthKey> Tailnet::Impl::FindKeyByPrefix(std::string_view prefix) const {
  for (const auto& [id, key] : keys) {
    if (key.prefix == prefix) return key;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------- lifecycle

Tailnet::Tailnet(Settings settings, store::Store& store, const Clock& clock,
                 std::shared_ptr<spdlog::logger> logger)
    : impl_(std::make_unique<Impl>(std::move(settings), store, clock, std::move(logger))) {
  impl_->recompiler = std::thread([impl = impl_.get()] { impl->RunRecompiler(); });
  Impl::ExportPolicyMetrics();
}

Tailnet::~Tailnet() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->closing = true;
  }
  impl_->recompile_cv.notify_all();
  impl_->recompiler.join();
}

Result<void> Tailnet::Load() {
  std::lock_guard lock(impl_->mu);
  std::vector<model::User> users;
  std::vector<model::Node> nodes;
  std::vector<model::PreAuthKey> keys;
  KEEL_TRY(impl_->store.Transaction([&](store::Tx& tx) -> Result<void> {
    auto u = tx.ListUsers();
    if (!u) return u.error();
    auto n = tx.ListNodes();
    if (!n) return n.error();
    auto k = tx.ListPreAuthKeys();
    if (!k) return k.error();
    users = std::move(*u);
    nodes = std::move(*n);
    keys = std::move(*k);
    return {};
  }));
  // A fresh snapshot (not a copy of the current one): the store is the whole truth.
  Draft d{std::make_shared<Snapshot>(), {Change{ChangeKind::kFull, 0}}};
  d.next->version = impl_->Current()->version + 1;
  for (auto& u : users) d.next->users[u.id] = std::move(u);
  impl_->ips.Reset();
  impl_->streams.clear();
  impl_->ephemeral_deadlines.clear();
  SystemTime now = impl_->clock.Now();
  for (auto& n : nodes) {
    impl_->ips.MarkUsed(n.ipv4, n.ipv6);
    // Nobody is connected after a restart: ephemeral nodes get one timeout to come back.
    if (n.ephemeral) {
      impl_->ephemeral_deadlines[n.id] = now + impl_->settings.ephemeral_inactivity_timeout;
    }
    n.online = false;
    n.announced_routes = model::RoutesFromHostinfo(n.hostinfo_json);
    Impl::PutNode(d, std::move(n), std::nullopt);
  }
  impl_->keys.clear();
  for (auto& k : keys) impl_->keys[k.id] = std::move(k);
  if (impl_->settings.load_stored_policy) KEEL_TRY(impl_->LoadStoredPolicy(*d.next));
  impl_->Commit(std::move(d));
  impl_->log->info("tailnet loaded: {} users, {} nodes, {} pre-auth keys", users.size(),
                   nodes.size(), keys.size());
  return {};
}

std::shared_ptr<const Snapshot> Tailnet::snapshot() const { return impl_->Current(); }

// ---------------------------------------------------------------- change feed

uint64_t Tailnet::Subscribe(boost::asio::any_io_executor executor, Listener listener) {
  auto sub = std::make_shared<Subscriber>();
  sub->executor = std::move(executor);
  sub->listener = std::move(listener);
  std::lock_guard lock(impl_->sub_mu);
  uint64_t id = impl_->next_sub++;
  impl_->subs[id] = std::move(sub);
  return id;
}

void Tailnet::Unsubscribe(uint64_t id) {
  std::lock_guard lock(impl_->sub_mu);
  auto it = impl_->subs.find(id);
  if (it == impl_->subs.end()) return;
  it->second->active.store(false);
  impl_->subs.erase(it);
}

Result<void> Tailnet::CheckStore() const {
  return impl_->store.Transaction([](store::Tx& tx) -> Result<void> {
    KEEL_TRY(tx.GetSetting("health"));
    return {};
  });
}

}  // namespace keel::tailnet
