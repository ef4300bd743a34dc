#pragma once
// keel's configuration: YAML with Headscale's key names where the meaning matches
// (architecture.md decision 7). Every key has a default, so an empty file (or no file) gives
// a server that runs. Unknown keys and bad values are refused, naming the dotted key.
// Relative paths are relative to the process's working directory.
// Pure values and functions; any thread. Only `app` reads a Config.

#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace keel::config {

struct ListenAddress {
  std::string host = "127.0.0.1";  // an IP literal; "0.0.0.0" when the config says ":8080"
  uint16_t port = 8080;            // 0 picks a free port (tests)
};

struct NoiseConfig {
  // The TS2021 control key ("privkey:<hex>"); generated with mode 0600 if missing.
  std::string private_key_path = "data/noise_private.key";
};

struct PrefixesConfig {
  // Node addresses; must lie inside Tailscale's CGNAT range and ULA prefix.
  boost::asio::ip::network_v4 v4 = boost::asio::ip::make_network_v4("100.64.0.0/10");
  boost::asio::ip::network_v6 v6 = boost::asio::ip::make_network_v6("fd7a:115c:a1e0::/48");
  // Only "sequential" is implemented (Headscale also has "random").
  std::string allocation = "sequential";
};

struct SqliteConfig {
  std::string path = "data/db.sqlite";
};

struct DatabaseConfig {
  // Only "sqlite" for now; "postgres" is refused as not supported yet.
  std::string type = "sqlite";
  SqliteConfig sqlite;
};

// One of dns.extra_records (or of the extra_records_path file): a name clients resolve
// themselves, Headscale's shape.
struct DnsRecord {
  std::string name;
  std::string type;  // "A" or "AAAA"
  std::string value;
  friend bool operator==(const DnsRecord&, const DnsRecord&) = default;
};

struct DnsConfig {
  // Push MagicDNS names (<given_name>.<base_domain>) to clients.
  bool magic_dns = true;
  std::string base_domain = "keel.internal";
  // The global nameservers replace the clients' own DNS; off, clients keep theirs and use the
  // global ones only as a fallback.
  bool override_local_dns = true;
  // dns.nameservers.global: resolvers clients use for everything else.
  std::vector<std::string> nameservers_global;
  // dns.nameservers.split: domain -> the resolvers for names under it.
  std::map<std::string, std::vector<std::string>> nameservers_split;
  std::vector<std::string> search_domains;
  std::vector<DnsRecord> extra_records;
  // A JSON file of more records ([{"name","type","value"}]), re-read whenever it changes.
  std::string extra_records_path;
};

// "" when the record is usable, else why not.
std::string CheckDnsRecord(const DnsRecord& record);
// The extra_records_path file's records, each checked.
Result<std::vector<DnsRecord>> ParseExtraRecordsJson(std::string_view text);

