#include "config/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <utility>

#include "config/duration.h"

namespace keel::config {
namespace {

using namespace std::chrono_literals;

std::string ErrorOf(std::string_view yaml) {
  auto c = ParseConfig(yaml, [](const std::string&) { return std::optional<std::string>(); });
  EXPECT_FALSE(c) << "accepted: " << yaml;
  return c ? "" : c.error().message;
}

TEST(DurationTest, ParsesGoForms) {
  EXPECT_EQ(*ParseDuration("90s"), 90s);
  EXPECT_EQ(*ParseDuration("1h30m"), 90min);
  EXPECT_EQ(*ParseDuration("24h"), 24h);
  EXPECT_EQ(*ParseDuration("1.5h"), 90min);
  EXPECT_EQ(*ParseDuration("300ms"), 300ms);
  EXPECT_EQ(*ParseDuration("2m3s"), 123s);
  EXPECT_EQ(*ParseDuration("0"), 0s);
  EXPECT_EQ(*ParseDuration("90d"), 90 * 24h);
  EXPECT_EQ(*ParseDuration("1w"), 7 * 24h);
  EXPECT_EQ(*ParseDuration("10us"), 10us);
}

TEST(DurationTest, RejectsBadForms) {
  for (std::string_view bad : {"", "10", "h", "1x", "-5s", "1..5s", "5s3", "+"}) {
    EXPECT_FALSE(ParseDuration(bad)) << bad;
  }
}

TEST(DurationTest, Formats) {
  EXPECT_EQ(FormatDuration(0s), "0s");
  EXPECT_EQ(FormatDuration(90s), "1m30s");
  EXPECT_EQ(FormatDuration(2h), "2h");
  EXPECT_EQ(FormatDuration(3661s), "1h1m1s");
}

TEST(ConfigTest, EmptyGivesDefaults) {
  for (std::string_view text : {"", "# only a comment\n", "---\n"}) {
    auto c = ParseConfig(text);
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->server_url, "http://127.0.0.1:8080");
    EXPECT_EQ(c->listen_addr.host, "127.0.0.1");
    EXPECT_EQ(c->listen_addr.port, 8080);
    EXPECT_EQ(c->unix_socket, "data/keel.sock");
    EXPECT_EQ(c->noise.private_key_path, "data/noise_private.key");
    EXPECT_EQ(c->private_key_path, "data/private.key");
    EXPECT_EQ(c->prefixes.v4.to_string(), "100.64.0.0/10");
    EXPECT_EQ(c->prefixes.v6.to_string(), "fd7a:115c:a1e0::/48");
    EXPECT_EQ(c->database.type, "sqlite");
    EXPECT_EQ(c->database.sqlite.path, "data/db.sqlite");
    EXPECT_TRUE(c->dns.magic_dns);
    EXPECT_EQ(c->dns.base_domain, "keel.internal");
    EXPECT_TRUE(c->dns.nameservers_global.empty());
    EXPECT_EQ(c->log.level, "info");
    EXPECT_EQ(c->ephemeral_node_inactivity_timeout, 120s);
    EXPECT_TRUE(c->warnings.empty());
  }
  auto c = LoadConfig("");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->listen_addr.port, 8080);
}

TEST(ConfigTest, DerpServerDefaults) {
  auto c = ParseConfig("");
  ASSERT_TRUE(c);
  const DerpServerConfig& d = c->derp.server;
  EXPECT_TRUE(d.enabled);
  EXPECT_EQ(d.region_id, 999);
  EXPECT_EQ(d.region_code, "keel");
  EXPECT_EQ(d.region_name, "keel embedded DERP");
  EXPECT_EQ(d.private_key_path, "data/derp_server_private.key");
  EXPECT_EQ(d.listen_addr.host, "127.0.0.1");
  EXPECT_EQ(d.listen_addr.port, 8443);
  ASSERT_TRUE(d.stun_listen_addr);
  EXPECT_EQ(d.stun_listen_addr->port, 3478);
  EXPECT_EQ(d.AdvertisedIPv4(), "127.0.0.1");
  EXPECT_EQ(d.ipv6, "none");
  EXPECT_EQ(d.AdvertisedHostname(), "127.0.0.1");
  EXPECT_TRUE(d.tls_cert_path.empty());
  EXPECT_TRUE(d.verify_clients);
  EXPECT_TRUE(d.mesh_key.empty());
  EXPECT_TRUE(d.mesh_with.empty());
  EXPECT_TRUE(d.automatically_add_embedded_derp_region);
  EXPECT_FALSE(d.drop_other_regions);
}

