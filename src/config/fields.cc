// The table of keel's config keys (Fields) and the typed setters behind it.

#include "config/fields.h"

#include <boost/asio/ip/address.hpp>
#include <limits>

#include "base/bytes.h"
#include "config/duration.h"

namespace keel::config {
namespace {

namespace ip = boost::asio::ip;

// Tailscale v1.62, the oldest release the client test matrix runs; older ones are unproven.
constexpr int kLowestServedCapVer = 88;


}  // namespace

Error KeyError(const std::string& key, const std::string& why) {
  return MakeError(Errc::kInvalidArgument, key + ": " + why);
}

namespace {

Result<std::string> AsString(const YAML::Node& n, const std::string& key) {
  if (!n.IsScalar()) return KeyError(key, "expected a string");
  return n.Scalar();
}

Result<bool> AsBool(const YAML::Node& n, const std::string& key) {
  bool b = false;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, b)) {
    return KeyError(key, "expected true or false");
  }
  return b;
}

Result<std::vector<std::string>> AsStringList(const YAML::Node& n, const std::string& key) {
  if (!n.IsSequence()) return KeyError(key, "expected a list");
  std::vector<std::string> out;
  for (const auto& item : n) {
    if (!item.IsScalar()) return KeyError(key, "expected a list of strings");
    out.push_back(item.Scalar());
  }
  return out;
}

// A setter that stores a string after `check` accepts it (check returns an error text or "").
template <class Get>
Setter StringField(Get get, std::function<std::string(const std::string&)> check = nullptr) {
  return [get, check](const YAML::Node& n, const std::string& key, Config& c) -> Result<void> {
    auto s = AsString(n, key);
    if (!s) return s.error();
    if (check) {
      if (std::string why = check(*s); !why.empty()) return KeyError(key, why);
    }
    get(c) = *s;
    return {};
  };
}

template <class Get>
Setter ListField(Get get, std::function<std::string(const std::string&)> check = nullptr) {
  return [get, check](const YAML::Node& n, const std::string& key, Config& c) -> Result<void> {
    auto list = AsStringList(n, key);
    if (!list) return list.error();
    for (const auto& item : *list) {
      if (!check) break;
      if (std::string why = check(item); !why.empty()) return KeyError(key, why);
    }
    get(c) = std::move(*list);
    return {};
  };
}

template <class Get>
Setter BoolField(Get get) {
  return [get](const YAML::Node& n, const std::string& key, Config& c) -> Result<void> {
    auto b = AsBool(n, key);
    if (!b) return b.error();
    get(c) = *b;
    return {};
  };
}

// An integer in [min, max]; `expected` says what the key wants ("a positive integer").
template <class Get>
Setter IntField(Get get, int min, int max, std::string expected) {
  return [get, min, max, expected](const YAML::Node& n, const std::string& key,
                                   Config& c) -> Result<void> {
    int v = 0;
    if (!n.IsScalar() || !YAML::convert<int>::decode(n, v) || v < min || v > max) {
      return KeyError(key, "expected " + expected);
    }
    get(c) = v;
    return {};
  };
}

std::string NotEmpty(const std::string& s) { return s.empty() ? "must not be empty" : ""; }

std::string CheckServerUrl(const std::string& s) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (s.starts_with(scheme) && s.size() > scheme.size()) return "";
  }
  return "must be an http:// or https:// URL, got \"" + s + "\"";
}

}  // namespace

std::string CheckDomain(const std::string& s) {
  if (s.empty() || s.size() > 253 || s.front() == '.' || s.back() == '.') {
    return "\"" + s + "\" is not a domain name";
  }
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.';
    if (!ok) return "\"" + s + "\" is not a domain name";
  }
  return "";
}

