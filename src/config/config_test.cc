#include "config/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "config/duration.h"

namespace keel::config {
namespace {

using namespace std::chrono_literals;

std::string ErrorOf(std::string_view yaml) {
  auto c = ParseConfig(yaml);
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

TEST(ConfigTest, UnknownKeysNamed) {
  EXPECT_EQ(ErrorOf("grpc_listen_addr: 1.2.3.4:50443"),
            "unknown config key \"grpc_listen_addr\"");
  EXPECT_EQ(ErrorOf("dns:\n  nameservers:\n    split: {}\n"),
            "unknown config key \"dns.nameservers.split\"");
  EXPECT_EQ(ErrorOf("database:\n  postgres:\n    host: x\n"),
            "unknown config key \"database.postgres\"");
}

TEST(ConfigTest, BadValuesNameTheKey) {
  EXPECT_TRUE(ErrorOf("prefixes:\n  v4: 10.0.0.0/8\n").starts_with("prefixes.v4:"));
  EXPECT_TRUE(ErrorOf("prefixes:\n  v4: 100.64.0.0/9\n").starts_with("prefixes.v4:"));
  EXPECT_TRUE(ErrorOf("prefixes:\n  v4: not-a-cidr\n").starts_with("prefixes.v4:"));
  EXPECT_TRUE(ErrorOf("prefixes:\n  v6: fd00::/8\n").starts_with("prefixes.v6:"));
  EXPECT_TRUE(ErrorOf("prefixes:\n  allocation: random\n").starts_with("prefixes.allocation:"));
  EXPECT_TRUE(ErrorOf("listen_addr: nohost\n").starts_with("listen_addr:"));
  EXPECT_TRUE(ErrorOf("listen_addr: example.com:80\n").starts_with("listen_addr:"));
  EXPECT_TRUE(ErrorOf("listen_addr: 127.0.0.1:70000\n").starts_with("listen_addr:"));
  EXPECT_TRUE(ErrorOf("ephemeral_node_inactivity_timeout: soon\n")
                  .starts_with("ephemeral_node_inactivity_timeout:"));
  EXPECT_TRUE(ErrorOf("dns:\n  magic_dns: maybe\n").starts_with("dns.magic_dns:"));
  EXPECT_TRUE(ErrorOf("dns: [1, 2]\n").starts_with("dns:"));
  EXPECT_TRUE(ErrorOf("dns:\n  nameservers:\n    global: 1.1.1.1\n")
                  .starts_with("dns.nameservers.global:"));
  EXPECT_TRUE(ErrorOf("dns:\n  nameservers:\n    global: [dns.google]\n")
                  .starts_with("dns.nameservers.global:"));
  EXPECT_TRUE(ErrorOf("server_url: {a: b}\n").starts_with("server_url:"));
  EXPECT_TRUE(ErrorOf("server_url: ftp://x\n").starts_with("server_url:"));
  EXPECT_TRUE(ErrorOf("log:\n  level: loud\n").starts_with("log.level:"));
  EXPECT_TRUE(ErrorOf("dns:\n  base_domain: \"bad domain\"\n").starts_with("dns.base_domain:"));
  EXPECT_TRUE(ErrorOf("noise:\n  private_key_path: data/private.key\n")
                  .starts_with("noise.private_key_path:"));
  EXPECT_TRUE(ErrorOf("key: [unclosed\n").starts_with("invalid YAML"));
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

}  // namespace
}  // namespace keel::config
