#include "app/import_headscale.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "app/db_lock.h"
#include "app/keys.h"
#include "model/routes.h"
#include "store/sqlite_db.h"
#include "store/sqlite_store.h"

namespace keel::app {
namespace {

using store::SqliteDb;
using store::Statement;

// Headscale 0.29.2's migrations, oldest first; a database it made holds all of them.
constexpr std::array<std::string_view, 17> kKnownMigrations = {
    "202501221827",
    "202501311657",
    "202502070949",
    "202502131714",
    "202502171819",
    "202505091439",
    "202505141324",
    "202507021200",
    "202510311551",
    "202511101554-drop-old-idx",
    "202511011637-preauthkey-bcrypt",
    "202511122344-remove-newline-index",
    "202511131445-node-forced-tags-to-tags",
    "202601121700-migrate-hostinfo-request-tags",
    "202602201200-clear-tagged-node-user-id",
    "202605221435-clear-zero-time-node-expiry",
    "202606181200-recover-null-tags-node-user-id",
};

// Marks an imported pre-auth key: no secret hashes to it, so it admits nobody.
constexpr std::string_view kUnusableHash = "imported-from-headscale";

Error Bad(std::string what) { return MakeError(Errc::kInvalidArgument, "headscale database: " + what); }

// GORM's SQLite times: "2026-12-03 10:01:50.6967+00:00", or with no offset (UTC).
SystemTime TimeOf(const Statement& s, int col) {
  if (s.IsNull(col)) return ZeroTime();
  std::string text = s.Text(col);
  if (text.size() >= 19 && text[10] == ' ') text[10] = 'T';
  if (text.size() >= 19 && text.find_first_of("Zz+", 19) == std::string::npos &&
      text.find('-', 19) == std::string::npos) {
    text += "Z";
  }
  auto t = ParseTime(text);
  // Headscale writes the zero time.Time for "never"; keel has ZeroTime() for that.
  if (!t || *t < SystemTime(std::chrono::seconds(86400))) return ZeroTime();
  return *t;
}

std::vector<std::string> JsonList(const std::string& text) {
  auto j = nlohmann::json::parse(text.empty() ? "[]" : text, nullptr, false);
  std::vector<std::string> out;
  if (!j.is_array()) return out;
  for (const auto& item : j) {
    if (item.is_string()) out.push_back(item.get<std::string>());
  }
  return out;
}

Result<std::vector<std::string>> Column(SqliteDb& db, const std::string& sql) {
  auto st = db.Prepare(sql);
  if (!st) return st.error();
  return store::CollectRows<std::string>(
      *st, [](const Statement& s) -> Result<std::string> { return s.Text(0); });
}

// Headscale 0.29's schema: no migration keel does not know, and 0.29.2's last one applied. A
// database Headscale created fresh also records SCHEMA_INIT (it loads schema.sql whole).
Result<void> CheckSchema(SqliteDb& db) {
  auto applied = Column(db, "SELECT id FROM migrations");
  if (!applied) return Bad("no migrations table; is this a Headscale database?");
  std::set<std::string> have(applied->begin(), applied->end());
  for (const auto& id : have) {
    bool known = id == "SCHEMA_INIT" ||
                 std::find(kKnownMigrations.begin(), kKnownMigrations.end(), id) != kKnownMigrations.end();
    if (!known) {
      return Bad("schema migration " + id + " is unknown to keel (a newer Headscale?); keel "
                 "imports Headscale 0.29's schema");
    }
  }
  if (!have.contains(std::string(kKnownMigrations.back()))) {
    return Bad("schema migration " + std::string(kKnownMigrations.back()) +
               " is missing (an older Headscale?); upgrade it to 0.29.2 first");
  }
  return {};
}

struct Source {
  std::vector<model::User> users;
  std::vector<model::PreAuthKey> keys;
  std::vector<model::Node> nodes;
  std::optional<std::string> policy;
  SystemTime policy_updated = ZeroTime();
};

Result<void> ReadUsers(SqliteDb& db, Source& src) {
  auto st = db.Prepare(
      "SELECT id, name, display_name, email, created_at, provider_identifier, provider, "
      "profile_pic_url FROM users WHERE deleted_at IS NULL ORDER BY id");
  if (!st) return st.error();
  auto users = store::CollectRows<model::User>(*st, [](const Statement& s) -> Result<model::User> {
    model::User u;
    u.id = static_cast<model::UserId>(s.Int(0));
    u.name = s.Text(1);
    u.display_name = s.Text(2).empty() ? u.name : s.Text(2);
    u.email = s.Text(3);
    u.created = TimeOf(s, 4);
    // OIDC users keep matching their next login by the provider's identifier.
    u.provider_id = s.Text(5);
    u.provider = s.Text(6);
    u.profile_pic_url = s.Text(7);
    return u;
  });
  if (!users) return users.error();
  src.users = std::move(*users);
  return {};
}

Result<void> ReadKeys(SqliteDb& db, Source& src, ImportReport& report) {
  auto st = db.Prepare(
      "SELECT id, prefix, key, user_id, reusable, ephemeral, used, tags, expiration, created_at "
      "FROM pre_auth_keys ORDER BY id");
  if (!st) return st.error();
  while (true) {
    auto more = st->Step();
    if (!more) return more.error();
    if (!*more) return {};
    model::PreAuthKey k;
    k.id = static_cast<model::PreAuthKeyId>(st->Int(0));
    k.prefix = st->Text(1).empty() ? "legacy-" + std::to_string(k.id) : st->Text(1);
    k.secret_hash = std::string(kUnusableHash);
    k.reusable = st->Int(4) != 0;
    k.ephemeral = st->Int(5) != 0;
    k.used = st->Int(6) != 0;
    k.tags = JsonList(st->Text(7));
    k.expiration = TimeOf(*st, 8);
    k.created = TimeOf(*st, 9);
    if (st->IsNull(3)) {
      report.notes.push_back("pre-auth key " + std::to_string(k.id) + " (tags only, no user) "
                             "was not imported: keel's keys belong to a user");
      continue;
    }
    k.user_id = static_cast<model::UserId>(st->Int(3));
    src.keys.push_back(std::move(k));
  }
}

Result<model::Node> NodeFromRow(const Statement& s) {
  model::Node n;
  n.id = static_cast<model::NodeId>(s.Int(0));
  auto machine = crypto::MachinePublic::Parse(s.Text(1));
  auto node = crypto::NodePublic::Parse(s.Text(2));
  if (!machine || !node) return Bad("node " + std::to_string(n.id) + " has a malformed key");
  n.machine_key = *machine;
  n.node_key = *node;
  if (auto disco = crypto::DiscoPublic::Parse(s.Text(3))) n.disco_key = *disco;
  n.endpoints = JsonList(s.Text(4));
  auto hostinfo = nlohmann::json::parse(s.Text(5).empty() ? "{}" : s.Text(5), nullptr, false);
  n.hostinfo_json = hostinfo.is_object() ? hostinfo.dump() : "{}";
  n.announced_routes = model::RoutesFromHostinfo(n.hostinfo_json);
  boost::system::error_code ec;
  if (!s.IsNull(6) && !s.Text(6).empty()) n.ipv4 = boost::asio::ip::make_address_v4(s.Text(6), ec);
  if (!s.IsNull(7) && !s.Text(7).empty()) n.ipv6 = boost::asio::ip::make_address_v6(s.Text(7), ec);
  if (ec) return Bad("node " + std::to_string(n.id) + " has a malformed address");
  n.hostname = s.Text(8);
  n.given_name = s.Text(9);
  n.user_id = s.IsNull(10) ? 0 : static_cast<model::UserId>(s.Int(10));
  n.tags = JsonList(s.Text(11));
  std::sort(n.tags.begin(), n.tags.end());
  if (!s.IsNull(12)) n.auth_key_id = static_cast<model::PreAuthKeyId>(s.Int(12));
  n.last_seen = TimeOf(s, 13);
  n.expiry = TimeOf(s, 14);
  n.approved_routes = JsonList(s.Text(15));
  std::sort(n.approved_routes.begin(), n.approved_routes.end());
  n.created = TimeOf(s, 16);
  return n;
}

Result<void> ReadNodes(SqliteDb& db, Source& src) {
  auto st = db.Prepare(
      "SELECT id, machine_key, node_key, disco_key, endpoints, host_info, ipv4, ipv6, hostname, "
      "given_name, user_id, tags, auth_key_id, last_seen, expiry, approved_routes, created_at "
      "FROM nodes WHERE deleted_at IS NULL ORDER BY id");
  if (!st) return st.error();
  auto nodes = store::CollectRows<model::Node>(*st, NodeFromRow);
  if (!nodes) return nodes.error();
  src.nodes = std::move(*nodes);
  return {};
}

Result<void> ReadPolicy(SqliteDb& db, Source& src) {
  auto st = db.Prepare(
      "SELECT data, updated_at FROM policies WHERE deleted_at IS NULL ORDER BY id DESC LIMIT 1");
  if (!st) return st.error();
  auto row = st->Step();
  if (!row) return row.error();
  if (*row && !st->Text(0).empty()) {
    src.policy = st->Text(0);
    src.policy_updated = TimeOf(*st, 1);
  }
  return {};
}

// Tagged nodes have no user in Headscale; keel's node rows need one, so they take the user of
// the key they registered with, or the first user.
void AssignOwners(Source& src, ImportReport& report) {
  std::map<model::PreAuthKeyId, model::UserId> key_owner;
  for (const auto& k : src.keys) key_owner[k.id] = k.user_id;
  for (auto& n : src.nodes) {
    if (n.user_id != 0) continue;
    if (n.auth_key_id && key_owner.contains(*n.auth_key_id)) {
      n.user_id = key_owner[*n.auth_key_id];
    } else if (!src.users.empty()) {
      n.user_id = src.users.front().id;
      report.notes.push_back("tagged node " + n.given_name + " is recorded under user " +
                             src.users.front().name + " (it stays owned by its tags)");
    }
  }
  std::set<model::PreAuthKeyId> kept;
  for (const auto& k : src.keys) kept.insert(k.id);
  for (auto& n : src.nodes) {
    if (n.auth_key_id && !kept.contains(*n.auth_key_id)) n.auth_key_id.reset();
  }
}

// Headscale's noise_private.key becomes keel's, so clients keep trusting the server.
Result<void> CopyNoiseKey(const std::string& from, const std::string& to) {
  auto key = ReadKey(from);
  if (!key) return MakeError(key.error().code, "--noise-key: " + key.error().message);
  if (std::filesystem::exists(to)) {
    auto existing = ReadKey(to);
    if (existing && *existing == *key) return {};
    return MakeError(Errc::kAlreadyExists, "noise.private_key_path " + to +
                                               " already holds another key; move it away first");
  }
  return WriteKeyFile(to, *key);
}

}  // namespace

Result<ImportReport> ImportHeadscale(const config::Config& config, const std::string& headscale_db,
                                     const std::string& noise_key) {
  ImportReport report;
  if (!std::filesystem::exists(headscale_db)) {
    return MakeError(Errc::kNotFound, "headscale database " + headscale_db + " not found");
  }
  auto db = SqliteDb::OpenReadOnly(headscale_db);
  if (!db) return db.error();
  KEEL_TRY(CheckSchema(**db));
  Source src;
  KEEL_TRY(ReadUsers(**db, src));
  KEEL_TRY(ReadKeys(**db, src, report));
  KEEL_TRY(ReadNodes(**db, src));
  KEEL_TRY(ReadPolicy(**db, src));
  AssignOwners(src, report);
  auto api_keys = Column(**db, "SELECT prefix FROM api_keys ORDER BY id");
  if (!api_keys) return api_keys.error();
  for (const auto& prefix : *api_keys) {
    report.notes.push_back("API key " + prefix + " must be re-issued (`keel apikeys create`): "
                           "Headscale kept only a bcrypt hash of it");
  }
  if (!src.keys.empty()) {
    report.notes.push_back(std::to_string(src.keys.size()) + " pre-auth key(s) were imported as "
                           "records only: create new ones for new nodes");
  }

  const std::string& target = config.database.sqlite.path;
  KEEL_TRY(EnsureParentDir(target));
  auto lock = DatabaseLock::Acquire(target);
  if (!lock) return lock.error();
  auto store = store::SqliteStore::Open(target);
  if (!store) return store.error();
  KEEL_TRY((*store)->Transaction([&](store::Tx& tx) -> Result<void> {
    auto users = tx.ListUsers();
    auto nodes = tx.ListNodes();
    if (!users || !nodes) return MakeError(Errc::kInternal, "cannot read keel's database");
    if (!users->empty() || !nodes->empty()) {
      return MakeError(Errc::kFailedPrecondition,
                       "keel's database " + target + " already holds users or nodes; import "
                       "into an empty one");
    }
    for (const auto& u : src.users) KEEL_TRY(tx.InsertUser(u));
    for (const auto& k : src.keys) KEEL_TRY(tx.InsertPreAuthKey(k));
    for (const auto& n : src.nodes) KEEL_TRY(tx.InsertNode(n));
    if (src.policy) {
      KEEL_TRY(tx.PutSetting("policy", *src.policy));
      KEEL_TRY(tx.PutSetting("policy_updated_at", FormatTime(src.policy_updated)));
    }
    return {};
  }));
  report.users = src.users.size();
  report.nodes = src.nodes.size();
  report.pre_auth_keys = src.keys.size();
  report.policy = src.policy.has_value();
  if (src.policy && config.policy.mode != "database") {
    report.notes.push_back("the policy was stored for policy.mode database; this config uses "
                           "file mode, which reads policy.path instead");
  }
  if (!noise_key.empty()) {
    KEEL_TRY(CopyNoiseKey(noise_key, config.noise.private_key_path));
    report.noise_key = true;
  } else {
    report.notes.push_back("no --noise-key: clients trust Headscale's Noise key and must log in "
                           "again");
  }
  return report;
}

}  // namespace keel::app