namespace {

std::string CheckNameserver(const std::string& s) {
  boost::system::error_code ec;
  ip::make_address(s, ec);
  if (!ec || s.starts_with("https://")) return "";
  return "\"" + s + "\" is neither an IP address nor a DNS-over-HTTPS URL";
}

std::string CheckPolicyMode(const std::string& s) {
  return s == "file" || s == "database" ? "" : "unknown mode \"" + s + "\" (file, database)";
}

std::string CheckLogLevel(const std::string& s) {
  for (std::string_view l : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    if (s == l) return "";
  }
  return "unknown level \"" + s + "\" (trace, debug, info, warn, error, critical, off)";
}

// A prefix setter: `parse` is make_network_v4 or _v6; the prefix must lie inside `range`.
template <class Net, class Get>
Setter PrefixField(Get get, Net (*parse)(boost::asio::string_view, boost::system::error_code&),
                   const char* range, const char* family) {
  return [=](const YAML::Node& n, const std::string& key, Config& c) -> Result<void> {
    auto s = AsString(n, key);
    if (!s) return s.error();
    boost::system::error_code ec;
    Net net = parse(*s, ec);
    if (ec) return KeyError(key, "\"" + *s + "\" is not an " + family + " prefix");
    net = net.canonical();
    const Net allowed = parse(range, ec);
    if (net != allowed && !net.is_subnet_of(allowed)) {
      return KeyError(key, *s + " is outside " + range);
    }
    get(c) = net;
    return {};
  };
}

// A host:port setter (ParseListenAddress).
template <class Get>
Setter ListenField(Get get) {
  return [get](const YAML::Node& n, const std::string& key, Config& c) -> Result<void> {
    auto s = AsString(n, key);
    if (!s) return s.error();
    auto addr = ParseListenAddress(*s);
    if (!addr) return KeyError(key, addr.error().message);
    get(c) = *addr;
    return {};
  };
}

// A duration setter that stores whole seconds, refusing less than `min`.
template <class Get>
Setter SecondsField(Get get, std::chrono::seconds min) {
  return [get, min](const YAML::Node& n, const std::string& key, Config& c) -> Result<void> {
    auto s = AsString(n, key);
    if (!s) return s.error();
    auto d = ParseDuration(*s);
    if (!d) return KeyError(key, d.error().message);
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(*d);
    if (secs < min) return KeyError(key, "must be at least " + std::to_string(min.count()) + "s");
    get(c) = secs;
    return {};
  };
}

// node.ephemeral.inactivity_timeout, or its older name; the newer one wins, in any order.
Result<void> SetEphemeralTimeout(const YAML::Node& n, const std::string& key, Config& c) {
  bool node_key = key.starts_with("node.");
  if (!node_key && c.ephemeral_timeout_from_node_key) return {};
  c.ephemeral_timeout_from_node_key = node_key;
  static const Setter set = SecondsField(
      [](Config& c) -> auto& { return c.ephemeral_node_inactivity_timeout; }, std::chrono::seconds(1));
  return set(n, key, c);
}

// dns.nameservers.split: {domain: [resolver, ...]}.
Result<void> SetSplitNameservers(const YAML::Node& n, const std::string& key, Config& c) {
  if (!n.IsMap()) return KeyError(key, "expected a mapping of domain: [nameservers]");
  std::map<std::string, std::vector<std::string>> split;
  for (const auto& entry : n) {
    std::string domain = entry.first.Scalar();
    if (std::string why = CheckDomain(domain); !why.empty()) return KeyError(key, why);
    auto list = AsStringList(entry.second, key + "." + domain);
    if (!list) return list.error();
    for (const auto& ns : *list) {
      if (std::string why = CheckNameserver(ns); !why.empty()) return KeyError(key + "." + domain, why);
    }
    split[domain] = std::move(*list);
  }
  c.dns.nameservers_split = std::move(split);
  return {};
}

// dns.extra_records: [{name, type, value}].
Result<void> SetExtraRecords(const YAML::Node& n, const std::string& key, Config& c) {
  if (!n.IsSequence()) return KeyError(key, "expected a list of {name, type, value}");
  std::vector<DnsRecord> records;
  for (const auto& item : n) {
    if (!item.IsMap()) return KeyError(key, "expected a list of {name, type, value}");
    auto field = [&](const char* f) { return item[f] && item[f].IsScalar() ? item[f].Scalar() : ""; };
    DnsRecord r{field("name"), field("type"), field("value")};
    if (std::string why = CheckDnsRecord(r); !why.empty()) return KeyError(key, why);
    records.push_back(std::move(r));
  }
  c.dns.extra_records = std::move(records);
  return {};
}

// A host:port setter where "" turns the listener off.
template <class Get>
Setter OptionalListenField(Get get) {
  return [get](const YAML::Node& n, const std::string& key, Config& c) -> Result<void> {
    auto s = AsString(n, key);
    if (!s) return s.error();
    if (s->empty()) {
      get(c).reset();
      return {};
    }
    auto addr = ParseListenAddress(*s);
    if (!addr) return KeyError(key, addr.error().message);
    get(c) = *addr;
    return {};
  };
}

}  // namespace

std::string CheckIPv4(const std::string& s) {
  boost::system::error_code ec;
  auto a = ip::make_address(s, ec);
  if (ec || !a.is_v4() || a.is_unspecified()) return "\"" + s + "\" is not a usable IPv4 address";
  return "";
}