TEST(ConfigTest, DerpServerKeys) {
  std::string key(64, 'a');
  auto c = ParseConfig(R"(
derp:
  server:
    enabled: true
    region_id: 900
    region_code: home
    region_name: Home relay
    private_key_path: /var/lib/keel/derp.key
    listen_addr: 0.0.0.0:0
    stun_listen_addr: "[::]:0"
    ipv4: 192.0.2.10
    ipv6: 2001:db8::10
    hostname: derp.example.com
    tls_cert_path: /etc/keel/derp.crt
    tls_key_path: /etc/keel/derp.key
    verify_clients: false
    threads: 3
    mesh_key: )" + key + R"(
    mesh_with: ["https://127.0.0.1:8444/derp"]
    automatically_add_embedded_derp_region: true
    drop_other_regions: true
)");
  ASSERT_TRUE(c) << c.error().message;
  const DerpServerConfig& d = c->derp.server;
  EXPECT_EQ(d.region_id, 900);
  EXPECT_EQ(d.region_code, "home");
  EXPECT_EQ(d.region_name, "Home relay");
  EXPECT_EQ(d.private_key_path, "/var/lib/keel/derp.key");
  EXPECT_EQ(d.listen_addr.host, "0.0.0.0");
  EXPECT_EQ(d.listen_addr.port, 0);
  EXPECT_EQ(d.stun_listen_addr->host, "::");
  EXPECT_EQ(d.AdvertisedIPv4(), "192.0.2.10");
  EXPECT_EQ(d.ipv6, "2001:db8::10");
  EXPECT_EQ(d.AdvertisedHostname(), "derp.example.com");
  EXPECT_EQ(d.tls_cert_path, "/etc/keel/derp.crt");
  EXPECT_FALSE(d.verify_clients);
  EXPECT_EQ(d.mesh_key, key);
  EXPECT_EQ(d.mesh_with, std::vector<std::string>{"https://127.0.0.1:8444/derp"});
  EXPECT_EQ(d.threads, 3);
  EXPECT_TRUE(d.drop_other_regions);

  auto off = ParseConfig("derp:\n  server:\n    enabled: false\n    stun_listen_addr: \"\"\n");
  ASSERT_TRUE(off) << off.error().message;
  EXPECT_FALSE(off->derp.server.enabled);
  EXPECT_FALSE(off->derp.server.stun_listen_addr);
}

TEST(ConfigTest, DerpServerBadValues) {
  auto has = [](std::string_view yaml, std::string_view what) {
    std::string e = ErrorOf(yaml);
    EXPECT_NE(e.find(what), std::string::npos) << yaml << " -> " << e;
  };
  has("derp:\n  server:\n    region_id: 0\n", "derp.server.region_id");
  has("derp:\n  server:\n    region_id: abc\n", "derp.server.region_id");
  has("derp:\n  server:\n    enabled: maybe\n", "derp.server.enabled");
  has("derp:\n  server:\n    listen_addr: nohost\n", "derp.server.listen_addr");
  has("derp:\n  server:\n    stun_listen_addr: 1.2.3.4:99999\n", "derp.server.stun_listen_addr");
  has("derp:\n  server:\n    ipv4: \"::1\"\n", "derp.server.ipv4");
  has("derp:\n  server:\n    ipv6: 10.0.0.1\n", "derp.server.ipv6");
  has("derp:\n  server:\n    hostname: \"bad host\"\n", "derp.server.hostname");
  has("derp:\n  server:\n    mesh_key: abcd\n", "derp.server.mesh_key");
  has("derp:\n  server:\n    mesh_with: [http://x/derp]\n", "derp.server.mesh_with");
  has("derp:\n  server:\n    mesh_with: [https://127.0.0.1:1/derp]\n", "needs derp.server.mesh_key");
  has("derp:\n  server:\n    bogus: 1\n", "derp.server.bogus");
  has("derp:\n  server:\n    threads: -1\n", "derp.server.threads");
  has("derp:\n  server:\n    threads: many\n", "derp.server.threads");
  has("derp:\n  server:\n    mesh_key: " + std::string(64, 'a') + "\n    mesh_key_path: /k\n",
      "not both");
  // Cross-key checks.
  has("derp:\n  server:\n    listen_addr: 0.0.0.0:8443\n", "derp.server.ipv4");
  has("derp:\n  server:\n    private_key_path: data/private.key\n", "must differ");
  has("derp:\n  server:\n    tls_cert_path: /x.crt\n", "tls_key_path");
  has("derp:\n  server:\n    enabled: false\n    drop_other_regions: true\n",
      "drop_other_regions");
}

