#include "policy/hujson.h"

namespace keel::policy {
namespace {

// Blanks comments and drops commas that close an object or array; every other byte,
// including newlines, stays where it was.
std::string Normalize(std::string_view in) {
  std::string out(in);
  size_t last_comma = std::string::npos;
  bool in_string = false;
  for (size_t i = 0; i < out.size(); ++i) {
    char c = out[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '/' && i + 1 < out.size() && out[i + 1] == '/') {
      while (i < out.size() && out[i] != '\n') out[i++] = ' ';
      continue;
    }
    if (c == '/' && i + 1 < out.size() && out[i + 1] == '*') {
      size_t end = out.find("*/", i + 2);
      size_t stop = end == std::string::npos ? out.size() : end + 2;
      for (; i < stop; ++i) {
        if (out[i] != '\n') out[i] = ' ';
      }
      --i;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    if ((c == ']' || c == '}') && last_comma != std::string::npos) out[last_comma] = ' ';
    last_comma = c == ',' ? i : std::string::npos;
    if (c == '"') in_string = true;
  }
  return out;
}

}  // namespace

int LineOf(std::string_view text, std::string_view needle) {
  size_t pos = text.find(needle);
  if (pos == std::string_view::npos) return 0;
  int line = 1;
  for (size_t i = 0; i < pos; ++i) line += text[i] == '\n';
  return line;
}

Result<nlohmann::json> ParseHuJson(std::string_view text) {
  std::string norm = Normalize(text);
  try {
    nlohmann::json doc = nlohmann::json::parse(norm);
    return Result<nlohmann::json>(boost::system::in_place_value, std::move(doc));
  } catch (const nlohmann::json::parse_error& e) {
    size_t pos = std::min<size_t>(e.byte == 0 ? 0 : e.byte - 1, norm.size());
    int line = 1, col = 1;
    for (size_t i = 0; i < pos; ++i) {
      if (norm[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    return MakeError(Errc::kInvalidArgument, "policy: line " + std::to_string(line) + ", column " +
                                                 std::to_string(col) + ": malformed HuJSON");
  } catch (const nlohmann::json::exception& e) {
    // Well-formed but unrepresentable, such as a number beyond a double (1e999).
    return MakeError(Errc::kInvalidArgument, std::string("policy: ") + e.what());
  }
}

}  // namespace keel::policy
