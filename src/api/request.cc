#include "api/request.h"

#include <charconv>

namespace keel::api {

using nlohmann::json;

Error BadRequest(std::string message) {
  return MakeError(Errc::kInvalidArgument, std::move(message));
}

Result<json> ParseBody(const std::string& body) {
  json j = json::parse(body.empty() ? std::string("{}") : body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return BadRequest("request body must be a JSON object");
  }
  // json converts to almost anything, so the implicit conversion to Result is ambiguous.
  return Result<json>(boost::system::in_place_value, std::move(j));
}

template <class T>
Result<T> Field(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return T{};
  bool ok = false;
  if constexpr (std::is_same_v<T, std::string>) {
    ok = it->is_string();
  } else if constexpr (std::is_same_v<T, bool>) {
    ok = it->is_boolean();
  } else {
    ok = it->is_array();
    for (const auto& item : *it) ok = ok && item.is_string();
  }
  if (!ok) return BadRequest(std::string("field \"") + key + "\" has the wrong type");
  return it->get<T>();
}

template Result<std::string> Field<std::string>(const json&, const char*);
template Result<bool> Field<bool>(const json&, const char*);
template Result<std::vector<std::string>> Field<std::vector<std::string>>(const json&,
                                                                          const char*);

Result<uint64_t> IdField(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return uint64_t{0};
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_string()) {
    const std::string text = it->get<std::string>();
    if (text.empty()) return uint64_t{0};
    return ParseId(text, key);
  }
  return BadRequest(std::string("field \"") + key + "\" must be an id");
}

std::string PathDecode(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    unsigned value = 0;
    if (in[i] == '%' && i + 2 < in.size() &&
        std::from_chars(in.data() + i + 1, in.data() + i + 3, value, 16).ptr ==
            in.data() + i + 3) {
      out.push_back(static_cast<char>(value));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

Result<uint64_t> ParseId(std::string_view text, std::string_view what) {
  uint64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return BadRequest("invalid " + std::string(what) + " id \"" + std::string(text) + "\"");
  }
  return id;
}

bool QueryFlag(const std::optional<std::string>& value) {
  return value && (*value == "true" || *value == "1");
}

}  // namespace keel::api
