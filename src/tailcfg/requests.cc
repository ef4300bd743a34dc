#include "tailcfg/requests.h"

#include <limits>
#include <nlohmann/json.hpp>

namespace keel::tailcfg {
namespace {

using nlohmann::json;

// Reads typed fields of one JSON object the way Go's decoder would: absent or null leaves
// the value untouched, a wrong type fails the whole message.
class FieldReader {
 public:
  FieldReader(const json& obj, std::string prefix) : obj_(obj), prefix_(std::move(prefix)) {}

  const json* Find(const char* name) const {
    auto it = obj_.find(name);
    if (it == obj_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  Error Bad(const char* name, std::string_view what) const {
    return MakeError(Errc::kInvalidArgument, prefix_ + "." + name + ": " + std::string(what));
  }

  Result<void> Int(const char* name, int& out) const {
    const json* v = Find(name);
    if (!v) return {};
    if (!v->is_number_integer()) return Bad(name, "expected an integer");
    bool fits = v->is_number_unsigned()
                    ? v->get<uint64_t>() <= uint64_t(std::numeric_limits<int>::max())
                    : v->get<int64_t>() >= std::numeric_limits<int>::min() &&
                          v->get<int64_t>() <= std::numeric_limits<int>::max();
    if (!fits) return Bad(name, "integer out of range");
    int64_t n = v->get<int64_t>();
    out = static_cast<int>(n);
    return {};
  }

  Result<void> Bool(const char* name, bool& out) const {
    const json* v = Find(name);
    if (!v) return {};
    if (!v->is_boolean()) return Bad(name, "expected true or false");
    out = v->get<bool>();
    return {};
  }

  Result<void> String(const char* name, std::string& out) const {
    const json* v = Find(name);
    if (!v) return {};
    if (!v->is_string()) return Bad(name, "expected a string");
    out = v->get<std::string>();
    return {};
  }

  template <class Key>
  Result<void> KeyField(const char* name, Key& out) const {
    const json* v = Find(name);
    if (!v) return {};
    if (!v->is_string()) return Bad(name, "expected a key string");
    auto parsed = Key::Parse(v->get_ref<const std::string&>());
    if (!parsed) return Bad(name, parsed.error().message);
    out = *parsed;
    return {};
  }

  Result<void> Time(const char* name, SystemTime& out) const {
    const json* v = Find(name);
    if (!v) return {};
    if (!v->is_string()) return Bad(name, "expected an RFC 3339 time string");
    auto t = ParseTime(v->get_ref<const std::string&>());
    if (!t) return Bad(name, "not an RFC 3339 time: " + v->get<std::string>());
    out = *t;
    return {};
  }

  Result<void> StringList(const char* name, std::optional<std::vector<std::string>>& out) const {
    const json* v = Find(name);
    if (!v) return {};
    if (!v->is_array()) return Bad(name, "expected a list of strings");
    std::vector<std::string> list;
    for (const auto& item : *v) {
      if (!item.is_string()) return Bad(name, "expected a list of strings");
      list.push_back(item.get<std::string>());
    }
    out = std::move(list);
    return {};
  }

  // `out` is nullptr if absent or null; error if present and not an object.
  Result<void> Object(const char* name, const json*& out) const {
    out = Find(name);
    if (out && !out->is_object()) return Bad(name, "expected an object");
    return {};
  }

  // A reader for the object member `name` (which Object returned).
  FieldReader Nested(const json& obj, const char* name) const { return {obj, prefix_ + "." + name}; }

 private:
  const json& obj_;
  std::string prefix_;
};

Result<json> ParseObject(std::string_view body, const char* type) {
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return MakeError(Errc::kInvalidArgument, std::string(type) + ": malformed JSON");
  if (!doc.is_object()) return MakeError(Errc::kInvalidArgument, std::string(type) + ": expected a JSON object");
  return Result<json>(boost::system::in_place_value, std::move(doc));
}

// Hostinfo is stored opaquely; only the fields keel acts on are read here.
struct HostinfoFields {
  std::optional<std::string> json_text;  // nullopt: absent or null
  std::string hostname;
  std::optional<std::vector<std::string>> request_tags;
  std::optional<int> preferred_derp;
};

Result<void> ReadHostinfo(const FieldReader& request, HostinfoFields& out) {
  const json* hi = nullptr;
  KEEL_TRY(request.Object("Hostinfo", hi));
  if (!hi) return {};
  out.json_text = hi->dump();
  FieldReader r = request.Nested(*hi, "Hostinfo");
  KEEL_TRY(r.String("Hostname", out.hostname));
  KEEL_TRY(r.StringList("RequestTags", out.request_tags));
  const json* net_info = nullptr;
  KEEL_TRY(r.Object("NetInfo", net_info));
  if (net_info && net_info->contains("PreferredDERP")) {
    int derp = 0;
    KEEL_TRY(r.Nested(*net_info, "NetInfo").Int("PreferredDERP", derp));
    out.preferred_derp = derp;
  }
  return {};
}

}  // namespace

Result<RegisterRequest> DecodeRegisterRequest(std::string_view body) {
  auto doc = ParseObject(body, "RegisterRequest");
  if (!doc) return doc.error();
  FieldReader r(*doc, "RegisterRequest");
  RegisterRequest req;
  KEEL_TRY(r.Int("Version", req.version));
  KEEL_TRY(r.KeyField("NodeKey", req.node_key));
  KEEL_TRY(r.KeyField("OldNodeKey", req.old_node_key));
  KEEL_TRY(r.Time("Expiry", req.expiry));
  KEEL_TRY(r.String("Followup", req.followup));
  KEEL_TRY(r.Bool("Ephemeral", req.ephemeral));
  const json* auth = nullptr;
  KEEL_TRY(r.Object("Auth", auth));
  if (auth) {
    std::string key;
    KEEL_TRY(r.Nested(*auth, "Auth").String("AuthKey", key));
    req.auth_key = std::move(key);
  }
  HostinfoFields hi;
  KEEL_TRY(ReadHostinfo(r, hi));
  if (hi.json_text) req.hostinfo_json = std::move(*hi.json_text);
  req.hostname = std::move(hi.hostname);
  if (hi.request_tags) req.request_tags = std::move(*hi.request_tags);
  return req;
}

Result<MapRequest> DecodeMapRequest(std::string_view body) {
  auto doc = ParseObject(body, "MapRequest");
  if (!doc) return doc.error();
  FieldReader r(*doc, "MapRequest");
  MapRequest req;
  KEEL_TRY(r.Int("Version", req.version));
  KEEL_TRY(r.KeyField("NodeKey", req.node_key));
  KEEL_TRY(r.KeyField("DiscoKey", req.disco_key));
  KEEL_TRY(r.StringList("Endpoints", req.endpoints));
  KEEL_TRY(r.Bool("Stream", req.stream));
  KEEL_TRY(r.Bool("OmitPeers", req.omit_peers));
  KEEL_TRY(r.Bool("KeepAlive", req.keep_alive));
  KEEL_TRY(r.Bool("ReadOnly", req.read_only));
  KEEL_TRY(r.String("Compress", req.compress));
  HostinfoFields hi;
  KEEL_TRY(ReadHostinfo(r, hi));
  req.hostinfo_json = std::move(hi.json_text);
  req.preferred_derp = hi.preferred_derp;
  return req;
}

}  // namespace keel::tailcfg
