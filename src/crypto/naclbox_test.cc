#include "crypto/naclbox.h"

#include <gtest/gtest.h>

#include "crypto/test_helpers.h"
#include "crypto/x25519.h"

namespace keel::crypto {
namespace {

using testing::Hex;
using testing::HexKey;

struct Ts2019 {
  nlohmann::json v = testing::LoadNoiseVectors("ts2019_naclbox_vectors.json");
  PrivateKey server{HexKey(v["legacy_server_private"].get<std::string>())};
  Key32 server_pub = HexKey(v["legacy_server_public"].get<std::string>());
  PrivateKey machine{HexKey(v["machine_private"].get<std::string>())};
  Key32 machine_pub = HexKey(v["machine_public"].get<std::string>());
};

BoxNonce Nonce(const nlohmann::json& c) {
  Bytes n = Hex(c["nonce"].get<std::string>());
  BoxNonce out;
  std::copy(n.begin(), n.end(), out.begin());
  return out;
}

TEST(NaclBox, VectorKeys) {
  Ts2019 t;
  EXPECT_EQ(PublicFromPrivate(t.server), t.server_pub);
  EXPECT_EQ(PublicFromPrivate(t.machine), t.machine_pub);
}

TEST(NaclBox, Vectors) {
  Ts2019 t;
  // One shared key serves both directions.
  auto server_side = BoxKey::Precompute(t.server, t.machine_pub).value();
  auto client_side = BoxKey::Precompute(t.machine, t.server_pub).value();
  for (const auto& c : t.v["cases"]) {
    SCOPED_TRACE(c["note"].get<std::string>());
    Bytes plain = Hex(c["plaintext"].get<std::string>());
    Bytes body = Hex(c["body"].get<std::string>());
    if (c["note"].get<std::string>().find("little-endian length") != std::string::npos) {
      ASSERT_GE(body.size(), 4u);
      uint32_t n = body[0] | body[1] << 8 | body[2] << 16 | uint32_t{body[3]} << 24;
      body.erase(body.begin(), body.begin() + 4);
      EXPECT_EQ(n, body.size());
    }
    bool c2s = c["direction"].get<std::string>() == "c2s";
    const BoxKey& sealer = c2s ? client_side : server_side;
    const BoxKey& opener = c2s ? server_side : client_side;
    EXPECT_EQ(sealer.SealWithNonce(plain, Nonce(c)), body);
    auto opened = opener.Open(body);
    ASSERT_TRUE(opened);
    EXPECT_EQ(*opened, plain);
    // One-shot forms agree.
    auto once = c2s ? BoxOpen(body, t.server, t.machine_pub) : BoxOpen(body, t.machine, t.server_pub);
    ASSERT_TRUE(once);
    EXPECT_EQ(*once, plain);
  }
}

TEST(NaclBox, RandomNonceRoundTrip) {
  Ts2019 t;
  Bytes msg = {1, 2, 3};
  Bytes a = BoxSeal(msg, t.machine, t.server_pub).value();
  Bytes b = BoxSeal(msg, t.machine, t.server_pub).value();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.size(), msg.size() + kBoxOverhead);
  EXPECT_EQ(BoxOpen(a, t.server, t.machine_pub).value(), msg);
}

TEST(NaclBox, RejectsBadBodies) {
  Ts2019 t;
  const auto& c = t.v["cases"][0];
  Bytes body = Hex(c["body"].get<std::string>());
  auto key = BoxKey::Precompute(t.server, t.machine_pub).value();
  for (size_t i : {size_t{0}, size_t{30}, body.size() - 1}) {  // nonce, tag, ciphertext
    Bytes bad = body;
    bad[i] ^= 0x80;
    EXPECT_FALSE(key.Open(bad));
  }
  EXPECT_FALSE(key.Open(std::span(body).first(kBoxOverhead - 1)));
  // The wrong key pair (a different machine) cannot open it.
  EXPECT_FALSE(BoxOpen(body, t.server, PublicFromPrivate(GeneratePrivateKey())));
  EXPECT_FALSE(BoxKey::Precompute(t.server, Key32{}));
}

}  // namespace
}  // namespace keel::crypto