namespace {

std::string CheckIPv6OrNone(const std::string& s) {
  if (s == "none") return "";
  boost::system::error_code ec;
  auto a = ip::make_address(s, ec);
  if (ec || !a.is_v6() || a.is_unspecified()) {
    return "\"" + s + "\" is neither an IPv6 address nor \"none\"";
  }
  return "";
}

std::string CheckHostname(const std::string& s) {
  boost::system::error_code ec;
  ip::make_address(s, ec);
  return ec ? CheckDomain(s) : "";
}

std::string CheckMeshUrl(const std::string& s) {
  if (!s.starts_with("https://") || s.size() <= 8) {
    return "\"" + s + "\" is not an https:// URL of a keel DERP relay";
  }
  return "";
}

// unix_socket_permission: an octal file mode such as "0770".
Result<void> SetSocketPermission(const YAML::Node& n, const std::string& key, Config& c) {
  auto s = AsString(n, key);
  if (!s) return s.error();
  unsigned mode = 0;
  bool ok = !s->empty() && s->size() <= 4;
  for (char ch : *s) {
    ok = ok && ch >= '0' && ch <= '7';
    mode = mode * 8 + static_cast<unsigned>(ch - '0');
  }
  if (!ok) return KeyError(key, "expected an octal file mode such as \"0770\"");
  c.unix_socket_permission = mode;
  return {};
}

// oidc.extra_params: {name: value}.
Result<void> SetExtraParams(const YAML::Node& n, const std::string& key, Config& c) {
  if (!n.IsMap()) return KeyError(key, "expected a mapping of parameter: value");
  std::map<std::string, std::string> params;
  for (const auto& entry : n) {
    if (!entry.first.IsScalar() || !entry.second.IsScalar()) {
      return KeyError(key, "expected a mapping of parameter: value");
    }
    params[entry.first.Scalar()] = entry.second.Scalar();
  }
  c.oidc.extra_params = std::move(params);
  return {};
}

// oidc.policy_groups: {provider group: group:x, or [group:x, group:y]}.
Result<void> SetPolicyGroups(const YAML::Node& n, const std::string& key, Config& c) {
  if (!n.IsMap()) return KeyError(key, "expected a mapping of provider group: policy group(s)");
  std::map<std::string, std::vector<std::string>> groups;
  for (const auto& entry : n) {
    if (!entry.first.IsScalar()) return KeyError(key, "provider group names must be strings");
    std::string name = entry.first.Scalar();
    std::vector<std::string> targets;
    if (entry.second.IsScalar()) {
      targets.push_back(entry.second.Scalar());
    } else {
      auto list = AsStringList(entry.second, key + "." + name);
      if (!list) return list.error();
      targets = std::move(*list);
    }
    for (const auto& t : targets) {
      if (!t.starts_with("group:") || t.size() == 6) {
        return KeyError(key + "." + name, "\"" + t + "\" is not a policy group (group:<name>)");
      }
    }
    groups[name] = std::move(targets);
  }
  c.oidc.policy_groups = std::move(groups);
  return {};
}

}  // namespace

