#include "tailcfg/encode.h"

namespace keel::tailcfg {

OJson NodeJson(const Node& n) {
  OJson j;
  j["ID"] = n.id;
  j["StableID"] = std::to_string(n.id);
  j["Name"] = n.name;
  j["User"] = n.user;
  j["Key"] = n.key.ToText();
  j["KeyExpiry"] = FormatTime(n.key_expiry);
  j["Machine"] = n.machine.ToText();
  j["DiscoKey"] = n.disco_key.ToText();
  j["Addresses"] = n.addresses;
  j["AllowedIPs"] = n.allowed_ips;
  if (!n.primary_routes.empty()) j["PrimaryRoutes"] = n.primary_routes;
  if (!n.endpoints.empty()) j["Endpoints"] = n.endpoints;
  if (n.home_derp != 0) {
    j["DERP"] = "127.3.3.40:" + std::to_string(n.home_derp);
    j["HomeDERP"] = n.home_derp;
  }
  OJson hostinfo = OJson::parse(n.hostinfo_json, nullptr, /*allow_exceptions=*/false);
  j["Hostinfo"] = hostinfo.is_object() ? hostinfo : OJson::object();
  if (!IsZeroTime(n.created)) j["Created"] = FormatTime(n.created);
  if (n.cap != 0) j["Cap"] = n.cap;
  if (!n.tags.empty()) j["Tags"] = n.tags;
  if (n.online) j["Online"] = *n.online;
  if (!IsZeroTime(n.last_seen)) j["LastSeen"] = FormatTime(n.last_seen);
  j["MachineAuthorized"] = n.machine_authorized;
  if (n.expired) j["Expired"] = true;
  if (!n.cap_map.is_null()) j["CapMap"] = n.cap_map;
  return j;
}

OJson SelfCapMap(bool auto_update_default) {
  OJson m;
  m["https://tailscale.com/cap/is-admin"] = OJson::array();
  m["https://tailscale.com/cap/ssh"] = OJson::array();
  m["https://tailscale.com/cap/file-sharing"] = OJson::array();
  m["default-auto-update"] = OJson::array({auto_update_default});
  return m;
}

OJson UserProfileJson(const UserProfile& p) {
  OJson j;
  j["ID"] = p.id;
  j["LoginName"] = p.login_name;
  j["DisplayName"] = p.display_name;
  return j;
}

OJson PeerChangeJson(const PeerChange& c) {
  OJson j;
  j["NodeID"] = c.node_id;
  if (c.derp_region) j["DERPRegion"] = *c.derp_region;
  if (c.endpoints) j["Endpoints"] = *c.endpoints;
  if (c.key) j["Key"] = c.key->ToText();
  if (c.disco_key) j["DiscoKey"] = c.disco_key->ToText();
  if (c.online) j["Online"] = *c.online;
  if (c.last_seen) j["LastSeen"] = FormatTime(*c.last_seen);
  if (c.key_expiry) j["KeyExpiry"] = FormatTime(*c.key_expiry);
  return j;
}

std::string EncodeRegisterResponse(const RegisterResponse& r) {
  OJson user;
  user["ID"] = r.user_id;
  user["DisplayName"] = r.display_name;
  if (!IsZeroTime(r.user_created)) user["Created"] = FormatTime(r.user_created);
  OJson login;
  login["ID"] = r.user_id;
  login["Provider"] = "";
  login["LoginName"] = r.login_name;
  login["DisplayName"] = r.display_name;
  OJson j;
  j["User"] = std::move(user);
  j["Login"] = std::move(login);
  j["NodeKeyExpired"] = r.node_key_expired;
  j["MachineAuthorized"] = r.machine_authorized;
  j["AuthURL"] = r.auth_url;
  j["NodeKeySignature"] = nullptr;
  j["Error"] = r.error;
  return j.dump();
}

namespace {

OJson ResolverList(const std::vector<std::string>& addrs) {
  OJson list = OJson::array();
  for (const auto& addr : addrs) list.push_back(OJson{{"Addr", addr}});
  return list;
}

}  // namespace

OJson DnsConfigJson(const DnsConfig& d) {
  OJson j = OJson::object();
  if (!d.resolvers.empty()) j["Resolvers"] = ResolverList(d.resolvers);
  if (!d.routes.empty()) {
    OJson routes = OJson::object();
    for (const auto& [suffix, addrs] : d.routes) routes[suffix] = ResolverList(addrs);
    j["Routes"] = std::move(routes);
  }
  if (!d.fallback_resolvers.empty()) j["FallbackResolvers"] = ResolverList(d.fallback_resolvers);
  if (!d.domains.empty()) j["Domains"] = d.domains;
  j["Proxied"] = d.proxied;
  if (!d.extra_records.empty()) {
    OJson records = OJson::array();
    for (const auto& r : d.extra_records) {
      records.push_back(OJson{{"Name", r.name}, {"Type", r.type}, {"Value", r.value}});
    }
    j["ExtraRecords"] = std::move(records);
  }
  return j;
}

OJson AllowAllFilterRules() {
  OJson port_range;
  port_range["First"] = 0;
  port_range["Last"] = 65535;
  OJson dst;
  dst["IP"] = "*";
  dst["Ports"] = std::move(port_range);
  OJson rule;
  rule["SrcIPs"] = OJson::array({"*"});
  rule["DstPorts"] = OJson::array({std::move(dst)});
  return OJson::array({std::move(rule)});
}

std::string HostPrefix(std::string_view ip) {
  bool v6 = ip.find(':') != std::string_view::npos;
  return std::string(ip) + (v6 ? "/128" : "/32");
}

}  // namespace keel::tailcfg
