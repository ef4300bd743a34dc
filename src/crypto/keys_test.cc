#include "crypto/keys.h"

#include <gtest/gtest.h>

#include <unordered_set>

#include "crypto/test_helpers.h"
#include "crypto/x25519.h"

namespace keel::crypto {
namespace {

using testing::HexKey;
using testing::LoadNoiseVectors;

TEST(KeyText, PublishedPair) {
  auto v = LoadNoiseVectors("key_text_vectors.json")["tailscale_published_pair"];
  Key32 priv_raw = HexKey(v["private_raw"].get<std::string>());
  Key32 pub_raw = HexKey(v["public_raw"].get<std::string>());
  PrivateKey priv(priv_raw);
  EXPECT_EQ(priv.ToText(), v["machine_private_text"].get<std::string>());
  EXPECT_EQ(PublicFromPrivate(priv), pub_raw);
  EXPECT_EQ(MachinePublic(pub_raw).ToText(), v["machine_public_text"].get<std::string>());
  EXPECT_EQ(NodePublic(pub_raw).ToText(), v["node_public_text"].get<std::string>());
  EXPECT_EQ(DiscoPublic(pub_raw).ToText(), v["disco_public_text"].get<std::string>());

  auto parsed = PrivateKey::Parse(v["machine_private_text"].get<std::string>());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, priv);
  auto node = NodePublic::Parse(v["node_public_text"].get<std::string>());
  ASSERT_TRUE(node);
  EXPECT_EQ(node->raw(), pub_raw);
}

template <class K>
void CheckRoundTrip(const nlohmann::json& entry) {
  auto text = entry["text"].get<std::string>();
  auto raw = HexKey(entry["raw"].get<std::string>());
  auto parsed = K::Parse(text);
  ASSERT_TRUE(parsed) << text;
  EXPECT_EQ(parsed->raw(), raw);
  EXPECT_EQ(parsed->ToText(), text);
  EXPECT_EQ(parsed->ToHex(), entry["raw"].get<std::string>());
  EXPECT_EQ(parsed->IsZero(), raw == Key32{});
}

TEST(KeyText, DerivedVectors) {
  // Named: a range-for over a member of a temporary would outlive the temporary.
  const nlohmann::json vectors = LoadNoiseVectors("key_text_vectors.json");
  for (const auto& e : vectors["derived"]) {
    auto text = e["text"].get<std::string>();
    SCOPED_TRACE(text);
    if (text.starts_with("mkey:")) {
      CheckRoundTrip<MachinePublic>(e);
      if (e.contains("legacy_url_form")) {
        auto k = MachinePublic::ParseHex(e["legacy_url_form"].get<std::string>());
        ASSERT_TRUE(k);
        EXPECT_EQ(k->ToHex(), e["legacy_url_form"].get<std::string>());
      }
    } else if (text.starts_with("nodekey:")) {
      CheckRoundTrip<NodePublic>(e);
    } else if (text.starts_with("discokey:")) {
      CheckRoundTrip<DiscoPublic>(e);
    } else if (text.starts_with("chalpub:")) {
      CheckRoundTrip<ChallengePublic>(e);
    } else {
      ADD_FAILURE() << "unknown prefix";
    }
  }
}

TEST(KeyText, ZeroKeyKeepsPrefix) {
  EXPECT_EQ(NodePublic().ToText(), "nodekey:" + std::string(64, '0'));
  EXPECT_TRUE(NodePublic().IsZero());
}

TEST(KeyText, AcceptsUpperCaseHexEmitsLower) {
  std::string hex = "22456A430EC20D6AA3DB50CF7140F9E9112C57CC7974DD6E13B3A3F837C30914";
  auto k = MachinePublic::Parse("mkey:" + hex);
  ASSERT_TRUE(k);
  EXPECT_EQ(k->ToText(), "mkey:22456a430ec20d6aa3db50cf7140f9e9112c57cc7974dd6e13b3a3f837c30914");
}

TEST(KeyText, RejectsMalformed) {
  std::string hex(64, 'a');
  EXPECT_FALSE(MachinePublic::Parse(""));
  EXPECT_FALSE(MachinePublic::Parse("mkey:"));
  EXPECT_FALSE(MachinePublic::Parse(hex));                  // no prefix
  EXPECT_FALSE(MachinePublic::Parse("nodekey:" + hex));     // another kind's prefix
  EXPECT_FALSE(MachinePublic::Parse("MKEY:" + hex));        // prefixes are case-sensitive
  EXPECT_FALSE(MachinePublic::Parse(" mkey:" + hex));
  EXPECT_FALSE(MachinePublic::Parse("mkey:" + hex + "a"));  // odd / too long
  EXPECT_FALSE(MachinePublic::Parse("mkey:" + hex + "aa"));
  EXPECT_FALSE(MachinePublic::Parse("mkey:" + hex.substr(2)));
  EXPECT_FALSE(MachinePublic::Parse("mkey:" + hex.substr(1) + "g"));
  EXPECT_FALSE(MachinePublic::Parse("mkey:" + hex + "\n"));
  EXPECT_FALSE(NodePublic::Parse("mkey:" + hex));
  EXPECT_FALSE(DiscoPublic::Parse("disco:" + hex));
  EXPECT_FALSE(ChallengePublic::Parse("chalpub" + hex));
  EXPECT_FALSE(PrivateKey::Parse("privkey:" + hex.substr(4)));
  EXPECT_FALSE(MachinePublic::ParseHex(""));
  EXPECT_FALSE(MachinePublic::ParseHex("mkey:" + hex));
}

TEST(KeyText, OrderingAndHash) {
  MachinePublic a(HexKey(std::string(64, '1'))), b(HexKey(std::string(64, '2')));
  EXPECT_LT(a, b);
  std::unordered_set<MachinePublic, KeyHash> set{a, b, a};
  EXPECT_EQ(set.size(), 2u);
}

}  // namespace
}  // namespace keel::crypto