TEST(ConfigTest, ParsesHeadscaleStyleFile) {
  auto c = ParseConfig(R"(
server_url: https://keel.example.com/
listen_addr: 0.0.0.0:443
unix_socket: /run/keel/keel.sock
private_key_path: /var/lib/keel/private.key
noise:
  private_key_path: /var/lib/keel/noise_private.key
prefixes:
  v4: 100.100.0.0/16
  v6: fd7a:115c:a1e0:1::/64
  allocation: sequential
database:
  type: sqlite
  sqlite:
    path: /var/lib/keel/db.sqlite
dns:
  magic_dns: false
  base_domain: ts.example.org
  nameservers:
    global: [1.1.1.1, "2606:4700:4700::1111", https://dns.example/dns-query]
  search_domains: [corp.example]
derp:
  paths: [/etc/keel/derp.yaml]
  urls:
log:
  level: debug
ephemeral_node_inactivity_timeout: 30m
)");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->server_url, "https://keel.example.com");
  EXPECT_EQ(c->listen_addr.host, "0.0.0.0");
  EXPECT_EQ(c->listen_addr.port, 443);
  EXPECT_EQ(c->unix_socket, "/run/keel/keel.sock");
  EXPECT_EQ(c->noise.private_key_path, "/var/lib/keel/noise_private.key");
  EXPECT_EQ(c->prefixes.v4.to_string(), "100.100.0.0/16");
  EXPECT_EQ(c->prefixes.v6.to_string(), "fd7a:115c:a1e0:1::/64");
  EXPECT_EQ(c->database.sqlite.path, "/var/lib/keel/db.sqlite");
  EXPECT_FALSE(c->dns.magic_dns);
  EXPECT_EQ(c->dns.base_domain, "ts.example.org");
  EXPECT_EQ(c->dns.nameservers_global.size(), 3u);
  EXPECT_EQ(c->dns.search_domains, std::vector<std::string>{"corp.example"});
  EXPECT_EQ(c->derp.paths, std::vector<std::string>{"/etc/keel/derp.yaml"});
  EXPECT_EQ(c->log.level, "debug");
  EXPECT_EQ(c->ephemeral_node_inactivity_timeout, 30min);
}

TEST(ConfigTest, EphemeralTimeoutUnderEitherNameNewerWins) {
  auto c = ParseConfig("node:\n  ephemeral:\n    inactivity_timeout: 5s\n");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->ephemeral_node_inactivity_timeout, 5s);
  for (const char* yaml : {"ephemeral_node_inactivity_timeout: 9m\nnode:\n  ephemeral:\n"
                           "    inactivity_timeout: 7s\n",
                           "node:\n  ephemeral:\n    inactivity_timeout: 7s\n"
                           "ephemeral_node_inactivity_timeout: 9m\n"}) {
    auto both = ParseConfig(yaml);
    ASSERT_TRUE(both) << both.error().message;
    EXPECT_EQ(both->ephemeral_node_inactivity_timeout, 7s) << yaml;
  }
  EXPECT_NE(ErrorOf("node:\n  ephemeral:\n    inactivity_timeout: 0s\n").find("at least 1s"),
            std::string::npos);
}

