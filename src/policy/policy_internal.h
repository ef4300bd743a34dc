#pragma once
// Internals of ParsePolicy shared by its per-section files (policy.cc, parse_common.cc,
// parse_rules.cc, parse_ssh.cc, parse_extras.cc). Single-threaded: one parse at a time per
// Policy being built.

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "policy/hujson.h"
#include "policy/policy.h"

namespace keel::policy::detail {

using nlohmann::json;

// Collects the first error with the line of the offending text.
class Ctx {
 public:
  explicit Ctx(std::string_view text) : text_(text) {}
  Error Fail(std::string_view key, const std::string& what) const {
    std::string msg = "policy";
    int line = LineOf(text_, "\"" + std::string(key) + "\"");
    if (line > 0) msg += ": line " + std::to_string(line);
    msg += ": " + std::string(key) + ": " + what;
    return MakeError(Errc::kInvalidArgument, msg);
  }

 private:
  std::string_view text_;
};

Result<std::vector<std::string>> Strings(const Ctx& ctx, const json& v, std::string_view key);
std::string Trim(const std::string& s);
Result<int> ProtoNumber(const Ctx& ctx, const std::string& name);
Result<void> CheckKeys(const Ctx& ctx, const json& obj, std::initializer_list<const char*> keys,
                       std::string_view where);

// Resolves alias, port and destination syntax against the sections parsed so far.
class Parser {
 public:
  Parser(Policy& p, const Ctx& ctx) : p_(p), ctx_(ctx) {}
  Result<Alias> ParseAlias(const std::string& raw) const;
  Result<std::vector<Alias>> Aliases(const json& v, std::string_view key) const;
  Result<std::vector<PortRange>> Ports(const std::string& spec, std::string_view key) const;
  Result<DstSpec> ParseDst(const std::string& s) const;

 private:
  Policy& p_;
  const Ctx& ctx_;
};

// One function per policy section; each appends to the Policy or names the offending key.
Result<void> ParseGroups(Policy& p, const json& doc, const Ctx& ctx);
Result<void> ParseHostsAndTags(Policy& p, const json& doc, const Ctx& ctx);
Result<void> ParseAcls(Policy& p, const json& doc, const Ctx& ctx, const Parser& ps);
Result<void> ParseGrants(Policy& p, const json& doc, const Ctx& ctx, const Parser& ps);
Result<void> ParseSsh(Policy& p, const json& doc, const Ctx& ctx, const Parser& ps);
Result<void> ParseApprovers(Policy& p, const json& doc, const Ctx& ctx, const Parser& ps);
Result<void> ParseNodeAttrs(Policy& p, const json& doc, const Ctx& ctx, const Parser& ps);
Result<void> ParseTests(Policy& p, const json& doc, const Ctx& ctx, const Parser& ps);

}  // namespace keel::policy::detail
