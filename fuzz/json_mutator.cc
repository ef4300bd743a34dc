#include "json_mutator.h"

#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "policy/hujson.h"

// libFuzzer's byte mutator, available to custom mutators.
extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace keel::fuzz {
namespace {

using nlohmann::json;
using Rng = std::minstd_rand;

// Strings keel's parsers give meaning to: key prefixes, policy aliases, addresses and ranges,
// plus the shapes that break naive code (empty, huge, non-ASCII, NUL, separators).
constexpr std::string_view kInterestingStrings[] = {
    "", "*", "*:*", "nodekey:", "mkey:", "discokey:", "privkey:",
    "nodekey:0000000000000000000000000000000000000000000000000000000000000000",
    "nodekey:4aa5e6a38b1e4df0f0a4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0",
    "mkey:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "discokey:1111111111111111111111111111111111111111111111111111111111111111",
    "tag:x", "tag:", "tag:server", "tag:exit", "tag:router", "group:admins", "group:",
    "autogroup:member", "autogroup:self", "autogroup:tagged", "autogroup:internet",
    "autogroup:nonroot", "autogroup:admin", "autogroup:danger-all", "user:*@example.com",
    "localpart:*@example.com", "odin@example.com", "thor@example.org", "freya@", "@", "odin",
    "100.64.0.1", "100.64.0.0/10", "0.0.0.0/0", "::/0", "10.33.0.0/16", "192.168.1.0/24",
    "fd7a:115c:a1e0::1", "fd7a:115c:a1e0::/48", "::ffff:1.2.3.4", "1.2.3.4/33", "1.2.3.999",
    "[::1]:41641", "1.2.3.4:41641", "100.64.0.1:22", "*:22", "*:0-65535", "*:65535-1",
    "host:80,443", "tcp", "udp", "icmp", "6", "-1", "300", "accept", "check", "deny",
    "root", "zstd", "1h", "0s", "-5m", "9999999h", "2006-01-02T15:04:05Z", "0001-01-01T00:00:00Z",
    "true", "null", "0", "18446744073709551616", "1e999", "\xc3\xa9t\xc3\xa9", "\xf0\x9f\x98\x80",
    "\xe2\x80\xae", std::string_view("a\0b", 3), "../..", "%2F", "a b", "A", "-", ".", ",", ":", "/", "\\",
};

json RandomScalar(Rng& rng, std::span<const std::string_view> keys) {
  switch (rng() % 10) {
    case 0: return nullptr;
    case 1: return rng() % 2 == 0;
    case 2: {
      constexpr int64_t kInts[] = {0, 1, -1, 2, 255, 256, 65535, 65536, 1 << 30, INT32_MAX,
                                   INT32_MIN, INT64_MAX, INT64_MIN, 9007199254740993};
      return kInts[rng() % std::size(kInts)];
    }
    case 3: return UINT64_MAX - rng() % 3;
    case 4: {
      constexpr double kDoubles[] = {0.5, -0.0, 1e300, -1e300, 1e-300, 3.0, 106.0};
      return kDoubles[rng() % std::size(kDoubles)];
    }
    case 5: return json::array();
    case 6: return json::object();
    case 7:
      if (!keys.empty()) return std::string(keys[rng() % keys.size()]);
      [[fallthrough]];
    default: return std::string(kInterestingStrings[rng() % std::size(kInterestingStrings)]);
  }
}

// Every value in the tree, parents before children.
void Collect(json& j, std::vector<json*>& out) {
  out.push_back(&j);
  if (j.is_structured()) {
    for (auto& child : j) Collect(child, out);
  }
}

std::string RandomKey(Rng& rng, std::span<const std::string_view> keys) {
  if (!keys.empty() && rng() % 4 != 0) return std::string(keys[rng() % keys.size()]);
  return std::string(kInterestingStrings[rng() % std::size(kInterestingStrings)]);
}

void MutateString(std::string& s, Rng& rng) {
  switch (rng() % 5) {
    case 0: s.clear(); break;
    case 1: if (!s.empty()) s.resize(rng() % s.size()); break;
    case 2: s += kInterestingStrings[rng() % std::size(kInterestingStrings)]; break;
    case 3: s.insert(0, kInterestingStrings[rng() % std::size(kInterestingStrings)]); break;
    default: s.append(1 + rng() % 64, static_cast<char>("a0:/.*@\xff"[rng() % 8]));
  }
}

// One change at `node` (a value inside `root`).
void MutateNode(json& root, json& node, const std::vector<json*>& all, Rng& rng,
                std::span<const std::string_view> keys) {
  switch (rng() % 9) {
    case 0:  // a value of any type
      node = RandomScalar(rng, keys);
      break;
    case 1:  // change the string in place, keep the type
      if (node.is_string()) {
        MutateString(node.get_ref<std::string&>(), rng);
      } else {
        node = RandomScalar(rng, keys);
      }
      break;
    case 2:  // add a member or element
      if (node.is_object()) {
        node[RandomKey(rng, keys)] = RandomScalar(rng, keys);
      } else if (node.is_array()) {
        node.push_back(RandomScalar(rng, keys));
      } else {
        node = json::array({node});
      }
      break;
    case 3:  // delete a member or element
      if (node.is_object() && !node.empty()) {
        auto it = node.begin();
        std::advance(it, rng() % node.size());
        node.erase(it);
      } else if (node.is_array() && !node.empty()) {
        node.erase(rng() % node.size());
      }
      break;
    case 4:  // nest: wrap in an array or an object under a known key
      if (rng() % 2 == 0) {
        node = json::array({node});
      } else {
        node = json{{RandomKey(rng, keys), node}};
      }
      break;
    case 5: {  // splice: copy another subtree here (not an ancestor of itself: it is a copy)
      json copy = *all[rng() % all.size()];
      node = std::move(copy);
      break;
    }
    case 6:  // rename a member (a key the target reads, or a near miss of one)
      if (node.is_object() && !node.empty()) {
        auto it = node.begin();
        std::advance(it, rng() % node.size());
        json value = *it;
        std::string key = it.key();
        node.erase(it);
        if (rng() % 2 == 0) {
          key = RandomKey(rng, keys);
        } else {
          MutateString(key, rng);
        }
        node[key] = std::move(value);
      }
      break;
    case 7:  // repeat an array's elements: many rules, many endpoints, many tags
      if (node.is_array() && !node.empty()) {
        json first = node[rng() % node.size()];
        for (size_t i = 0, n = 1 + rng() % 16; i < n; ++i) node.push_back(first);
      }
      break;
    default:  // duplicate the whole document under a new key of the root
      if (root.is_object()) {
        json copy = root;
        root[RandomKey(rng, keys)] = std::move(copy);
      }
  }
}

// Writes `j` as HuJSON now and then: a comment after some line breaks and a trailing comma
// before some closing brackets, which keel's reader must strip.
std::string WriteHuJson(const json& j, Rng& rng) {
  std::string text = j.dump(rng() % 2 == 0 ? -1 : 1, ' ', false, json::error_handler_t::replace);
  if (rng() % 2 != 0) return text;
  std::string out;
  out.reserve(text.size() + 64);
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) out += text[++i];
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    if ((c == '}' || c == ']') && rng() % 3 == 0 && !out.empty() && out.back() != '[' &&
        out.back() != '{') {
      out += ',';
    }
    out += c;
    if (c == '\n' && rng() % 4 == 0) out += rng() % 2 == 0 ? "// c\n" : "/* c */";
  }
  return out;
}

}  // namespace

