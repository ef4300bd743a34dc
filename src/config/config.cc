#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <boost/asio/ip/address.hpp>
#include <functional>
#include <limits>
#include <map>
#include <set>

#include "base/bytes.h"
#include "base/file.h"
#include "config/duration.h"
#include "config/nearest.h"

namespace keel::config {
namespace {

namespace ip = boost::asio::ip;

// Tailscale v1.62, the oldest release the client test matrix runs; older ones are unproven.
constexpr int kLowestServedCapVer = 88;

// Every setter knows the dotted key it serves so its errors can name it.
using Setter = std::function<Result<void>(const YAML::Node&, const std::string&, Config&)>;

Error KeyError(const std::string& key, const std::string& why) {
  return MakeError(Errc::kInvalidArgument, key + ": " + why);
}

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

std::string CheckIPv4(const std::string& s) {
  boost::system::error_code ec;
  auto a = ip::make_address(s, ec);
  if (ec || !a.is_v4() || a.is_unspecified()) return "\"" + s + "\" is not a usable IPv4 address";
  return "";
}

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
      {"tuning.register_cache_expiration",
       SecondsField([](Config& c) -> auto& { return c.auth_request_timeout; },
                    std::chrono::seconds(1))},
  };
  return *fields;
}

// True when `key` is a parent of some field ("dns", "dns.nameservers").
bool IsSection(const std::string& key) {
  auto it = Fields().lower_bound(key + ".");
  return it != Fields().end() && it->first.starts_with(key + ".");
}

// The known key nearest to a misspelt one, when it is near enough to be what was meant.
std::string Suggestion(const std::string& key) {
  std::vector<std::string_view> known;
  for (const auto& [name, setter] : Fields()) known.push_back(name);
  return std::string(Nearest(key, known));
}

Result<void> Walk(const YAML::Node& map, const std::string& prefix, Config& c) {
  std::set<std::string> seen;
  for (const auto& entry : map) {
    if (!entry.first.IsScalar()) return KeyError(prefix + "?", "keys must be strings");
    const std::string key = prefix + entry.first.Scalar();
    // YAML leaves a repeated key to the reader; keel takes neither value.
    if (!seen.insert(key).second) return KeyError(key, "appears twice; keep one");
    const YAML::Node& value = entry.second;
    auto field = Fields().find(key);
    if (field != Fields().end()) {
      // "key:" with no value keeps the default, as Headscale's sample configs expect.
      if (!value.IsNull()) KEEL_TRY(field->second(value, key, c));
    } else if (IsSection(key)) {
      if (value.IsNull()) continue;
      if (!value.IsMap()) return KeyError(key, "expected a mapping");
      KEEL_TRY(Walk(value, key + ".", c));
    } else {
      std::string near = Suggestion(key);
      return MakeError(Errc::kInvalidArgument, "unknown config key \"" + key + "\"" +
                                                   (near.empty() ? "" : "; did you mean \"" + near + "\"?"));
    }
  }
  return {};
}

// Headscale's bounds: probing at most every 2 s, a timeout that ends before the next probe.
Result<void> ValidateHaProbe(const Config& c) {
  if (c.ha_probe_interval.count() == 0) return {};
  if (c.ha_probe_interval < std::chrono::seconds(2)) {
    return KeyError("node.routes.ha.probe_interval", "must be 0 (off) or at least 2s");
  }
  if (c.ha_probe_timeout >= c.ha_probe_interval) {
    return KeyError("node.routes.ha.probe_timeout", "must be less than node.routes.ha.probe_interval");
  }
  return {};
}

