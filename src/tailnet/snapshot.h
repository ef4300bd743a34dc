#pragma once
// Snapshot: an immutable view of the tailnet. Published atomically after every mutation;
// readers (map builders on any thread) hold a shared_ptr and never block writers.

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string_view>

#include "model/types.h"

namespace keel::policy {
class CompiledPolicy;
}

namespace keel::tailnet {

struct Snapshot {
  uint64_t version = 0;  // strictly increasing per published snapshot
  std::map<model::NodeId, std::shared_ptr<const model::Node>> nodes;  // ordered by id
  std::map<model::UserId, model::User> users;
  // Index for FindByNodeKey; maintained by the tailnet together with `nodes`.
  std::map<crypto::Key32, model::NodeId> by_node_key;
  // Nodes that announce routes or still have routes in effect (model/routes.h); few.
  std::set<model::NodeId> routers;
  // The policy compiled against exactly these users and nodes; null: no policy (every node
  // sees every node, allow-all filter).
  std::shared_ptr<const policy::CompiledPolicy> policy;

  const model::Node* FindNode(model::NodeId id) const;
  const model::Node* FindByNodeKey(const crypto::NodePublic& key) const;
  const model::User* FindUser(model::UserId id) const;
  const model::User* FindUserByName(std::string_view name) const;
};

}  // namespace keel::tailnet
