#pragma once
// Typed 32-byte keys and their text forms (transport.md §1, testdata/noise/key_text_vectors.json).
//
// Each kind of public key is its own type so a NodePublic can never be passed where a
// MachinePublic is meant. Text forms are "<prefix>:<64 lowercase hex>"; parsing is exact about
// the prefix (case-sensitive) and the length, and accepts upper- or lower-case hex.

#include <array>
#include <compare>
#include <cstring>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace keel::crypto {

using Key32 = std::array<uint8_t, 32>;

template <class Tag>
class TypedKey {
 public:
  TypedKey() { raw_.fill(0); }
  explicit TypedKey(const Key32& raw) : raw_(raw) {}

  const Key32& raw() const { return raw_; }
  bool IsZero() const;
  // "<prefix>:<hex>"; the zero key still prints with its prefix.
  std::string ToText() const;
  // Bare 64 hex digits, no prefix (legacy /key body, TS2019 URL path).
  std::string ToHex() const;
  static Result<TypedKey> Parse(std::string_view text);
  static Result<TypedKey> ParseHex(std::string_view hex);

  auto operator<=>(const TypedKey&) const = default;

 private:
  Key32 raw_;
};

struct MachineTag { static constexpr std::string_view kPrefix = "mkey:"; };
struct NodeTag { static constexpr std::string_view kPrefix = "nodekey:"; };
struct DiscoTag { static constexpr std::string_view kPrefix = "discokey:"; };
struct ChallengeTag { static constexpr std::string_view kPrefix = "chalpub:"; };
struct PrivateTag { static constexpr std::string_view kPrefix = "privkey:"; };

using MachinePublic = TypedKey<MachineTag>;
using NodePublic = TypedKey<NodeTag>;
using DiscoPublic = TypedKey<DiscoTag>;
using ChallengePublic = TypedKey<ChallengeTag>;

// An X25519 private key ("privkey:" text form). Never logged.
using PrivateKey = TypedKey<PrivateTag>;

struct KeyHash {
  template <class Tag>
  size_t operator()(const TypedKey<Tag>& k) const {
    size_t h;
    static_assert(sizeof h <= 32);
    std::memcpy(&h, k.raw().data(), sizeof h);
    return h;
  }
};

}  // namespace keel::crypto