TEST(ConfigTest, NodeExpiry) {
  EXPECT_EQ(ParseConfig("")->node_expiry, 0s);  // never, Headscale's default
  EXPECT_EQ(ParseConfig("node:\n  expiry: 90d\n")->node_expiry, std::chrono::hours(24 * 90));
  EXPECT_EQ(ParseConfig("node:\n  expiry: 0\n")->node_expiry, 0s);
  EXPECT_NE(ErrorOf("node:\n  expiry: soon\n").find("node.expiry"), std::string::npos);
}

TEST(ConfigTest, HaProbe) {
  auto d = ParseConfig("");
  EXPECT_EQ(d->ha_probe_interval, 10s);  // Headscale's defaults
  EXPECT_EQ(d->ha_probe_timeout, 5s);
  auto c = ParseConfig("node:\n  routes:\n    ha:\n      probe_interval: 3s\n      probe_timeout: 2s\n");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->ha_probe_interval, 3s);
  EXPECT_EQ(c->ha_probe_timeout, 2s);
  EXPECT_TRUE(ParseConfig("node:\n  routes:\n    ha:\n      probe_interval: 0\n"));  // off
  for (const char* bad : {"probe_interval: 1s", "probe_interval: 4s\n      probe_timeout: 4s",
                          "probe_timeout: 0s", "probe_timeout: later"}) {
    std::string e = ErrorOf(std::string("node:\n  routes:\n    ha:\n      ") + bad + "\n");
    EXPECT_TRUE(e.starts_with("node.routes.ha.probe_")) << bad << " -> " << e;
  }
}

TEST(ConfigTest, MisspeltKeysSuggestTheNearestAndRepeatsFail) {
  EXPECT_NE(ErrorOf("dns:\n  magicdns: true\n").find("unknown config key \"dns.magicdns\"; did you mean \"dns.magic_dns\"?"),
            std::string::npos) << ErrorOf("dns:\n  magicdns: true\n");
  EXPECT_NE(ErrorOf("server_ur: http://x\n").find("did you mean \"server_url\"?"), std::string::npos);
  std::string far = ErrorOf("completely_unrelated: 1\n");
  EXPECT_NE(far.find("unknown config key"), std::string::npos);
  EXPECT_EQ(far.find("did you mean"), std::string::npos) << far;
  std::string twice = ErrorOf("log:\n  level: info\n  level: debug\n");
  EXPECT_NE(twice.find("log.level"), std::string::npos) << twice;
  EXPECT_NE(twice.find("appears twice"), std::string::npos) << twice;
}

TEST(ConfigTest, CapabilityFloor) {
  EXPECT_EQ(ParseConfig("")->capability_floor, 88);  // Tailscale v1.62
  auto c = ParseConfig("capability_floor: 113\n");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->capability_floor, 113);
  for (const char* bad : {"capability_floor: 60\n", "capability_floor: new\n", "capability_floor: -1\n"}) {
    EXPECT_TRUE(ErrorOf(bad).starts_with("capability_floor")) << bad << " -> " << ErrorOf(bad);
  }
}

