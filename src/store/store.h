#pragma once
// Store: durable state behind the tailnet (users, nodes, pre-auth keys, settings) and the
// admin API's keys.
//
// The tailnet is the only writer and keeps everything in memory; the store makes each
// mutation durable before it is published. Every access runs inside Transaction(), which
// commits if the callback succeeds and rolls back otherwise, so multi-step writes (node +
// "key used") are atomic. Implementations are thread-safe (calls are serialised); a Tx is
// only valid inside its callback and on the calling thread. SqliteStore is the first
// implementation; PostgreSQL can implement the same interface.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "model/types.h"

namespace keel::store {

class Tx {
 public:
  virtual ~Tx() = default;

  // --- Users --- Names are unique (kAlreadyExists).
  // Assigns and returns the id; a nonzero `user.id` is kept instead (imports keep ids).
  virtual Result<model::User> InsertUser(model::User user) = 0;
  // Replaces name, display name and email; kNotFound if absent, kAlreadyExists on a taken name.
  virtual Result<void> UpdateUser(const model::User& user) = 0;
  // kFailedPrecondition while nodes reference the user; kNotFound if absent.
  virtual Result<void> DeleteUser(model::UserId id) = 0;
  virtual Result<std::vector<model::User>> ListUsers() = 0;

  // --- Nodes --- node_key, given_name, ipv4, ipv6 are unique (kAlreadyExists).
  // Assigns the id (ids are never reused) unless `node.id` is nonzero (imports keep ids);
  // runtime fields (online, version) are not stored.
  virtual Result<model::Node> InsertNode(model::Node node) = 0;
  // Replaces every stored field of the node with this id; kNotFound if absent.
  virtual Result<void> UpdateNode(const model::Node& node) = 0;
  virtual Result<void> DeleteNode(model::NodeId id) = 0;
  virtual Result<std::vector<model::Node>> ListNodes() = 0;

  // --- Pre-auth keys --- prefix is unique. A nonzero `key.id` is kept.
  virtual Result<model::PreAuthKey> InsertPreAuthKey(model::PreAuthKey key) = 0;
  virtual Result<void> UpdatePreAuthKey(const model::PreAuthKey& key) = 0;
  // Nodes registered with it keep their registration (their auth_key_id becomes null).
  virtual Result<void> DeletePreAuthKey(model::PreAuthKeyId id) = 0;
  virtual Result<void> DeletePreAuthKeysOfUser(model::UserId user) = 0;
  virtual Result<std::vector<model::PreAuthKey>> ListPreAuthKeys() = 0;

  // --- Admin API keys --- prefix is unique.
  virtual Result<model::ApiKey> InsertApiKey(model::ApiKey key) = 0;
  // Replaces expiration and last_seen; kNotFound if absent.
  virtual Result<void> UpdateApiKey(const model::ApiKey& key) = 0;
  virtual Result<void> DeleteApiKey(model::ApiKeyId id) = 0;
  virtual Result<std::vector<model::ApiKey>> ListApiKeys() = 0;

  // --- Server settings (small key/value strings, e.g. the Noise private key) ---
  virtual Result<std::optional<std::string>> GetSetting(std::string_view key) = 0;
  virtual Result<void> PutSetting(std::string_view key, std::string_view value) = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // Runs `fn` in one transaction: committed if it returns success, rolled back otherwise
  // (the callback's error is returned). Not reentrant: do not call Transaction from `fn`.
  virtual Result<void> Transaction(const std::function<Result<void>(Tx&)>& fn) = 0;
};

}  // namespace keel::store