// The embedded DERP relay (derp.server.*, Headscale's names). On by default: keel serves DERP
// over TLS on its own listener with a self-signed certificate pinned in the DERP map, plus
// STUN, and adds that region to the map it pushes.
struct DerpServerConfig {
  bool enabled = true;
  int region_id = 999;
  std::string region_code = "keel";
  std::string region_name = "keel embedded DERP";
  // The relay's long-term key ("privkey:<hex>", mode 0600); must differ from the other keys.
  std::string private_key_path = "data/derp_server_private.key";
  // TLS listener for DERP (clients always speak TLS to a DERP node). Port 0 picks one.
  ListenAddress listen_addr{"127.0.0.1", 8443};
  // UDP STUN listener; port 0 picks one. "" in the file disables STUN (STUNPort -1).
  std::optional<ListenAddress> stun_listen_addr = ListenAddress{"127.0.0.1", 3478};
  // Advertised in the DERP map. Empty ipv4 = the host of listen_addr (which then must be a
  // specific IPv4 address); ipv6 "none" (the default) = not reachable over IPv6; empty
  // hostname = the advertised ipv4.
  std::string ipv4;
  std::string ipv6 = "none";
  std::string hostname;
  // PEM certificate chain and key; both empty = a self-signed certificate persisted next to
  // private_key_path and pinned in the DERP map (DERPNode.CertName).
  std::string tls_cert_path;
  std::string tls_key_path;
  // Admit only clients whose node key is registered and not expired.
  bool verify_clients = true;
  // Shared secret of the relays of one region: 64 hex digits, given inline or in a file of
  // its own (mesh_key_path, read at start; keeps the secret out of the config). Neither = no
  // mesh.
  std::string mesh_key;
  std::string mesh_key_path;
  // Event loops (threads) that serve relay connections; 0 = one per core.
  int threads = 0;
  // Other keel relays of the same region, "https://host:port/derp"; needs mesh_key.
  std::vector<std::string> mesh_with;
  bool automatically_add_embedded_derp_region = true;
  // Serve only the embedded region: ignore the regions of derp.paths.
  bool drop_other_regions = false;

  std::string AdvertisedIPv4() const { return ipv4.empty() ? listen_addr.host : ipv4; }
  std::string AdvertisedHostname() const {
    return hostname.empty() ? AdvertisedIPv4() : hostname;
  }
};

struct DerpConfig {
  // DERP map files (Headscale's YAML/JSON format), merged in order.
  std::vector<std::string> paths;
  // Remote DERP maps. keel never fetches them (no outside network); accepted with a warning.
  std::vector<std::string> urls;
  DerpServerConfig server;
};

// The access policy (policy.*, Headscale's names). In file mode `path` is the policy and
// SIGHUP reloads it; in database mode the admin API sets it and the store keeps it.
struct PolicyConfig {
  std::string mode = "file";  // file | database
  std::string path;           // empty: no policy (every node may reach every node)
};

struct LogConfig {
  // trace, debug, info, warn, error, critical or off.
  std::string level = "info";
  // "text", or "json": one JSON object a line ({"time", "level", "logger", "message"}).
  std::string format = "text";
};

// cli.*: where the `keel` CLI sends admin commands when not to the local unix socket.
struct CliConfig {
  std::string address;  // "http(s)://host:port"; empty: the unix socket
  std::string api_key;
  std::chrono::seconds timeout{5};
  bool insecure = false;  // https without certificate checks
};

// Login through an OpenID Provider (oidc.*, Headscale's names). On when `issuer` is set:
// /register/<id> then sends the browser to the provider instead of showing the admin command.
struct OidcConfig {
  // Refuse to start while the provider's discovery document cannot be read; false: start,
  // and try again when someone logs in.
  bool only_start_if_oidc_is_available = true;
  std::string issuer;
  std::string client_id;
  // The client secret, inline or in a file of its own (read at start, surrounding
  // whitespace trimmed); exactly one of them.
  std::string client_secret;
  std::string client_secret_path;
  std::vector<std::string> scope = {"openid", "profile", "email"};
  std::map<std::string, std::string> extra_params;  // added to the authorization URL
  // Who may log in (none set: everyone the provider authenticates).
  std::vector<std::string> allowed_domains;
  std::vector<std::string> allowed_users;
  std::vector<std::string> allowed_groups;
  bool email_verified_required = true;
  // Nodes expire when the ID token does (else node.expiry applies).
  bool use_expiry_from_token = false;
  bool pkce_enabled = false;
  std::string pkce_method = "S256";  // or "plain"
  // keel's own key: the provider's group -> the policy groups ("group:x") its members join.
  std::map<std::string, std::vector<std::string>> policy_groups;

  bool enabled() const { return !issuer.empty(); }
};