TEST(ConfigTest, DnsSplitRecordsAndOverride) {
  auto c = ParseConfig(R"(
dns:
  override_local_dns: false
  nameservers:
    global: [1.1.1.1]
    split:
      corp.example: [10.0.0.53, "fd00::53"]
      lab.example: [10.1.0.53]
  extra_records:
    - {name: grafana.keel.internal, type: A, value: 100.64.0.3}
    - name: v6.keel.internal
      type: AAAA
      value: fd7a:115c:a1e0::3
  extra_records_path: /var/lib/keel/records.json
)");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_FALSE(c->dns.override_local_dns);
  EXPECT_EQ(c->dns.nameservers_split.size(), 2u);
  EXPECT_EQ(c->dns.nameservers_split["corp.example"],
            (std::vector<std::string>{"10.0.0.53", "fd00::53"}));
  ASSERT_EQ(c->dns.extra_records.size(), 2u);
  EXPECT_EQ(c->dns.extra_records[1], (DnsRecord{"v6.keel.internal", "AAAA", "fd7a:115c:a1e0::3"}));
  EXPECT_EQ(c->dns.extra_records_path, "/var/lib/keel/records.json");
  EXPECT_TRUE(ParseConfig("")->dns.override_local_dns);  // Headscale's default

  EXPECT_NE(ErrorOf("dns:\n  nameservers:\n    split: [1.1.1.1]\n").find("expected a mapping"),
            std::string::npos);
  EXPECT_NE(ErrorOf("dns:\n  nameservers:\n    split:\n      corp.example: [nope]\n")
                .find("dns.nameservers.split.corp.example"),
            std::string::npos);
  EXPECT_NE(ErrorOf("dns:\n  extra_records: [{name: a.b, type: A, value: fd00::1}]\n")
                .find("is not an IPv4 address"),
            std::string::npos);
  EXPECT_NE(ErrorOf("dns:\n  extra_records: [{name: a.b, type: MX, value: x}]\n")
                .find("not supported"),
            std::string::npos);
}

TEST(ConfigTest, ExtraRecordsFile) {
  auto r = ParseExtraRecordsJson(R"([{"name":"db.keel.internal","type":"A","value":"100.64.0.9"}])");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, (std::vector<DnsRecord>{{"db.keel.internal", "A", "100.64.0.9"}}));
  EXPECT_TRUE(ParseExtraRecordsJson("[]")->empty());
  EXPECT_FALSE(ParseExtraRecordsJson("{"));
  EXPECT_FALSE(ParseExtraRecordsJson(R"({"name":"x"})"));
  auto bad = ParseExtraRecordsJson(R"([{"name":"a","type":"A","value":"1.2.3.4"},{"name":"b"}])");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("record 2"), std::string::npos);
}

// No environment: the tests see only the YAML they give.
std::optional<std::string> NoEnv(const std::string&) { return std::nullopt; }

TEST(ConfigTest, UnknownKeysNamed) {
  EXPECT_EQ(ErrorOf("grpc_listen_adr: 1.2.3.4:50443"),
            "unknown config key \"grpc_listen_adr\"; did you mean \"grpc_listen_addr\"?");
  EXPECT_EQ(ErrorOf("dns:\n  nameservers:\n    splitt: {}\n"),
            "unknown config key \"dns.nameservers.splitt\"; did you mean \"dns.nameservers.split\"?");
  EXPECT_EQ(ErrorOf("tls_cert_pth: a.pem\n"),
            "unknown config key \"tls_cert_pth\"; did you mean \"tls_cert_path\"?");
}

// Headscale's keys keel does not act on are accepted with one warning each, unless their value
// asks for nothing; the ones Headscale removed are errors saying what replaces them.
TEST(ConfigTest, HeadscaleKeysWarnOnce) {
  auto c = ParseConfig(R"(
grpc_listen_addr: 127.0.0.1:50443
grpc_allow_insecure: false
trusted_proxies: []
disable_check_updates: true
derp:
  auto_update_enabled: true
  update_frequency: 3h
database:
  gorm:
    prepare_stmt: true
  sqlite:
    write_ahead_log: true
    wal_autocheckpoint: 1000
  postgres:
    host: db.example.com
acme_email: ""
tuning:
  batch_change_delay: 800ms
  register_cache_expiration: 20m
  presession_timeout: 12s
  slow_reader_timeout: 2m
  machine_request_rate: 5
  machine_request_burst: 30
prefixes:
  allocation: random
)", NoEnv);
  ASSERT_TRUE(c) << c.error().message;
  std::vector<std::string> named;
  for (const auto& w : c->warnings) named.push_back(w.substr(0, w.find(' ')));
  EXPECT_EQ(named, (std::vector<std::string>{
                       "grpc_listen_addr", "derp.auto_update_enabled", "derp.update_frequency",
                       "database.gorm.prepare_stmt", "database.postgres.host",
                       "tuning.batch_change_delay", "prefixes.allocation"}));
  EXPECT_EQ(c->warnings[0],
            "grpc_listen_addr has no effect: keel serves no gRPC; the same API is REST under "
            "/api/v1 on listen_addr");
  EXPECT_EQ(c->auth_request_timeout, std::chrono::minutes(20));  // keel's own key still applies
  EXPECT_EQ(c->presession_timeout, std::chrono::seconds(12));
  EXPECT_EQ(c->slow_reader_timeout, std::chrono::minutes(2));
  EXPECT_EQ(c->machine_request_rate, 5);
  EXPECT_EQ(c->machine_request_burst, 30);
  EXPECT_EQ(c->prefixes.allocation, "sequential");

  EXPECT_TRUE(ErrorOf("randomize_client_port: true").starts_with(
      "randomize_client_port: removed in Headscale 0.29: set \"randomizeClientPort\""));
  EXPECT_TRUE(ErrorOf("oidc:\n  strip_email_domain: true\n").starts_with("oidc.strip_email_domain:"));
}