std::optional<std::string> MutateJsonText(std::string_view text, const JsonMutatorOptions& options,
                                          uint32_t seed) {
  json root;
  if (options.hujson) {
    auto parsed = policy::ParseHuJson(text);
    if (!parsed) return std::nullopt;
    root = std::move(*parsed);
  } else {
    root = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (root.is_discarded()) return std::nullopt;
  }
  Rng rng(seed);
  for (size_t i = 0, n = 1 + rng() % 3; i < n; ++i) {
    std::vector<json*> all;
    Collect(root, all);
    MutateNode(root, *all[rng() % all.size()], all, rng, options.keys);
  }
  if (options.hujson) return WriteHuJson(root, rng);
  return root.dump(-1, ' ', false, json::error_handler_t::replace);
}

size_t MutateJsonInput(uint8_t* data, size_t size, size_t max_size, unsigned seed,
                       const JsonMutatorOptions& options) {
  Rng rng(seed);
  const size_t header = options.header_size;
  if (size < header || rng() % 4 == 0) return LLVMFuzzerMutate(data, size, max_size);
  if (header > 0 && rng() % 8 == 0) {
    data[rng() % header] ^= static_cast<uint8_t>(1u << (rng() % 8));
    return size;
  }
  std::string_view text(reinterpret_cast<const char*>(data) + header, size - header);
  auto mutated = MutateJsonText(text, options, static_cast<uint32_t>(rng()));
  if (!mutated || header + mutated->size() > max_size) {
    return LLVMFuzzerMutate(data, size, max_size);
  }
  std::memcpy(data + header, mutated->data(), mutated->size());
  return header + mutated->size();
}

}  // namespace keel::fuzz
