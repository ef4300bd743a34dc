#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <boost/asio/ip/address.hpp>
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <set>

#include "base/bytes.h"
#include "base/file.h"
#include "config/fields.h"
#include "config/headscale_keys.h"
#include "config/nearest.h"

namespace keel::config {
namespace {

// True when `key` is a parent of some key keel knows ("dns", "dns.nameservers", or "derp.server.stun"
// of Headscale's derp.server.stun.enabled).
bool IsSection(const std::string& key) {
  auto it = Fields().lower_bound(key + ".");
  if (it != Fields().end() && it->first.starts_with(key + ".")) return true;
  for (std::string_view name : ForeignKeyNames()) {
    if (name.starts_with(key + ".")) return true;
  }
  return false;
}

// The known key nearest to a misspelt one, when it is near enough to be what was meant.
std::string Suggestion(const std::string& key) {
  std::vector<std::string_view> known = ForeignKeyNames();
  for (const auto& [name, setter] : Fields()) known.push_back(name);
  return std::string(Nearest(key, known));
}

// A value that asks for nothing: null, "", [], {} or false, or the value keel already acts on.
bool AsksNothing(const YAML::Node& value, std::string_view quiet_value) {
  if (value.IsNull() || ((value.IsSequence() || value.IsMap()) && value.size() == 0)) return true;
  if (!value.IsScalar()) return false;
  const std::string& text = value.Scalar();
  return text.empty() || text == (quiet_value.empty() ? "false" : quiet_value);
}

// A key of Headscale's that keel does not act on: one warning naming it, unless its value asks
// for nothing; an error for the keys Headscale removed.
Result<void> Foreign(const std::string& key, const YAML::Node& value, const ForeignKey& entry,
                     Config& c) {
  if (entry.removed) return KeyError(key, std::string(entry.why));
  if (value.IsMap() && key == entry.key) {
    // A whole section (oidc:): each key in it is judged on its own.
    for (const auto& child : value) {
      if (!child.first.IsScalar()) return KeyError(key + ".?", "keys must be strings");
      std::string child_key = key + "." + child.first.Scalar();
      KEEL_TRY(Foreign(child_key, child.second, *FindForeignKey(child_key), c));
    }
    return {};
  }
  if (!AsksNothing(value, entry.quiet_value)) {
    c.warnings.push_back(key + " has no effect: " + std::string(entry.why));
  }
  return {};
}

Result<void> Walk(const YAML::Node& map, const std::string& prefix, Config& c);

// Applies `value` to dotted `key`, from the file or the environment.
Result<void> Apply(const std::string& key, const YAML::Node& value, Config& c) {
  if (auto field = Fields().find(key); field != Fields().end()) {
    // "key:" with no value keeps the default, as Headscale's sample configs expect.
    return value.IsNull() ? Result<void>() : field->second(value, key, c);
  }
  if (auto entry = FindForeignKey(key)) return Foreign(key, value, *entry, c);
  if (IsSection(key)) {
    if (value.IsNull()) return {};
    if (!value.IsMap()) return KeyError(key, "expected a mapping");
    return Walk(value, key + ".", c);
  }
  std::string near = Suggestion(key);
  return MakeError(Errc::kInvalidArgument,
                   "unknown config key \"" + key + "\"" +
                       (near.empty() ? "" : "; did you mean \"" + near + "\"?"));
}

Result<void> Walk(const YAML::Node& map, const std::string& prefix, Config& c) {
  std::set<std::string> seen;
  for (const auto& entry : map) {
    if (!entry.first.IsScalar()) return KeyError(prefix + "?", "keys must be strings");
    const std::string key = prefix + entry.first.Scalar();
    // YAML leaves a repeated key to the reader; keel takes neither value.
    if (!seen.insert(key).second) return KeyError(key, "appears twice; keep one");
    KEEL_TRY(Apply(key, entry.second, c));
  }
  return {};
}

// "dns.base_domain" -> "KEEL_DNS_BASE_DOMAIN".
std::string EnvName(std::string_view key) {
  std::string name = "KEEL_";
  for (char ch : key) {
    name.push_back(ch == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch))));
  }
  return name;
}