TEST(ConfigTest, OidcKeys) {
  auto c = ParseConfig(R"(
oidc:
  only_start_if_oidc_is_available: false
  issuer: https://sso.example.com
  client_id: keel
  client_secret_path: /run/secrets/oidc
  scope: [openid, profile, email, groups]
  extra_params:
    domain_hint: example.com
  allowed_domains: [example.com]
  allowed_users: [alice@example.com]
  allowed_groups: [staff]
  email_verified_required: false
  use_expiry_from_token: true
  pkce:
    enabled: true
    method: plain
  policy_groups:
    engineering: group:eng
    admins: [group:admin, group:eng]
)", NoEnv);
  ASSERT_TRUE(c) << c.error().message;
  const OidcConfig& o = c->oidc;
  EXPECT_TRUE(o.enabled());
  EXPECT_FALSE(o.only_start_if_oidc_is_available);
  EXPECT_EQ(o.client_secret_path, "/run/secrets/oidc");
  EXPECT_EQ(o.scope.back(), "groups");
  EXPECT_EQ(o.extra_params.at("domain_hint"), "example.com");
  EXPECT_EQ(o.allowed_groups, std::vector<std::string>{"staff"});
  EXPECT_FALSE(o.email_verified_required);
  EXPECT_TRUE(o.use_expiry_from_token);
  EXPECT_TRUE(o.pkce_enabled);
  EXPECT_EQ(o.pkce_method, "plain");
  EXPECT_EQ(o.policy_groups.at("engineering"), std::vector<std::string>{"group:eng"});
  EXPECT_EQ(o.policy_groups.at("admins").size(), 2u);
  EXPECT_TRUE(c->warnings.empty());
  // Off by default, with Headscale's defaults.
  auto d = ParseConfig("", NoEnv);
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->oidc.enabled());
  EXPECT_EQ(d->oidc.scope, (std::vector<std::string>{"openid", "profile", "email"}));
  EXPECT_TRUE(d->oidc.email_verified_required);

  const std::string base = "oidc:\n  issuer: https://sso.example.com\n";
  EXPECT_TRUE(ErrorOf(base + "  client_secret: s\n").starts_with("oidc.client_id:"));
  EXPECT_TRUE(ErrorOf(base + "  client_id: k\n").starts_with("oidc.client_secret:"));
  EXPECT_TRUE(ErrorOf(base + "  client_id: k\n  client_secret: s\n  client_secret_path: p\n")
                  .starts_with("oidc.client_secret_path: set client_secret or"));
  EXPECT_TRUE(ErrorOf(base + "  client_id: k\n  client_secret: s\n  scope: [email]\n")
                  .starts_with("oidc.scope: must include openid"));
  EXPECT_TRUE(ErrorOf("oidc:\n  pkce:\n    method: S512\n").starts_with("oidc.pkce.method:"));
  EXPECT_TRUE(ErrorOf("oidc:\n  policy_groups:\n    eng: eng\n")
                  .starts_with("oidc.policy_groups.eng: \"eng\" is not a policy group"));
  EXPECT_TRUE(ErrorOf("oidc:\n  expiry: 180d\n").starts_with("oidc.expiry: removed from Headscale"));
  EXPECT_TRUE(ErrorOf("oidc:\n  issuer: sso.example.com\n").starts_with("oidc.issuer:"));
  EXPECT_TRUE(ErrorOf("oidc:\n  extra_params: [a]\n").starts_with("oidc.extra_params:"));
  // http:// works (a provider on loopback) but is worth a warning.
  auto plain = ParseConfig("oidc:\n  issuer: http://127.0.0.1:9400\n  client_id: k\n  client_secret: s\n", NoEnv);
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_EQ(plain->warnings.size(), 1u);
}

