#pragma once
// Test-only helpers shared by the crypto and noise tests: hex literals and the vector files.

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "crypto/keys.h"
#include "testing/testdata.h"

namespace keel::crypto::testing {

inline Bytes Hex(std::string_view hex) {
  auto b = HexDecode(hex);
  if (!b) throw std::invalid_argument("bad hex in test: " + std::string(hex));
  return *b;
}

inline Key32 HexKey(std::string_view hex) {
  Bytes b = Hex(hex);
  if (b.size() != 32) throw std::invalid_argument("test key is not 32 bytes");
  Key32 k;
  std::copy(b.begin(), b.end(), k.begin());
  return k;
}

// Loads testdata/noise/<name>.
inline nlohmann::json LoadNoiseVectors(std::string_view name) {
  return ::keel::testing::ReadTestJson("noise/" + std::string(name));
}

}  // namespace keel::crypto::testing
