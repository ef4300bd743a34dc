#pragma once
// The Tx of SqliteStore: row <-> model mapping. Used only inside SqliteStore::Transaction,
// with the store's mutex held and a transaction open.

#include "store/sqlite_db.h"
#include "store/store.h"

namespace keel::store {

class SqliteTx final : public Tx {
 public:
  explicit SqliteTx(SqliteDb& db) : db_(db) {}

  Result<model::User> InsertUser(model::User user) override;
  Result<void> UpdateUser(const model::User& user) override;
  Result<void> DeleteUser(model::UserId id) override;
  Result<std::vector<model::User>> ListUsers() override;

  Result<model::Node> InsertNode(model::Node node) override;
  Result<void> UpdateNode(const model::Node& node) override;
  Result<void> DeleteNode(model::NodeId id) override;
  Result<std::vector<model::Node>> ListNodes() override;

  Result<model::PreAuthKey> InsertPreAuthKey(model::PreAuthKey key) override;
  Result<void> UpdatePreAuthKey(const model::PreAuthKey& key) override;
  Result<void> DeletePreAuthKey(model::PreAuthKeyId id) override;
  Result<void> DeletePreAuthKeysOfUser(model::UserId user) override;
  Result<std::vector<model::PreAuthKey>> ListPreAuthKeys() override;

  Result<model::ApiKey> InsertApiKey(model::ApiKey key) override;
  Result<void> UpdateApiKey(const model::ApiKey& key) override;
  Result<void> DeleteApiKey(model::ApiKeyId id) override;
  Result<std::vector<model::ApiKey>> ListApiKeys() override;

  Result<std::optional<std::string>> GetSetting(std::string_view key) override;
  Result<void> PutSetting(std::string_view key, std::string_view value) override;

 private:
  // Binds the node's columns as ?1..?18 and, if `with_id`, its id as ?19.
  Result<void> WriteNode(const char* sql, const model::Node& node, bool with_id);
  Result<void> ExpectOneRow(std::string_view what);
  // Runs `sql`, whose only parameter is the id.
  Result<void> RunWithId(const char* sql, uint64_t id);

  SqliteDb& db_;
};

}  // namespace keel::store