TEST(ConfigTest, NewHeadscaleFields) {
  auto c = ParseConfig("log:\n  format: json\nunix_socket_permission: \"0700\"\n"
                       "metrics_listen_addr: 127.0.0.1:9191\ntls_cert_path: a.pem\ntls_key_path: a.key\n",
                       NoEnv);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->log.format, "json");
  EXPECT_EQ(c->unix_socket_permission, 0700u);
  EXPECT_EQ(c->metrics_listen_addr->port, 9191);
  EXPECT_EQ(c->tls_key_path, "a.key");
  EXPECT_FALSE(ParseConfig("metrics_listen_addr: \"\"\n", NoEnv)->metrics_listen_addr);
  EXPECT_TRUE(ErrorOf("log:\n  format: xml\n").starts_with("log.format:"));
  EXPECT_TRUE(ErrorOf("unix_socket_permission: \"0999\"\n").starts_with("unix_socket_permission:"));
  EXPECT_TRUE(ErrorOf("tls_cert_path: a.pem\n").starts_with("tls_cert_path:"));
}

// KEEL_* variables override the file, as HEADSCALE_* do Headscale's.
TEST(ConfigTest, EnvironmentOverrides) {
  std::map<std::string, std::string> vars = {
      {"KEEL_DATABASE_SQLITE_PATH", "/tmp/from-env.sqlite"},
      {"KEEL_DNS_NAMESERVERS_GLOBAL", "[1.1.1.1, 8.8.8.8]"},
      {"KEEL_DERP_SERVER_ENABLED", "false"},
      {"KEEL_GRPC_LISTEN_ADDR", "127.0.0.1:1"},
  };
  auto env = [&](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  auto c = ParseConfig("database:\n  sqlite:\n    path: /from/file.sqlite\n", env);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->database.sqlite.path, "/tmp/from-env.sqlite");
  EXPECT_EQ(c->dns.nameservers_global, (std::vector<std::string>{"1.1.1.1", "8.8.8.8"}));
  EXPECT_FALSE(c->derp.server.enabled);
  ASSERT_EQ(c->warnings.size(), 1u);
  EXPECT_TRUE(c->warnings[0].starts_with("grpc_listen_addr has no effect"));
  // Without a file too.
  EXPECT_EQ(LoadConfig("", env)->database.sqlite.path, "/tmp/from-env.sqlite");

  vars = {{"KEEL_LISTEN_ADDR", "nohost"}};
  auto bad = ParseConfig("", env);
  ASSERT_FALSE(bad);
  EXPECT_TRUE(bad.error().message.starts_with("KEEL_LISTEN_ADDR: listen_addr:")) << bad.error().message;
  vars = {{"KEEL_DNS_NAMESERVERS_GLOBAL", "[1.1.1.1"}};
  EXPECT_TRUE(ParseConfig("", env).error().message.starts_with("KEEL_DNS_NAMESERVERS_GLOBAL: not a YAML value"));
}