const std::map<std::string, Setter>& Fields() {
  static const auto* fields = new std::map<std::string, Setter>{
      {"server_url", StringField([](Config& c) -> auto& { return c.server_url; }, CheckServerUrl)},
      {"listen_addr", ListenField([](Config& c) -> auto& { return c.listen_addr; })},
      {"metrics_listen_addr",
       OptionalListenField([](Config& c) -> auto& { return c.metrics_listen_addr; })},
      {"unix_socket", StringField([](Config& c) -> auto& { return c.unix_socket; }, NotEmpty)},
      {"private_key_path",
       StringField([](Config& c) -> auto& { return c.private_key_path; }, NotEmpty)},
      {"noise.private_key_path",
       StringField([](Config& c) -> auto& { return c.noise.private_key_path; }, NotEmpty)},
      {"prefixes.v4",
       PrefixField<ip::network_v4>([](Config& c) -> auto& { return c.prefixes.v4; },
                                   &ip::make_network_v4, "100.64.0.0/10", "IPv4")},
      {"prefixes.v6",
       PrefixField<ip::network_v6>([](Config& c) -> auto& { return c.prefixes.v6; },
                                   &ip::make_network_v6, "fd7a:115c:a1e0::/48", "IPv6")},
      {"prefixes.allocation",
       StringField([](Config& c) -> auto& { return c.prefixes.allocation; })},
      {"database.type", StringField([](Config& c) -> auto& { return c.database.type; })},
      {"database.sqlite.path",
       StringField([](Config& c) -> auto& { return c.database.sqlite.path; }, NotEmpty)},
      {"dns.magic_dns", BoolField([](Config& c) -> auto& { return c.dns.magic_dns; })},
      {"dns.base_domain", StringField([](Config& c) -> auto& { return c.dns.base_domain; })},
      {"dns.nameservers.global",
       ListField([](Config& c) -> auto& { return c.dns.nameservers_global; }, CheckNameserver)},
      {"dns.search_domains",
       ListField([](Config& c) -> auto& { return c.dns.search_domains; }, CheckDomain)},
      {"dns.override_local_dns",
       BoolField([](Config& c) -> auto& { return c.dns.override_local_dns; })},
      {"dns.nameservers.split", SetSplitNameservers},
      {"dns.extra_records", SetExtraRecords},
      {"dns.extra_records_path",
       StringField([](Config& c) -> auto& { return c.dns.extra_records_path; })},
      {"derp.paths", ListField([](Config& c) -> auto& { return c.derp.paths; }, NotEmpty)},
      {"derp.urls", ListField([](Config& c) -> auto& { return c.derp.urls; })},
      {"derp.server.enabled",
       BoolField([](Config& c) -> auto& { return c.derp.server.enabled; })},
      {"derp.server.region_id",
       IntField([](Config& c) -> auto& { return c.derp.server.region_id; }, 1,
                std::numeric_limits<int>::max(), "a positive integer")},
      {"derp.server.region_code",
       StringField([](Config& c) -> auto& { return c.derp.server.region_code; }, NotEmpty)},
      {"derp.server.region_name",
       StringField([](Config& c) -> auto& { return c.derp.server.region_name; }, NotEmpty)},
      {"derp.server.private_key_path",
       StringField([](Config& c) -> auto& { return c.derp.server.private_key_path; }, NotEmpty)},
      {"derp.server.listen_addr",
       ListenField([](Config& c) -> auto& { return c.derp.server.listen_addr; })},
      {"derp.server.stun_listen_addr",
       OptionalListenField([](Config& c) -> auto& { return c.derp.server.stun_listen_addr; })},
      {"derp.server.ipv4", StringField([](Config& c) -> auto& { return c.derp.server.ipv4; },
                                       CheckIPv4)},
      {"derp.server.ipv6", StringField([](Config& c) -> auto& { return c.derp.server.ipv6; },
                                       CheckIPv6OrNone)},
      {"derp.server.hostname",
       StringField([](Config& c) -> auto& { return c.derp.server.hostname; }, CheckHostname)},
      {"derp.server.tls_cert_path",
       StringField([](Config& c) -> auto& { return c.derp.server.tls_cert_path; })},
      {"derp.server.tls_key_path",
       StringField([](Config& c) -> auto& { return c.derp.server.tls_key_path; })},
      {"derp.server.verify_clients",
       BoolField([](Config& c) -> auto& { return c.derp.server.verify_clients; })},
      {"derp.server.mesh_key",
       StringField([](Config& c) -> auto& { return c.derp.server.mesh_key; },
                   [](const std::string& s) { return s.empty() ? "" : MeshKeyProblem(s); })},
      {"derp.server.mesh_key_path",
       StringField([](Config& c) -> auto& { return c.derp.server.mesh_key_path; })},
      {"derp.server.threads",
       IntField([](Config& c) -> auto& { return c.derp.server.threads; }, 0, 256,
                "a number of threads from 0 (one per core) to 256")},
      {"derp.server.mesh_with",
       ListField([](Config& c) -> auto& { return c.derp.server.mesh_with; }, CheckMeshUrl)},
      {"derp.server.automatically_add_embedded_derp_region",
       BoolField([](Config& c) -> auto& {
         return c.derp.server.automatically_add_embedded_derp_region;
       })},
      {"derp.server.drop_other_regions",
       BoolField([](Config& c) -> auto& { return c.derp.server.drop_other_regions; })},
      {"log.level", StringField([](Config& c) -> auto& { return c.log.level; }, CheckLogLevel)},
      {"log.format",
       StringField([](Config& c) -> auto& { return c.log.format; },
                   [](const std::string& s) -> std::string {
                     return s == "text" || s == "json" ? "" : "expected text or json";
                   })},
      {"unix_socket_permission", SetSocketPermission},
      {"tls_cert_path", StringField([](Config& c) -> auto& { return c.tls_cert_path; })},
      {"tls_key_path", StringField([](Config& c) -> auto& { return c.tls_key_path; })},
      {"policy.mode",
       StringField([](Config& c) -> auto& { return c.policy.mode; }, CheckPolicyMode)},
      {"policy.path", StringField([](Config& c) -> auto& { return c.policy.path; })},
      {"ephemeral_node_inactivity_timeout", SetEphemeralTimeout},
      {"node.ephemeral.inactivity_timeout", SetEphemeralTimeout},
      {"node.expiry",
       SecondsField([](Config& c) -> auto& { return c.node_expiry; }, std::chrono::seconds(0))},
      {"node.routes.ha.probe_interval",
       SecondsField([](Config& c) -> auto& { return c.ha_probe_interval; }, std::chrono::seconds(0))},
      {"node.routes.ha.probe_timeout",
       SecondsField([](Config& c) -> auto& { return c.ha_probe_timeout; }, std::chrono::seconds(1))},
      {"capability_floor",
       IntField([](Config& c) -> auto& { return c.capability_floor; }, kLowestServedCapVer,
                std::numeric_limits<int>::max(), "a capability version of at least 88 (Tailscale v1.62)")},
      {"cli.address", StringField([](Config& c) -> auto& { return c.cli.address; })},
      {"cli.api_key", StringField([](Config& c) -> auto& { return c.cli.api_key; })},
      {"cli.timeout",
       SecondsField([](Config& c) -> auto& { return c.cli.timeout; }, std::chrono::seconds(1))},
      {"cli.insecure", BoolField([](Config& c) -> auto& { return c.cli.insecure; })},
      {"oidc.only_start_if_oidc_is_available",
       BoolField([](Config& c) -> auto& { return c.oidc.only_start_if_oidc_is_available; })},
      {"oidc.issuer", StringField([](Config& c) -> auto& { return c.oidc.issuer; },
                                  [](const std::string& s) -> std::string {
                                    return s.empty() || s.starts_with("https://") ||
                                                   s.starts_with("http://")
                                               ? ""
                                               : "expected the provider's https:// URL";
                                  })},
      {"oidc.client_id", StringField([](Config& c) -> auto& { return c.oidc.client_id; })},
      {"oidc.client_secret", StringField([](Config& c) -> auto& { return c.oidc.client_secret; })},
      {"oidc.client_secret_path",
       StringField([](Config& c) -> auto& { return c.oidc.client_secret_path; })},
      {"oidc.scope", ListField([](Config& c) -> auto& { return c.oidc.scope; }, NotEmpty)},
      {"oidc.extra_params", SetExtraParams},
      {"oidc.allowed_domains",
       ListField([](Config& c) -> auto& { return c.oidc.allowed_domains; }, NotEmpty)},
      {"oidc.allowed_users",
       ListField([](Config& c) -> auto& { return c.oidc.allowed_users; }, NotEmpty)},
      {"oidc.allowed_groups",
       ListField([](Config& c) -> auto& { return c.oidc.allowed_groups; }, NotEmpty)},
      {"oidc.email_verified_required",
       BoolField([](Config& c) -> auto& { return c.oidc.email_verified_required; })},
      {"oidc.use_expiry_from_token",
       BoolField([](Config& c) -> auto& { return c.oidc.use_expiry_from_token; })},
      {"oidc.pkce.enabled", BoolField([](Config& c) -> auto& { return c.oidc.pkce_enabled; })},
      {"oidc.pkce.method", StringField([](Config& c) -> auto& { return c.oidc.pkce_method; },
                                       [](const std::string& s) -> std::string {
                                         return s == "S256" || s == "plain" ? ""
                                                                            : "expected S256 or plain";
                                       })},
      {"oidc.policy_groups", SetPolicyGroups},
      {"tuning.register_cache_expiration",
       SecondsField([](Config& c) -> auto& { return c.auth_request_timeout; },
                    std::chrono::seconds(1))},
      {"tuning.presession_timeout",
       SecondsField([](Config& c) -> auto& { return c.presession_timeout; }, std::chrono::seconds(1))},
      {"tuning.slow_reader_timeout",
       SecondsField([](Config& c) -> auto& { return c.slow_reader_timeout; }, std::chrono::seconds(1))},
      {"tuning.machine_request_rate",
       IntField([](Config& c) -> auto& { return c.machine_request_rate; }, 1, 100000,
                "a positive number of requests a second")},
      {"tuning.machine_request_burst",
       IntField([](Config& c) -> auto& { return c.machine_request_burst; }, 1, 100000,
                "a positive number of requests")},
  };
  return *fields;
}

}  // namespace keel::config
