#pragma once
// Snapshot: an immutable view of the tailnet. Published atomically after every mutation;
// readers (map builders on any thread) hold a shared_ptr and never block writers.

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string_view>

#include "base/cow_map.h"
#include "model/types.h"

namespace keel::policy {
class CompiledPolicy;
}

namespace keel::tailnet {

// Chunking for the snapshot's CowMaps (base/cow_map.h): ids in runs of 64; keys by their first
// byte, spread evenly as keys are random.
struct NodeIdChunk {
  uint64_t operator()(model::NodeId id) const { return id >> 6; }
};
struct KeyChunk {
  uint64_t operator()(const crypto::Key32& key) const { return key[0]; }
};

// Every mutation publishes a new Snapshot copied from the last; the node maps are CowMaps so
// that copy costs little however large the tailnet.
struct Snapshot {
  uint64_t version = 0;  // strictly increasing per published snapshot
  CowMap<model::NodeId, std::shared_ptr<const model::Node>, NodeIdChunk> nodes;  // ordered by id
  std::map<model::UserId, model::User> users;
  // Index for FindByNodeKey; maintained by the tailnet together with `nodes`.
  CowMap<crypto::Key32, model::NodeId, KeyChunk> by_node_key;
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
