// The ssh section.
#include <algorithm>
#include <map>
#include <set>

#include "policy/policy_internal.h"

namespace keel::policy::detail {
namespace {

// Go-style duration ("90s", "1h30m", "12h"); nullopt when malformed.
std::optional<int64_t> ParseDuration(const std::string& s) {
  if (s.empty()) return std::nullopt;
  size_t i = 0;
  bool neg = false;
  if (s[0] == '-' || s[0] == '+') {
    neg = s[0] == '-';
    ++i;
  }
  double total = 0;
  if (s.substr(i) == "0") return 0;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && (std::isdigit(s[j]) || s[j] == '.')) ++j;
    if (j == i) return std::nullopt;
    double v = std::stod(s.substr(i, j - i));
    size_t k = j;
    while (k < s.size() && !std::isdigit(s[k]) && s[k] != '.') ++k;
    std::string unit = s.substr(j, k - j);
    static const std::map<std::string, double> kUnits = {
        {"ns", 1e-9}, {"us", 1e-6}, {"µs", 1e-6}, {"ms", 1e-3}, {"s", 1}, {"m", 60}, {"h", 3600}};
    auto it = kUnits.find(unit);
    if (it == kUnits.end()) return std::nullopt;
    total += v * it->second;
    i = k;
  }
  return static_cast<int64_t>(neg ? -total : total);
}

}  // namespace

Result<void> ParseSsh(Policy& p, const json& doc, const Ctx& ctx, const Parser& ps) {
  if (!doc.contains("ssh")) return {};
  p.has_ssh = true;
  for (const auto& e : doc["ssh"]) {
    KEEL_TRY(CheckKeys(ctx, e, {"action", "src", "dst", "users", "checkPeriod", "acceptEnv"}, "ssh"));
    SshRule r;
    std::string action = e.contains("action") && e["action"].is_string() ? Trim(e["action"].get<std::string>()) : "";
    if (action.empty()) return ctx.Fail("action", "ssh action must be specified");
    if (action != "accept" && action != "check") return ctx.Fail(action, "is not a valid ssh action");
    r.check = action == "check";
    auto srcs = ps.Aliases(e.value("src", json::array()), "src");
    if (!srcs) return srcs.error();
    r.srcs = *srcs;
    for (const auto& s : r.srcs) {
      if (s.kind == Alias::Kind::kStar || s.kind == Alias::Kind::kHost || s.kind == Alias::Kind::kPrefix ||
          (s.kind == Alias::Kind::kAutogroup && !s.Is("autogroup:member") && !s.Is("autogroup:tagged"))) {
        return ctx.Fail(s.name, "alias not supported as an ssh source");
      }
    }
    auto dsts = ps.Aliases(e.value("dst", json::array()), "dst");
    if (!dsts) return dsts.error();
    r.dsts = *dsts;
    for (const auto& d : r.dsts) {
      if (d.kind == Alias::Kind::kStar) return ctx.Fail("dst", "wildcard (*) is not supported as SSH destination");
      if (d.kind == Alias::Kind::kHost || d.kind == Alias::Kind::kPrefix || d.kind == Alias::Kind::kGroup ||
          (d.kind == Alias::Kind::kAutogroup && !d.Is("autogroup:self") && !d.Is("autogroup:member") &&
           !d.Is("autogroup:tagged"))) {
        return ctx.Fail(d.name, "invalid ssh dst");
      }
    }
    if (!e.contains("users") || !e["users"].is_array() || e["users"].empty()) {
      return ctx.Fail("users", "ssh users must be specified");
    }
    auto users = Strings(ctx, e["users"], "users");
    if (!users) return users.error();
    for (auto& u : *users) u = Trim(u);
    for (const auto& u : *users) {
      if (u.empty() || u == "*") return ctx.Fail("users", "ssh user \"" + u + "\" is not valid");
      if (u.starts_with("localpart:")) {
        std::string rest = u.substr(10);
        if (std::count(rest.begin(), rest.end(), '*') > 1) {
          return ctx.Fail(u, "invalid localpart format, must be localpart:*@<domain>");
        }
      }
    }
    r.users = *users;
    if (e.contains("checkPeriod") && !e["checkPeriod"].is_null()) {
      std::string cp = e["checkPeriod"].is_string() ? e["checkPeriod"].get<std::string>() : "";
      if (!r.check) return ctx.Fail("checkPeriod", "checkPeriod is only valid with action \"check\"");
      if (cp == "always") {
        r.check_period_s = 0;
      } else {
        auto d = ParseDuration(cp);
        if (!d) return ctx.Fail("checkPeriod", "invalid duration \"" + cp + "\"");
        if (*d < 0) return ctx.Fail("checkPeriod", "must be a positive duration");
        if (*d > 168 * 3600) return ctx.Fail("checkPeriod", "is above the max (168h)");
        r.check_period_s = *d;
      }
    }
    if (e.contains("acceptEnv") && !e["acceptEnv"].is_null()) {
      auto env = Strings(ctx, e["acceptEnv"], "acceptEnv");
      if (!env) return env.error();
      for (const auto& v : *env) {
        if (v.empty()) return ctx.Fail("acceptEnv", "acceptEnv values cannot be empty");
      }
      r.accept_env = *env;
      r.has_accept_env = true;
    }
    p.ssh.push_back(std::move(r));
  }
  return {};
}

}  // namespace keel::policy::detail