Result<void> ValidateDerpServer(const Config& c) {
  const DerpServerConfig& d = c.derp.server;
  if (d.drop_other_regions && (!d.enabled || !d.automatically_add_embedded_derp_region)) {
    return KeyError("derp.server.drop_other_regions",
                    "needs derp.server.enabled and automatically_add_embedded_derp_region, or "
                    "the DERP map would be empty");
  }
  if (!d.enabled) return {};
  for (const std::string* other : {&c.private_key_path, &c.noise.private_key_path}) {
    if (d.private_key_path == *other) {
      return KeyError("derp.server.private_key_path",
                      "must differ from private_key_path and noise.private_key_path");
    }
  }
  if (d.ipv4.empty()) {
    if (std::string why = CheckIPv4(d.listen_addr.host); !why.empty()) {
      return KeyError("derp.server.ipv4", "must be set when derp.server.listen_addr (" +
                                               d.listen_addr.host +
                                               ") is not a specific IPv4 address");
    }
  }
  if (d.tls_cert_path.empty() != d.tls_key_path.empty()) {
    return KeyError("derp.server.tls_cert_path",
                    "set both tls_cert_path and tls_key_path, or neither");
  }
  if (!d.mesh_key.empty() && !d.mesh_key_path.empty()) {
    return KeyError("derp.server.mesh_key_path", "set mesh_key or mesh_key_path, not both");
  }
  if (!d.mesh_with.empty() && d.mesh_key.empty() && d.mesh_key_path.empty()) {
    return KeyError("derp.server.mesh_with", "needs derp.server.mesh_key or mesh_key_path");
  }
  return {};
}

// Checks that involve more than one key or values only valid in combination.
Result<void> Validate(Config& c) {
  if (c.database.type == "postgres" || c.database.type == "postgresql") {
    return KeyError("database.type", "postgres is not supported yet; use sqlite");
  }
  if (c.database.type != "sqlite" && c.database.type != "sqlite3") {
    return KeyError("database.type", "unknown database \"" + c.database.type + "\"");
  }
  c.database.type = "sqlite";
  if (c.prefixes.allocation != "sequential") {
    return KeyError("prefixes.allocation",
                    "only \"sequential\" is supported, got \"" + c.prefixes.allocation + "\"");
  }
  if (c.dns.magic_dns) {
    if (std::string why = CheckDomain(c.dns.base_domain); !why.empty()) {
      return KeyError("dns.base_domain", why);
    }
  }
  if (c.noise.private_key_path == c.private_key_path) {
    return KeyError("noise.private_key_path", "must differ from private_key_path");
  }
  KEEL_TRY(ValidateDerpServer(c));
  KEEL_TRY(ValidateHaProbe(c));
  if (!c.derp.urls.empty()) {
    c.warnings.push_back("derp.urls is ignored: keel does not fetch DERP maps over the network;"
                         " use derp.paths");
  }
  while (c.server_url.size() > 8 && c.server_url.back() == '/') c.server_url.pop_back();
  return {};
}

}  // namespace

Result<ListenAddress> ParseListenAddress(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return MakeError(Errc::kInvalidArgument,
                     "invalid listen address \"" + std::string(text) + "\": " + why);
  };
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return bad("expected host:port");
  std::string host(text.substr(0, colon));
  std::string_view port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return bad("IPv6 hosts must be in brackets, e.g. [::1]:8080");
  }
  if (host.empty()) host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code ec;
  ip::make_address(host, ec);
  if (ec) return bad("host must be an IP address");
  if (port_text.empty() || port_text.size() > 5) return bad("bad port");
  unsigned port = 0;
  for (char ch : port_text) {
    if (ch < '0' || ch > '9') return bad("bad port");
    port = port * 10 + (ch - '0');
  }
  if (port > 65535) return bad("port out of range");
  return ListenAddress{host, static_cast<uint16_t>(port)};
}

Result<Config> ParseConfig(std::string_view yaml_text) {
  Config c;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return MakeError(Errc::kInvalidArgument, std::string("invalid YAML: ") + e.what());
  }
  if (root.IsNull()) return c;
  if (!root.IsMap()) return MakeError(Errc::kInvalidArgument, "config must be a YAML mapping");
  KEEL_TRY(Walk(root, "", c));
  KEEL_TRY(Validate(c));
  return c;
}

Result<Config> LoadConfig(const std::string& path) {
  if (path.empty()) return Config{};
  auto text = ReadFileText(path);
  if (!text) return MakeError(text.error().code, "config file: " + text.error().message);
  auto c = ParseConfig(*text);
  if (!c) return MakeError(c.error().code, path + ": " + c.error().message);
  return c;
}

std::string MeshKeyProblem(std::string_view key) {
  auto raw = HexDecode(key);
  return raw && raw->size() == 32 ? "" : "must be 64 hex digits (32 bytes)";
}

}  // namespace keel::config
