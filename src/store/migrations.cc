#include "store/migrations.h"

#include <array>

namespace keel::store {
namespace {

// Times are INTEGER nanoseconds since the Unix epoch; NULL means unset (keel::ZeroTime()).
// Keys are 32-byte BLOBs. Lists (tags, endpoints) are JSON arrays in TEXT.
constexpr std::string_view kInitial = R"sql(
CREATE TABLE users (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  name          TEXT NOT NULL UNIQUE,
  display_name  TEXT NOT NULL DEFAULT '',
  email         TEXT NOT NULL DEFAULT '',
  created_at    INTEGER
);

CREATE TABLE pre_auth_keys (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  prefix       TEXT NOT NULL UNIQUE,
  secret_hash  TEXT NOT NULL,
  user_id      INTEGER NOT NULL REFERENCES users(id),
  reusable     INTEGER NOT NULL DEFAULT 0,
  ephemeral    INTEGER NOT NULL DEFAULT 0,
  used         INTEGER NOT NULL DEFAULT 0,
  tags         TEXT NOT NULL DEFAULT '[]',
  created_at   INTEGER,
  expiration   INTEGER
);
CREATE INDEX pre_auth_keys_user ON pre_auth_keys(user_id);

CREATE TABLE nodes (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  machine_key   BLOB NOT NULL,
  node_key      BLOB NOT NULL UNIQUE,
  disco_key     BLOB NOT NULL,
  user_id       INTEGER NOT NULL REFERENCES users(id),
  tags          TEXT NOT NULL DEFAULT '[]',
  hostname      TEXT NOT NULL DEFAULT '',
  given_name    TEXT NOT NULL UNIQUE,
  ipv4          TEXT UNIQUE,
  ipv6          TEXT UNIQUE,
  endpoints     TEXT NOT NULL DEFAULT '[]',
  home_derp     INTEGER NOT NULL DEFAULT 0,
  hostinfo      TEXT NOT NULL DEFAULT '{}',
  created_at    INTEGER,
  last_seen     INTEGER,
  expiry        INTEGER,
  ephemeral     INTEGER NOT NULL DEFAULT 0,
  auth_key_id   INTEGER REFERENCES pre_auth_keys(id) ON DELETE SET NULL,
  cap_version   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX nodes_machine_key ON nodes(machine_key);
CREATE INDEX nodes_user ON nodes(user_id);

CREATE TABLE settings (
  key    TEXT PRIMARY KEY,
  value  TEXT NOT NULL
);
)sql";

// Routes an admin approved for the node (JSON array of canonical prefixes).
constexpr std::string_view kApprovedRoutes = R"sql(
ALTER TABLE nodes ADD COLUMN approved_routes TEXT NOT NULL DEFAULT '[]';
)sql";

// Keys of the admin API over TCP; the secret is kept only as a keyed hash.
constexpr std::string_view kApiKeys = R"sql(
CREATE TABLE api_keys (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  prefix       TEXT NOT NULL UNIQUE,
  secret_hash  TEXT NOT NULL,
  created_at   INTEGER,
  expiration   INTEGER,
  last_seen    INTEGER
);
)sql";

// Users an identity provider logged in: matched by provider_id (NULL for local users).
constexpr std::string_view kProviderUsers = R"sql(
ALTER TABLE users ADD COLUMN provider TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN provider_id TEXT;
ALTER TABLE users ADD COLUMN profile_pic_url TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN provider_groups TEXT NOT NULL DEFAULT '[]';
CREATE UNIQUE INDEX users_provider_id ON users(provider_id);
)sql";

constexpr std::array<Migration, 4> kMigrations = {{
    {"202611260001-initial", kInitial},
    {"202612020001-approved-routes", kApprovedRoutes},
    {"202612030001-api-keys", kApiKeys},
    {"202612040001-provider-users", kProviderUsers},
}};

}  // namespace

std::span<const Migration> SqliteMigrations() { return kMigrations; }

}  // namespace keel::store
