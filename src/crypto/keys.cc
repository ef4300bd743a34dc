#include "crypto/keys.h"

#include <algorithm>

#include "base/bytes.h"

namespace keel::crypto {

template <class Tag>
bool TypedKey<Tag>::IsZero() const {
  return std::all_of(raw_.begin(), raw_.end(), [](uint8_t b) { return b == 0; });
}

template <class Tag>
std::string TypedKey<Tag>::ToText() const {
  std::string out(Tag::kPrefix);
  out += HexEncode(raw_);
  return out;
}

template <class Tag>
std::string TypedKey<Tag>::ToHex() const {
  return HexEncode(raw_);
}

template <class Tag>
Result<TypedKey<Tag>> TypedKey<Tag>::Parse(std::string_view text) {
  // Prefixes are case-sensitive: Go's key parsers compare them byte for byte.
  if (!text.starts_with(Tag::kPrefix)) {
    return MakeError(Errc::kInvalidArgument,
                     "key must start with \"" + std::string(Tag::kPrefix) + "\"");
  }
  return ParseHex(text.substr(Tag::kPrefix.size()));
}

template <class Tag>
Result<TypedKey<Tag>> TypedKey<Tag>::ParseHex(std::string_view hex) {
  if (hex.size() != 2 * sizeof(Key32)) {
    return MakeError(Errc::kInvalidArgument,
                     "key must be 64 hex digits, got " + std::to_string(hex.size()));
  }
  auto bytes = HexDecode(hex);
  if (!bytes) return MakeError(Errc::kInvalidArgument, "key has a non-hex digit");
  Key32 raw;
  std::copy(bytes->begin(), bytes->end(), raw.begin());
  return TypedKey(raw);
}

template class TypedKey<MachineTag>;
template class TypedKey<NodeTag>;
template class TypedKey<DiscoTag>;
template class TypedKey<ChallengeTag>;
template class TypedKey<PrivateTag>;

}  // namespace keel::crypto