// KEEL_* variables override the file, key by key.
Result<void> ApplyEnvironment(const EnvLookup& env, Config& c) {
  std::vector<std::string> keys;
  for (const auto& [name, setter] : Fields()) keys.push_back(name);
  for (std::string_view name : ForeignKeyNames()) keys.emplace_back(name);
  for (const auto& key : keys) {
    const std::string var = EnvName(key);
    std::optional<std::string> text = env(var);
    if (!text) continue;
    YAML::Node value;
    try {
      value = text->empty() ? YAML::Node(std::string()) : YAML::Load(*text);
    } catch (const YAML::Exception& e) {
      return MakeError(Errc::kInvalidArgument, var + ": not a YAML value: " + e.what());
    }
    auto applied = Apply(key, value, c);
    if (!applied) return MakeError(applied.error().code, var + ": " + applied.error().message);
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

Result<void> ValidateOidc(Config& c) {
  OidcConfig& o = c.oidc;
  if (!o.client_secret.empty() && !o.client_secret_path.empty()) {
    return KeyError("oidc.client_secret_path", "set client_secret or client_secret_path, not both");
  }
  if (!o.enabled()) return {};
  if (o.client_id.empty()) return KeyError("oidc.client_id", "is required with oidc.issuer");
  if (o.client_secret.empty() && o.client_secret_path.empty()) {
    return KeyError("oidc.client_secret", "is required with oidc.issuer (or client_secret_path)");
  }
  if (std::find(o.scope.begin(), o.scope.end(), "openid") == o.scope.end()) {
    return KeyError("oidc.scope", "must include openid");
  }
  if (!o.issuer.starts_with("https://")) {
    c.warnings.push_back("oidc.issuer is not https://: tokens and secrets to and from the "
                         "provider travel unencrypted");
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
  if (c.prefixes.allocation == "random") {
    c.warnings.push_back("prefixes.allocation random has no effect: keel hands out addresses in "
                         "sequence");
    c.prefixes.allocation = "sequential";
  }
  if (c.prefixes.allocation != "sequential") {
    return KeyError("prefixes.allocation",
                    "only \"sequential\" is supported, got \"" + c.prefixes.allocation + "\"");
  }
  if (c.dns.magic_dns) {
    if (std::string why = CheckDomain(c.dns.base_domain); !why.empty()) {
      return KeyError("dns.base_domain", why);
    }
  }
  if (c.tls_cert_path.empty() != c.tls_key_path.empty()) {
    return KeyError("tls_cert_path", "set both tls_cert_path and tls_key_path, or neither");
  }
  if (c.noise.private_key_path == c.private_key_path) {
    return KeyError("noise.private_key_path", "must differ from private_key_path");
  }
  KEEL_TRY(ValidateDerpServer(c));
  KEEL_TRY(ValidateHaProbe(c));
  KEEL_TRY(ValidateOidc(c));
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
  boost::asio::ip::make_address(host, ec);
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

std::optional<std::string> ProcessEnv(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  return value ? std::optional<std::string>(value) : std::nullopt;
}

Result<Config> ParseConfig(std::string_view yaml_text, const EnvLookup& env) {
  Config c;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return MakeError(Errc::kInvalidArgument, std::string("invalid YAML: ") + e.what());
  }
  if (!root.IsNull() && !root.IsMap()) {
    return MakeError(Errc::kInvalidArgument, "config must be a YAML mapping");
  }
  if (root.IsMap()) KEEL_TRY(Walk(root, "", c));
  KEEL_TRY(ApplyEnvironment(env, c));
  KEEL_TRY(Validate(c));
  return c;
}

Result<Config> LoadConfig(const std::string& path, const EnvLookup& env) {
  if (path.empty()) return ParseConfig("", env);
  auto text = ReadFileText(path);
  if (!text) return MakeError(text.error().code, "config file: " + text.error().message);
  auto c = ParseConfig(*text, env);
  if (!c) return MakeError(c.error().code, path + ": " + c.error().message);
  return c;
}

std::string MeshKeyProblem(std::string_view key) {
  auto raw = HexDecode(key);
  return raw && raw->size() == 32 ? "" : "must be 64 hex digits (32 bytes)";
}

}  // namespace keel::config
