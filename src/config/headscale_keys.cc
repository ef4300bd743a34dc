#include "config/headscale_keys.h"

#include <array>

namespace keel::config {
namespace {

constexpr std::string_view kNoAcme =
    "keel does not obtain certificates through ACME; give it tls_cert_path and tls_key_path or "
    "put a TLS proxy in front";
constexpr std::string_view kNoGorm = "keel does not use GORM; its SQLite settings are fixed";

constexpr std::array kKeys = {
    ForeignKey{"grpc_listen_addr",
               "keel serves no gRPC; the same API is REST under /api/v1 on listen_addr"},
    ForeignKey{"grpc_allow_insecure", "keel serves no gRPC", "false"},
    ForeignKey{"trusted_proxies",
               "keel does not read client addresses from X-Forwarded-For headers yet"},
    ForeignKey{"disable_check_updates", "keel never checks for updates", "true"},
    ForeignKey{"derp.auto_update_enabled",
               "keel does not fetch DERP maps (derp.urls); derp.paths files are re-read on SIGHUP",
               "false"},
    ForeignKey{"derp.update_frequency", "keel does not fetch DERP maps (derp.urls)"},
    ForeignKey{"derp.server.stun.enabled",
               "STUN follows derp.server.stun_listen_addr (\"\" turns it off)", "true"},
    ForeignKey{"database.debug", "keel does not log SQL statements", "false"},
    ForeignKey{"database.gorm", kNoGorm},
    ForeignKey{"database.sqlite.write_ahead_log", "keel always runs SQLite in WAL mode", "true"},
    ForeignKey{"database.sqlite.wal_autocheckpoint",
               "keel keeps SQLite's own checkpoint setting (1000 pages)", "1000"},
    ForeignKey{"database.postgres", "PostgreSQL is not supported yet; keel uses SQLite"},
    ForeignKey{"acme_url", kNoAcme, "https://acme-v02.api.letsencrypt.org/directory"},
    ForeignKey{"acme_email", kNoAcme},
    ForeignKey{"tls_letsencrypt_hostname", kNoAcme},
    ForeignKey{"tls_letsencrypt_cache_dir", kNoAcme, "/var/lib/headscale/cache"},
    ForeignKey{"tls_letsencrypt_challenge_type", kNoAcme, "HTTP-01"},
    ForeignKey{"tls_letsencrypt_listen", kNoAcme, ":http"},
    ForeignKey{"logtail.enabled", "keel does not point clients at a log server", "false"},
    ForeignKey{"taildrop.enabled", "keel always lets nodes send files to their own devices",
               "true"},
    ForeignKey{"auto_update.enabled", "keel does not turn on client auto-updates", "false"},
    ForeignKey{"tuning.batch_change_delay",
               "keel batches changes by itself (each map stream sends a burst of up to 4 "
               "deltas, then one per 100 ms; recompiles pace to their cost)"},
    ForeignKey{"tuning.batcher_workers", "keel has no batcher workers to size"},
    ForeignKey{"tuning.node_mapsession_buffered_chan_size",
               "keel's map sessions hold pending changes, not a channel to size"},
    ForeignKey{"tuning.node_store_batch_size", "keel has no node store batches to size"},
    ForeignKey{"tuning.node_store_batch_timeout", "keel has no node store batches to time"},
    ForeignKey{"tuning.notifier_send_timeout", "keel has no notifier queue"},
    ForeignKey{"tuning.register_cache_max_entries",
               "keel keeps every pending auth request until it expires"},
    ForeignKey{"randomize_client_port",
               "removed in Headscale 0.29: set \"randomizeClientPort\": true at the top of the "
               "policy instead",
               "", true},
    ForeignKey{"oidc.strip_email_domain",
               "removed from Headscale: user names come from the OIDC claims unchanged", "",
               true},
    ForeignKey{"oidc.map_legacy_users", "removed from Headscale: there is nothing to map", "",
               true},
    ForeignKey{"oidc.expiry", "removed from Headscale: use node.expiry, or "
               "oidc.use_expiry_from_token", "", true},
};

}  // namespace

std::optional<ForeignKey> FindForeignKey(std::string_view key) {
  std::optional<ForeignKey> found;
  for (const auto& k : kKeys) {
    bool covers = key == k.key || (key.starts_with(k.key) && key.size() > k.key.size() &&
                                   key[k.key.size()] == '.');
    // The most specific entry wins (oidc.strip_email_domain over oidc).
    if (covers && (!found || k.key.size() > found->key.size())) found = k;
  }
  return found;
}

std::vector<std::string_view> ForeignKeyNames() {
  std::vector<std::string_view> out;
  for (const auto& k : kKeys) out.push_back(k.key);
  return out;
}

}  // namespace keel::config
