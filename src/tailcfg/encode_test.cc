#include "tailcfg/encode.h"

#include <gtest/gtest.h>

namespace keel::tailcfg {
namespace {

using namespace std::chrono_literals;

crypto::Key32 Filled(uint8_t b) {
  crypto::Key32 k;
  k.fill(b);
  return k;
}

SystemTime At(int64_t unix_seconds) { return std::chrono::system_clock::from_time_t(unix_seconds); }

TEST(EncodeTest, PeerNodeExact) {
  Node n;
  n.id = 2;
  n.name = "nas.keel.internal.";
  n.user = 3;
  n.key = crypto::NodePublic(Filled(0x11));
  n.machine = crypto::MachinePublic(Filled(0x22));
  n.disco_key = crypto::DiscoPublic(Filled(0x33));
  n.addresses = {HostPrefix("100.64.0.2"), HostPrefix("fd7a:115c:a1e0::2")};
  n.allowed_ips = n.addresses;
  n.endpoints = {"203.0.113.50:41641"};
  n.home_derp = 900;
  n.hostinfo_json = R"({"OS":"linux","Hostname":"nas"})";
  n.created = At(1787392800);  // 2026-08-22T10:00:00Z
  n.cap = 138;
  n.online = false;
  n.last_seen = At(1787392800) + 1500ms;
  std::string h11 = std::string(64, '1'), h22 = std::string(64, '2'), h33 = std::string(64, '3');
  std::string want =
      R"({"ID":2,"StableID":"2","Name":"nas.keel.internal.","User":3,"Key":"nodekey:)" + h11 +
      R"(","KeyExpiry":"0001-01-01T00:00:00Z","Machine":"mkey:)" + h22 + R"(","DiscoKey":"discokey:)" +
      h33 +
      R"(","Addresses":["100.64.0.2/32","fd7a:115c:a1e0::2/128"],"AllowedIPs":["100.64.0.2/32","fd7a:115c:a1e0::2/128"],)"
      R"("Endpoints":["203.0.113.50:41641"],"DERP":"127.3.3.40:900","HomeDERP":900,)"
      R"("Hostinfo":{"OS":"linux","Hostname":"nas"},"Created":"2026-08-22T10:00:00Z","Cap":138,)"
      R"("Online":false,"LastSeen":"2026-08-22T10:00:01.5Z","MachineAuthorized":true})";
  EXPECT_EQ(NodeJson(n).dump(), want);
}

TEST(EncodeTest, SelfNodeCapMapAndTags) {
  Node n;
  n.id = 1;
  n.tags = {"tag:a", "tag:b"};
  n.cap_map = SelfCapMap();
  n.hostinfo_json = "not json";  // never breaks the node
  auto j = NodeJson(n);
  EXPECT_EQ(j["Tags"].dump(), R"(["tag:a","tag:b"])");
  EXPECT_EQ(j["Hostinfo"].dump(), "{}");
  EXPECT_EQ(j["CapMap"].dump(),
            R"({"https://tailscale.com/cap/is-admin":[],"https://tailscale.com/cap/ssh":[],)"
            R"("https://tailscale.com/cap/file-sharing":[],"default-auto-update":[false]})");
  EXPECT_FALSE(j.contains("Online"));
  EXPECT_FALSE(j.contains("HomeDERP"));
  EXPECT_FALSE(j.contains("Endpoints"));
}

TEST(EncodeTest, PeerChangeOnlyWritesSetFields) {
  PeerChange c;
  c.node_id = 7;
  c.online = false;
  c.last_seen = At(0);
  EXPECT_EQ(PeerChangeJson(c).dump(), R"({"NodeID":7,"Online":false,"LastSeen":"1970-01-01T00:00:00Z"})");
  PeerChange p;
  p.node_id = 8;
  p.endpoints = std::vector<std::string>{};
  p.derp_region = 1;
  p.key_expiry = ZeroTime();
  EXPECT_EQ(PeerChangeJson(p).dump(),
            R"({"NodeID":8,"DERPRegion":1,"Endpoints":[],"KeyExpiry":"0001-01-01T00:00:00Z"})");
}

TEST(EncodeTest, RegisterResponses) {
  RegisterResponse ok;
  ok.user_id = 3;
  ok.display_name = "alice";
  ok.login_name = "alice@example.com";
  ok.machine_authorized = true;
  EXPECT_EQ(EncodeRegisterResponse(ok),
            R"({"User":{"ID":3,"DisplayName":"alice"},"Login":{"ID":3,"Provider":"","LoginName":"alice@example.com","DisplayName":"alice"},)"
            R"("NodeKeyExpired":false,"MachineAuthorized":true,"AuthURL":"","NodeKeySignature":null,"Error":""})");
  RegisterResponse bad;
  bad.error = "authkey expired";
  auto text = EncodeRegisterResponse(bad);
  EXPECT_NE(text.find(R"("Error":"authkey expired")"), std::string::npos);
}

TEST(EncodeTest, DnsConfigAndFilter) {
  DnsConfig d;
  d.resolvers = {"1.1.1.1"};
  d.domains = {"keel.internal"};
  d.proxied = true;
  d.routes["64.100.in-addr.arpa"] = {};
  EXPECT_EQ(DnsConfigJson(d).dump(),
            R"({"Resolvers":[{"Addr":"1.1.1.1"}],"Routes":{"64.100.in-addr.arpa":[]},"Domains":["keel.internal"],"Proxied":true})");
  DnsConfig split;
  split.fallback_resolvers = {"9.9.9.9"};
  split.routes["corp.example"] = {"10.0.0.53", "10.0.0.54"};
  split.extra_records = {{"grafana.keel.internal", "A", "100.64.0.3"}};
  EXPECT_EQ(DnsConfigJson(split).dump(),
            R"({"Routes":{"corp.example":[{"Addr":"10.0.0.53"},{"Addr":"10.0.0.54"}]},)"
            R"("FallbackResolvers":[{"Addr":"9.9.9.9"}],"Proxied":false,)"
            R"("ExtraRecords":[{"Name":"grafana.keel.internal","Type":"A","Value":"100.64.0.3"}]})");
  EXPECT_EQ(DnsConfigJson(DnsConfig{}).dump(), R"({"Proxied":false})");
  EXPECT_EQ(AllowAllFilterRules().dump(),
            R"([{"SrcIPs":["*"],"DstPorts":[{"IP":"*","Ports":{"First":0,"Last":65535}}]}])");
}

}  // namespace
}  // namespace keel::tailcfg
