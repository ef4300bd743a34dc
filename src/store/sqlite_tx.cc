#include "store/sqlite_tx.h"

#include <boost/asio/ip/address.hpp>
#include <nlohmann/json.hpp>

namespace keel::store {
namespace {

using model::Node;
using model::PreAuthKey;
using model::User;

std::optional<int64_t> TimeToDb(SystemTime t) {
  if (IsZeroTime(t)) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// A row id to insert: NULL (SQLite assigns the next) for 0, else kept (imports keep ids).
std::optional<int64_t> IdToDb(uint64_t id) {
  return id == 0 ? std::nullopt : std::optional<int64_t>(static_cast<int64_t>(id));
}

SystemTime TimeFromDb(const Statement& s, int col) {
  if (s.IsNull(col)) return ZeroTime();
  return SystemTime(std::chrono::duration_cast<SystemTime::duration>(
      std::chrono::nanoseconds(s.Int(col))));
}

std::string ListToJson(const std::vector<std::string>& list) {
  return nlohmann::json(list).dump();
}

Result<std::vector<std::string>> ListFromJson(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  std::vector<std::string> out;
  if (!j.is_array()) return MakeError(Errc::kDataLoss, "stored list is not a JSON array: " + text);
  for (const auto& item : j) {
    if (!item.is_string()) return MakeError(Errc::kDataLoss, "stored list has a non-string item");
    out.push_back(item.get<std::string>());
  }
  return out;
}

template <class Key>
Result<Key> KeyFromDb(const Statement& s, int col) {
  std::string blob = s.Blob(col);
  crypto::Key32 raw{};
  if (blob.size() != raw.size()) return MakeError(Errc::kDataLoss, "stored key is not 32 bytes");
  std::copy(blob.begin(), blob.end(), raw.begin());
  return Key(raw);
}

std::optional<std::string> IpToDb(const auto& ip) {
  if (!ip) return std::nullopt;
  return ip->to_string();
}

constexpr const char* kNodeColumns =
    "id, machine_key, node_key, disco_key, user_id, tags, hostname, given_name, ipv4, ipv6, "
    "endpoints, home_derp, hostinfo, created_at, last_seen, expiry, ephemeral, auth_key_id, "
    "cap_version, approved_routes";

Result<Node> NodeFromRow(const Statement& s) {
  Node n;
  n.id = static_cast<model::NodeId>(s.Int(0));
  auto mk = KeyFromDb<crypto::MachinePublic>(s, 1);
  auto nk = KeyFromDb<crypto::NodePublic>(s, 2);
  auto dk = KeyFromDb<crypto::DiscoPublic>(s, 3);
  if (!mk) return mk.error();
  if (!nk) return nk.error();
  if (!dk) return dk.error();
  n.machine_key = *mk;
  n.node_key = *nk;
  n.disco_key = *dk;
  n.user_id = static_cast<model::UserId>(s.Int(4));
  auto tags = ListFromJson(s.Text(5));
  if (!tags) return tags.error();
  n.tags = std::move(*tags);
  n.hostname = s.Text(6);
  n.given_name = s.Text(7);
  boost::system::error_code ec;
  if (!s.IsNull(8)) n.ipv4 = boost::asio::ip::make_address_v4(s.Text(8), ec);
  if (!ec && !s.IsNull(9)) n.ipv6 = boost::asio::ip::make_address_v6(s.Text(9), ec);
  if (ec) return MakeError(Errc::kDataLoss, "stored node address is invalid");
  auto endpoints = ListFromJson(s.Text(10));
  if (!endpoints) return endpoints.error();
  n.endpoints = std::move(*endpoints);
  n.home_derp = static_cast<int>(s.Int(11));
  n.hostinfo_json = s.Text(12);
  n.created = TimeFromDb(s, 13);
  n.last_seen = TimeFromDb(s, 14);
  n.expiry = TimeFromDb(s, 15);
  n.ephemeral = s.Int(16) != 0;
  if (!s.IsNull(17)) n.auth_key_id = static_cast<model::PreAuthKeyId>(s.Int(17));
  n.cap_version = static_cast<int>(s.Int(18));
  auto approved = ListFromJson(s.Text(19));
  if (!approved) return approved.error();
  n.approved_routes = std::move(*approved);
  return n;
}

Result<User> UserFromRow(const Statement& s) {
  User u;
  u.id = static_cast<model::UserId>(s.Int(0));
  u.name = s.Text(1);
  u.display_name = s.Text(2);
  u.email = s.Text(3);
  u.created = TimeFromDb(s, 4);
  u.provider = s.Text(5);
  u.provider_id = s.Text(6);
  u.profile_pic_url = s.Text(7);
  auto groups = ListFromJson(s.Text(8));
  if (!groups) return groups.error();
  u.provider_groups = std::move(*groups);
  return u;
}

// Parameters 1-7 of INSERT and UPDATE: every column but the id and the creation time.
void BindUserFields(Statement& st, const User& user) {
  st.Bind(1, user.name).Bind(2, user.display_name).Bind(3, user.email).Bind(4, user.provider);
  std::optional<std::string> provider_id;
  if (!user.provider_id.empty()) provider_id = user.provider_id;  // NULLs never collide
  st.BindOpt(5, provider_id).Bind(6, user.profile_pic_url).Bind(7, ListToJson(user.provider_groups));
}

Result<PreAuthKey> PreAuthKeyFromRow(const Statement& s) {
  PreAuthKey k;
  k.id = static_cast<model::PreAuthKeyId>(s.Int(0));
  k.prefix = s.Text(1);
  k.secret_hash = s.Text(2);
  k.user_id = static_cast<model::UserId>(s.Int(3));
  k.reusable = s.Int(4) != 0;
  k.ephemeral = s.Int(5) != 0;
  k.used = s.Int(6) != 0;
  auto tags = ListFromJson(s.Text(7));
  if (!tags) return tags.error();
  k.tags = std::move(*tags);
  k.created = TimeFromDb(s, 8);
  k.expiration = TimeFromDb(s, 9);
  return k;
}

Result<model::ApiKey> ApiKeyFromRow(const Statement& s) {
  model::ApiKey k;
  k.id = static_cast<model::ApiKeyId>(s.Int(0));
  k.prefix = s.Text(1);
  k.secret_hash = s.Text(2);
  k.created = TimeFromDb(s, 3);
  k.expiration = TimeFromDb(s, 4);
  k.last_seen = TimeFromDb(s, 5);
  return k;
}

}  // namespace

Result<void> SqliteTx::RunWithId(const char* sql, uint64_t id) {
  auto st = db_.Prepare(sql);
  if (!st) return st.error();
  st->Bind(1, static_cast<int64_t>(id));
  return st->Run();
}

Result<void> SqliteTx::ExpectOneRow(std::string_view what) {
  if (db_.Changes() == 0) return MakeError(Errc::kNotFound, std::string(what) + " not found");
  return {};
}

Result<User> SqliteTx::InsertUser(User user) {
  auto st = db_.Prepare(
      "INSERT INTO users (name, display_name, email, provider, provider_id, profile_pic_url, "
      "provider_groups, created_at, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!st) return st.error();
  BindUserFields(*st, user);
  st->BindOpt(8, TimeToDb(user.created)).BindOpt(9, IdToDb(user.id));
  KEEL_TRY(st->Run());
  user.id = static_cast<model::UserId>(db_.LastInsertId());
  return user;
}

Result<void> SqliteTx::DeleteUser(model::UserId id) {
  KEEL_TRY(RunWithId("DELETE FROM users WHERE id = ?", id));
  return ExpectOneRow("user");
}

Result<void> SqliteTx::UpdateUser(const User& user) {
  auto st = db_.Prepare(
      "UPDATE users SET name = ?, display_name = ?, email = ?, provider = ?, provider_id = ?, "
      "profile_pic_url = ?, provider_groups = ? WHERE id = ?");
  if (!st) return st.error();
  BindUserFields(*st, user);
  st->Bind(8, static_cast<int64_t>(user.id));
  KEEL_TRY(st->Run());
  return ExpectOneRow("user");
}

Result<std::vector<User>> SqliteTx::ListUsers() {
  auto st = db_.Prepare(
      "SELECT id, name, display_name, email, created_at, provider, provider_id, profile_pic_url, "
      "provider_groups FROM users ORDER BY id");
  if (!st) return st.error();
  return CollectRows<User>(*st, UserFromRow);
}

Result<void> SqliteTx::WriteNode(const char* sql, const Node& n, bool with_id) {
  auto st = db_.Prepare(sql);
  if (!st) return st.error();
  st->BindBlob(1, n.machine_key.raw().data(), 32);
  st->BindBlob(2, n.node_key.raw().data(), 32);
  st->BindBlob(3, n.disco_key.raw().data(), 32);
  st->Bind(4, static_cast<int64_t>(n.user_id)).Bind(5, ListToJson(n.tags));
  st->Bind(6, n.hostname).Bind(7, n.given_name);
  st->BindOpt(8, IpToDb(n.ipv4)).BindOpt(9, IpToDb(n.ipv6));
  st->Bind(10, ListToJson(n.endpoints)).Bind(11, int64_t{n.home_derp});
  st->Bind(12, n.hostinfo_json);
  st->BindOpt(13, TimeToDb(n.created)).BindOpt(14, TimeToDb(n.last_seen));
  st->BindOpt(15, TimeToDb(n.expiry));
  st->Bind(16, int64_t{n.ephemeral});
  std::optional<int64_t> key_id;
  if (n.auth_key_id) key_id = static_cast<int64_t>(*n.auth_key_id);
  st->BindOpt(17, key_id).Bind(18, int64_t{n.cap_version});
  st->Bind(19, ListToJson(n.approved_routes));
  if (with_id) st->BindOpt(20, IdToDb(n.id));
  return st->Run();
}

Result<Node> SqliteTx::InsertNode(Node node) {
  static constexpr const char* kSql =
      "INSERT INTO nodes (machine_key, node_key, disco_key, user_id, tags, hostname, given_name, "
      "ipv4, ipv6, endpoints, home_derp, hostinfo, created_at, last_seen, expiry, ephemeral, "
      "auth_key_id, cap_version, approved_routes, id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
      "?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)";
  KEEL_TRY(WriteNode(kSql, node, /*with_id=*/true));
  node.id = static_cast<model::NodeId>(db_.LastInsertId());
  return node;
}

Result<void> SqliteTx::UpdateNode(const Node& node) {
  static constexpr const char* kSql =
      "UPDATE nodes SET machine_key = ?1, node_key = ?2, disco_key = ?3, user_id = ?4, tags = ?5, "
      "hostname = ?6, given_name = ?7, ipv4 = ?8, ipv6 = ?9, endpoints = ?10, home_derp = ?11, "
      "hostinfo = ?12, created_at = ?13, last_seen = ?14, expiry = ?15, ephemeral = ?16, "
      "auth_key_id = ?17, cap_version = ?18, approved_routes = ?19 WHERE id = ?20";
  KEEL_TRY(WriteNode(kSql, node, /*with_id=*/true));
  return ExpectOneRow("node");
}

Result<void> SqliteTx::DeleteNode(model::NodeId id) {
  KEEL_TRY(RunWithId("DELETE FROM nodes WHERE id = ?", id));
  return ExpectOneRow("node");
}

Result<std::vector<Node>> SqliteTx::ListNodes() {
  auto st = db_.Prepare(std::string("SELECT ") + kNodeColumns + " FROM nodes ORDER BY id");
  if (!st) return st.error();
  return CollectRows<Node>(*st, NodeFromRow);
}

Result<PreAuthKey> SqliteTx::InsertPreAuthKey(PreAuthKey key) {
  auto st = db_.Prepare(
      "INSERT INTO pre_auth_keys (prefix, secret_hash, user_id, reusable, ephemeral, used, tags, "
      "created_at, expiration, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!st) return st.error();
  st->Bind(1, key.prefix).Bind(2, key.secret_hash).Bind(3, static_cast<int64_t>(key.user_id));
  st->Bind(4, int64_t{key.reusable}).Bind(5, int64_t{key.ephemeral}).Bind(6, int64_t{key.used});
  st->Bind(7, ListToJson(key.tags));
  st->BindOpt(8, TimeToDb(key.created)).BindOpt(9, TimeToDb(key.expiration));
  st->BindOpt(10, IdToDb(key.id));
  KEEL_TRY(st->Run());
  key.id = static_cast<model::PreAuthKeyId>(db_.LastInsertId());
  return key;
}

Result<void> SqliteTx::UpdatePreAuthKey(const PreAuthKey& key) {
  auto st = db_.Prepare(
      "UPDATE pre_auth_keys SET reusable = ?, ephemeral = ?, used = ?, tags = ?, expiration = ? "
      "WHERE id = ?");
  if (!st) return st.error();
  st->Bind(1, int64_t{key.reusable}).Bind(2, int64_t{key.ephemeral}).Bind(3, int64_t{key.used});
  st->Bind(4, ListToJson(key.tags)).BindOpt(5, TimeToDb(key.expiration));
  st->Bind(6, static_cast<int64_t>(key.id));
  KEEL_TRY(st->Run());
  return ExpectOneRow("pre-auth key");
}

Result<void> SqliteTx::DeletePreAuthKey(model::PreAuthKeyId id) {
  KEEL_TRY(RunWithId("DELETE FROM pre_auth_keys WHERE id = ?", id));
  return ExpectOneRow("pre-auth key");
}

Result<void> SqliteTx::DeletePreAuthKeysOfUser(model::UserId user) {
  return RunWithId("DELETE FROM pre_auth_keys WHERE user_id = ?", user);
}

Result<std::vector<PreAuthKey>> SqliteTx::ListPreAuthKeys() {
  auto st = db_.Prepare(
      "SELECT id, prefix, secret_hash, user_id, reusable, ephemeral, used, tags, created_at, "
      "expiration FROM pre_auth_keys ORDER BY id");
  if (!st) return st.error();
  return CollectRows<PreAuthKey>(*st, PreAuthKeyFromRow);
}

Result<model::ApiKey> SqliteTx::InsertApiKey(model::ApiKey key) {
  auto st = db_.Prepare(
      "INSERT INTO api_keys (prefix, secret_hash, created_at, expiration, last_seen) "
      "VALUES (?, ?, ?, ?, ?)");
  if (!st) return st.error();
  st->Bind(1, key.prefix).Bind(2, key.secret_hash).BindOpt(3, TimeToDb(key.created));
  st->BindOpt(4, TimeToDb(key.expiration)).BindOpt(5, TimeToDb(key.last_seen));
  KEEL_TRY(st->Run());
  key.id = static_cast<model::ApiKeyId>(db_.LastInsertId());
  return key;
}

Result<void> SqliteTx::UpdateApiKey(const model::ApiKey& key) {
  auto st = db_.Prepare("UPDATE api_keys SET expiration = ?, last_seen = ? WHERE id = ?");
  if (!st) return st.error();
  st->BindOpt(1, TimeToDb(key.expiration)).BindOpt(2, TimeToDb(key.last_seen));
  st->Bind(3, static_cast<int64_t>(key.id));
  KEEL_TRY(st->Run());
  return ExpectOneRow("API key");
}

Result<void> SqliteTx::DeleteApiKey(model::ApiKeyId id) {
  KEEL_TRY(RunWithId("DELETE FROM api_keys WHERE id = ?", id));
  return ExpectOneRow("API key");
}

Result<std::vector<model::ApiKey>> SqliteTx::ListApiKeys() {
  auto st = db_.Prepare(
      "SELECT id, prefix, secret_hash, created_at, expiration, last_seen FROM api_keys "
      "ORDER BY id");
  if (!st) return st.error();
  return CollectRows<model::ApiKey>(*st, ApiKeyFromRow);
}

Result<std::optional<std::string>> SqliteTx::GetSetting(std::string_view key) {
  auto st = db_.Prepare("SELECT value FROM settings WHERE key = ?");
  if (!st) return st.error();
  st->Bind(1, key);
  auto row = st->Step();
  if (!row) return row.error();
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(st->Text(0));
}

Result<void> SqliteTx::PutSetting(std::string_view key, std::string_view value) {
  auto st = db_.Prepare(
      "INSERT INTO settings (key, value) VALUES (?, ?) "
      "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  if (!st) return st.error();
  st->Bind(1, key).Bind(2, value);
  return st->Run();
}

}  // namespace keel::store