TEST(ConfigTest, BadValuesNameTheKey) {
  // {yaml, how the error must start}
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"prefixes:\n  v4: 10.0.0.0/8\n", "prefixes.v4:"},
      {"prefixes:\n  v4: 100.64.0.0/9\n", "prefixes.v4:"},
      {"prefixes:\n  v4: not-a-cidr\n", "prefixes.v4:"},
      {"prefixes:\n  v6: fd00::/8\n", "prefixes.v6:"},
      {"prefixes:\n  allocation: shuffled\n", "prefixes.allocation:"},
      {"listen_addr: nohost\n", "listen_addr:"},
      {"listen_addr: example.com:80\n", "listen_addr:"},
      {"listen_addr: 127.0.0.1:70000\n", "listen_addr:"},
      {"ephemeral_node_inactivity_timeout: soon\n", "ephemeral_node_inactivity_timeout:"},
      {"dns:\n  magic_dns: maybe\n", "dns.magic_dns:"},
      {"dns: [1, 2]\n", "dns:"},
      {"dns:\n  nameservers:\n    global: 1.1.1.1\n", "dns.nameservers.global:"},
      {"dns:\n  nameservers:\n    global: [dns.google]\n", "dns.nameservers.global:"},
      {"server_url: {a: b}\n", "server_url:"},
      {"server_url: ftp://x\n", "server_url:"},
      {"log:\n  level: loud\n", "log.level:"},
      {"dns:\n  base_domain: \"bad domain\"\n", "dns.base_domain:"},
      {"noise:\n  private_key_path: data/private.key\n", "noise.private_key_path:"},
      {"key: [unclosed\n", "invalid YAML"},
  };
  for (const auto& [yaml, prefix] : cases) {
    std::string e = ErrorOf(yaml);
    EXPECT_TRUE(e.starts_with(prefix)) << yaml << " -> " << e;
  }
  EXPECT_EQ(ErrorOf("- a\n- b\n"), "config must be a YAML mapping");
}

TEST(ConfigTest, PostgresNotSupportedYet) {
  std::string err = ErrorOf("database:\n  type: postgres\n");
  EXPECT_NE(err.find("database.type"), std::string::npos);
  EXPECT_NE(err.find("not supported yet"), std::string::npos);
}

TEST(ConfigTest, DerpUrlsWarn) {
  auto c = ParseConfig("derp:\n  urls: [https://controlplane.tailscale.com/derpmap/default]\n");
  ASSERT_TRUE(c);
  ASSERT_EQ(c->warnings.size(), 1u);
  EXPECT_NE(c->warnings[0].find("derp.urls"), std::string::npos);
}

TEST(ConfigTest, ListenAddressForms) {
  auto a = ParseListenAddress("[::1]:9000");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 9000);
  a = ParseListenAddress(":8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "0.0.0.0");
  a = ParseListenAddress("localhost:0");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 0);
  EXPECT_FALSE(ParseListenAddress("::1:80"));
  EXPECT_FALSE(ParseListenAddress("1.2.3.4:"));
}

TEST(ConfigTest, LoadConfigFileErrorsNamePath) {
  auto dir = std::filesystem::temp_directory_path() / "keel_config_test";
  std::filesystem::create_directories(dir);
  auto path = (dir / "config.yaml").string();
  std::ofstream(path) << "listen_addr: 127.0.0.1:9999\nbogus: 1\n";
  auto c = LoadConfig(path);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message, path + ": unknown config key \"bogus\"");
  std::ofstream(path) << "listen_addr: 127.0.0.1:9999\n";
  c = LoadConfig(path);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->listen_addr.port, 9999);
  EXPECT_FALSE(LoadConfig((dir / "missing.yaml").string()));
  std::filesystem::remove_all(dir);
}

TEST(ConfigTest, PolicyKeys) {
  auto d = ParseConfig("");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->policy.mode, "file");
  EXPECT_EQ(d->policy.path, "");
  auto c = ParseConfig("policy:\n  mode: database\n  path: /etc/keel/acl.hujson\n");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->policy.mode, "database");
  EXPECT_EQ(c->policy.path, "/etc/keel/acl.hujson");
  EXPECT_FALSE(ParseConfig("policy:\n  mode: yaml\n"));
}

}  // namespace
}  // namespace keel::config
