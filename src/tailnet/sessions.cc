// Tailnet: what live map sessions report (map updates, stream open/close) and the ephemeral
// node garbage collection that follows from it.

#include <nlohmann/json.hpp>

#include "model/names.h"
#include "model/routes.h"
#include "tailnet/tailnet_impl.h"

namespace keel::tailnet {
namespace {

using nlohmann::json;

struct HostinfoDiff {
  std::string merged;    // new hostinfo with the old NetInfo kept if the new one lacks it
  bool changed = false;  // differs from the old one outside NetInfo
  bool netinfo_changed = false;
};

Result<HostinfoDiff> MergeHostinfo(const std::string& old_text, const std::string& new_text) {
  json fresh = json::parse(new_text, nullptr, /*allow_exceptions=*/false);
  if (!fresh.is_object()) return MakeError(Errc::kInvalidArgument, "Hostinfo is not a JSON object");
  json old = json::parse(old_text, nullptr, false);
  if (!old.is_object()) old = json::object();
  if (!fresh.contains("NetInfo") && old.contains("NetInfo")) fresh["NetInfo"] = old["NetInfo"];
  HostinfoDiff diff;
  diff.netinfo_changed = fresh.value("NetInfo", json()) != old.value("NetInfo", json());
  json a = fresh, b = old;
  a.erase("NetInfo");
  b.erase("NetInfo");
  diff.changed = a != b;
  diff.merged = fresh.dump();
  return diff;
}

}  // namespace

Result<model::Node> Tailnet::ApplyMapUpdate(const crypto::MachinePublic& machine,
                                            const crypto::NodePublic& node_key,
                                            const MapUpdate& update) {
  std::lock_guard lock(impl_->mu);
  // Most map requests change nothing: read the published snapshot and copy it (Begin) only
  // once there is something to publish.
  auto snap = impl_->Current();
  const model::Node* cur = snap->FindByNodeKey(node_key);
  if (cur == nullptr) return MakeError(Errc::kNotFound, "unknown node key");
  if (cur->machine_key != machine) {
    return MakeError(Errc::kPermissionDenied, "node key belongs to another machine");
  }
  model::Node node = *cur;
  bool patched = false, updated = false, dirty = false;
  if (update.disco_key && !update.disco_key->IsZero() &&
      *update.disco_key != node.disco_key) {
    node.disco_key = *update.disco_key;
    patched = true;
  }
  if (update.endpoints && *update.endpoints != node.endpoints) {
    node.endpoints = *update.endpoints;
    patched = true;
  }
  if (update.home_derp && *update.home_derp != node.home_derp) {
    node.home_derp = *update.home_derp;
    patched = true;
  }
  if (update.cap_version != 0 && update.cap_version != node.cap_version) {
    node.cap_version = update.cap_version;
    dirty = true;
  }
  if (update.hostinfo_json) {
    auto diff = MergeHostinfo(node.hostinfo_json, *update.hostinfo_json);
    if (!diff) return diff.error();
    if (diff->changed || diff->netinfo_changed) {
      node.hostinfo_json = diff->merged;
      node.announced_routes = model::RoutesFromHostinfo(node.hostinfo_json);
      dirty = true;
    }
    if (diff->changed) {
      updated = true;
      // The client's Hostinfo is untrusted: a Hostname that is not a string is ignored, as an
      // absent one is (value() would throw on it).
      json hi = json::parse(diff->merged, nullptr, false);
      auto named = hi.is_object() ? hi.find("Hostname") : hi.end();
      std::string hostname = named != hi.end() && named->is_string() ? named->get<std::string>() : node.hostname;
      if (hostname != node.hostname) {
        if (model::IsAutoDerivedGivenName(node.given_name, node.hostname)) {
          node.given_name =
              Impl::UniqueGivenName(*snap, node.id, model::GivenNameBase(hostname));
        }
        node.hostname = hostname;
      }
    }
  }
  if (!patched && !updated && !dirty) return node;
  KEEL_TRY(impl_->store.Transaction([&](store::Tx& tx) { return tx.UpdateNode(node); }));
  std::optional<ChangeKind> kind;
  if (updated) {
    kind = ChangeKind::kNodeUpdated;
  } else if (patched) {
    kind = ChangeKind::kNodePatched;
  }
  Draft d = impl_->Begin();
  Impl::PutNode(d, node, kind);
  impl_->Commit(std::move(d));
  return *impl_->Current()->FindNode(node.id);
}

void Tailnet::StreamOpened(model::NodeId id) {
  std::lock_guard lock(impl_->mu);
  auto snap = impl_->Current();
  const model::Node* cur = snap->FindNode(id);
  if (cur == nullptr) return;
  impl_->ephemeral_deadlines.erase(id);
  // A node that connects proves it is alive, so it is a healthy router again.
  if ((++impl_->streams[id] > 1 || cur->online) && !cur->unhealthy) return;
  model::Node node = *cur;
  node.online = true;
  node.unhealthy = false;
  Draft d = impl_->Begin();
  Impl::PutNode(d, std::move(node), ChangeKind::kNodeOnline);
  impl_->Commit(std::move(d));
}

void Tailnet::StreamClosed(model::NodeId id) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->streams.find(id);
  if (it == impl_->streams.end()) return;
  if (--it->second > 0) return;
  impl_->streams.erase(it);
  const model::Node* cur = impl_->Current()->FindNode(id);
  if (cur == nullptr) return;
  model::Node node = *cur;
  SystemTime now = impl_->clock.Now();
  node.online = false;
  node.last_seen = now;
  auto r = impl_->store.Transaction([&](store::Tx& tx) { return tx.UpdateNode(node); });
  // Going offline is a fact whether or not last_seen could be saved.
  if (!r) impl_->log->warn("node {}: saving last_seen failed: {}", id, r.error().message);
  if (node.ephemeral) {
    impl_->ephemeral_deadlines[id] = now + impl_->settings.ephemeral_inactivity_timeout;
  }
  Draft d = impl_->Begin();
  Impl::PutNode(d, std::move(node), ChangeKind::kNodeOffline);
  impl_->Commit(std::move(d));
}

