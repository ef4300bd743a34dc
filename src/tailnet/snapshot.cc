#include "tailnet/snapshot.h"

namespace keel::tailnet {

const model::Node* Snapshot::FindNode(model::NodeId id) const {
  auto it = nodes.find(id);
  return it == nodes.end() ? nullptr : it->second.get();
}

const model::Node* Snapshot::FindByNodeKey(const crypto::NodePublic& key) const {
  auto it = by_node_key.find(key.raw());
  return it == by_node_key.end() ? nullptr : FindNode(it->second);
}

const model::User* Snapshot::FindUser(model::UserId id) const {
  auto it = users.find(id);
  return it == users.end() ? nullptr : &it->second;
}

const model::User* Snapshot::FindUserByName(std::string_view name) const {
  for (const auto& [id, user] : users) {
    if (user.name == name) return &user;
  }
  return nullptr;
}

}  // namespace keel::tailnet