struct Config {
  // The URL clients use to reach this server (`tailscale up --login-server`).
  std::string server_url = "http://127.0.0.1:8080";
  // HTTP listener for the control protocol and /health.
  ListenAddress listen_addr;
  // Prometheus /metrics listener (Headscale's default); "" in the file turns it off.
  std::optional<ListenAddress> metrics_listen_addr = ListenAddress{"127.0.0.1", 9090};
  // Admin API socket, used by the `keel` CLI, and its file mode (octal, Headscale's default).
  std::string unix_socket = "data/keel.sock";
  unsigned unix_socket_permission = 0770;
  // The legacy TS2019 key, still served on GET /key; must differ from the Noise key.
  std::string private_key_path = "data/private.key";
  NoiseConfig noise;
  PrefixesConfig prefixes;
  DatabaseConfig database;
  DnsConfig dns;
  DerpConfig derp;
  LogConfig log;
  PolicyConfig policy;
  CliConfig cli;
  OidcConfig oidc;
  // How long an ephemeral node may stay disconnected before it is deleted:
  // node.ephemeral.inactivity_timeout, or its older name ephemeral_node_inactivity_timeout
  // (the newer key wins when both are set, as in Headscale).
  std::chrono::seconds ephemeral_node_inactivity_timeout{120};
  bool ephemeral_timeout_from_node_key = false;  // set by node.ephemeral.inactivity_timeout
  // node.expiry: key expiry for untagged nodes when they register; 0 (the default): never.
  std::chrono::seconds node_expiry{0};
  // node.routes.ha: how often routers that share a prefix with another are probed (0: never)
  // and how long one may take to answer before its primary routes move.
  std::chrono::seconds ha_probe_interval{10};
  std::chrono::seconds ha_probe_timeout{5};
  // capability_floor: the oldest client capability version served (88 = Tailscale v1.62).
  // Older clients are refused with a message naming their release.
  int capability_floor = 88;
  // tuning.register_cache_expiration: how long a pending auth request (an SSH check) waits
  // for an admin before it expires into a rejection.
  std::chrono::seconds auth_request_timeout{15 * 60};
  // keel's own limits on abusive clients (control::Limits): tuning.presession_timeout (from a
  // ts2021 upgrade to its first request), tuning.slow_reader_timeout (a map stream left
  // unread), tuning.machine_request_rate and _burst (register and map requests a second per
  // machine, answered 429 beyond).
  std::chrono::seconds presession_timeout{15};
  std::chrono::seconds slow_reader_timeout{60};
  int machine_request_rate = 10;
  int machine_request_burst = 20;

  // TLS on listen_addr (PEM chain and key); both empty: plain HTTP. Not served yet: keel
  // refuses to start with them rather than serve plain HTTP where TLS was asked for.
  std::string tls_cert_path;
  std::string tls_key_path;

  // Not config: notes for the operator (e.g. ignored derp.urls), logged at startup.
  std::vector<std::string> warnings;
};

// Looks up an environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// The process environment.
std::optional<std::string> ProcessEnv(const std::string& name);

// Parses YAML text. An empty document gives all defaults. Then every known key may be
// overridden from the environment as Headscale's HEADSCALE_* variables do: KEEL_ and the
// dotted key upper-cased with "." as "_" (KEEL_DATABASE_SQLITE_PATH), its value read as YAML
// (KEEL_DNS_NAMESERVERS_GLOBAL='[1.1.1.1, 8.8.8.8]').
Result<Config> ParseConfig(std::string_view yaml_text, const EnvLookup& env = ProcessEnv);

// Reads and parses `path`; an empty path means no file: defaults and the environment.
Result<Config> LoadConfig(const std::string& path, const EnvLookup& env = ProcessEnv);

// "host:port", "[v6]:port" or ":port"; the host must be an IP literal or "localhost".
Result<ListenAddress> ParseListenAddress(std::string_view text);

// Why `key` is not a DERP mesh key (64 hex digits), or "" when it is one.
std::string MeshKeyProblem(std::string_view key);

}  // namespace keel::config