size_t Tailnet::RunMaintenance() {
  std::lock_guard lock(impl_->mu);
  SystemTime now = impl_->clock.Now();
  std::vector<model::NodeId> due;
  for (const auto& [id, deadline] : impl_->ephemeral_deadlines) {
    if (deadline <= now && !impl_->streams.contains(id)) due.push_back(id);
  }
  std::vector<model::PreAuthKeyId> stale_keys;
  for (const auto& [id, key] : impl_->keys) {
    if (!IsZeroTime(key.expiration) && key.expiration + kExpiredKeyRetention <= now) {
      stale_keys.push_back(id);
    }
  }
  if (due.empty() && stale_keys.empty()) return 0;
  Draft d = impl_->Begin();
  size_t deleted = 0;
  for (model::NodeId id : due) {
    auto r = impl_->DeleteNodeLocked(d, id);
    if (!r) {
      // Leave the deadline in place: the next run retries.
      impl_->log->warn("deleting inactive ephemeral node {} failed: {}", id, r.error().message);
      continue;
    }
    impl_->log->info("deleted ephemeral node {} after inactivity", id);
    ++deleted;
  }
  for (model::PreAuthKeyId id : stale_keys) {
    if (auto r = impl_->DeletePreAuthKeyLocked(d, id); !r) {
      impl_->log->warn("deleting expired pre-auth key {} failed: {}", id, r.error().message);
      continue;
    }
    impl_->log->info("deleted pre-auth key {}, expired over {} days ago", id,
                     std::chrono::duration_cast<std::chrono::hours>(kExpiredKeyRetention).count() / 24);
  }
  impl_->Commit(std::move(d));
  return deleted;
}

void Tailnet::SetRouterHealth(const std::map<model::NodeId, bool>& healthy) {
  std::lock_guard lock(impl_->mu);
  auto snap = impl_->Current();
  Draft d = impl_->Begin();
  bool changed = false;
  for (const auto& [id, ok] : healthy) {
    const model::Node* cur = snap->FindNode(id);
    if (cur == nullptr || cur->unhealthy == !ok) continue;
    impl_->log->info("router {} ({}) is {}", id, cur->given_name,
                     ok ? "answering again" : "not answering; its primary routes move");
    model::Node node = *cur;
    node.unhealthy = !ok;
    Impl::PutNode(d, std::move(node), ChangeKind::kNodeUpdated);
    changed = true;
  }
  if (changed) impl_->Commit(std::move(d));
}

}  // namespace keel::tailnet
