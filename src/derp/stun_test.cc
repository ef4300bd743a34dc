#include "derp/stun.h"

#include <gtest/gtest.h>

namespace keel::derp {
namespace {

namespace asio = boost::asio;

StunTxId TxVector() {
  StunTxId tx;
  for (size_t i = 0; i < tx.size(); ++i) tx[i] = static_cast<uint8_t>(i + 1);
  return tx;
}

constexpr const char* kRequestHex =
    "000100142112a4420102030405060708090a0b0c802200087461696c6e6f646580280004b32c370f";

TEST(StunTest, BuildsTailscaleRequest) {
  EXPECT_EQ(HexEncode(BuildStunBindingRequest(TxVector())), kRequestHex);
}

TEST(StunTest, ParsesTailscaleRequest) {
  auto tx = ParseStunBindingRequest(*HexDecode(kRequestHex));
  ASSERT_TRUE(tx);
  EXPECT_EQ(*tx, TxVector());
}

TEST(StunTest, ResponseVectors) {
  asio::ip::udp::endpoint v4(asio::ip::make_address("127.0.0.1"), 40000);
  EXPECT_EQ(HexEncode(BuildStunBindingResponse(TxVector(), v4)),
            "0101000c2112a4420102030405060708090a0b0c002000080001bd525e12a443");
  asio::ip::udp::endpoint v6(asio::ip::make_address("::1"), 40000);
  EXPECT_EQ(HexEncode(BuildStunBindingResponse(TxVector(), v6)),
            "010100182112a4420102030405060708090a0b0c002000140002bd522112a4420102030405060708090a"
            "0b0d");
  // IPv4-mapped sources on a dual-stack socket are reported as IPv4.
  asio::ip::udp::endpoint mapped(asio::ip::make_address("::ffff:127.0.0.1"), 40000);
  EXPECT_EQ(BuildStunBindingResponse(TxVector(), mapped), BuildStunBindingResponse(TxVector(), v4));
}

TEST(StunTest, RejectsJunk) {
  Bytes good = *HexDecode(kRequestHex);
  EXPECT_FALSE(ParseStunBindingRequest(Bytes{}));
  EXPECT_FALSE(ParseStunBindingRequest(std::span<const uint8_t>(good).first(19)));
  EXPECT_FALSE(ParseStunBindingRequest(std::span<const uint8_t>(good).first(36)));
  auto mutate = [&](size_t i, uint8_t x) {
    Bytes b = good;
    b[i] ^= x;
    return ParseStunBindingRequest(b).has_value();
  };
  EXPECT_FALSE(mutate(0, 0xC0));  // top bits set
  EXPECT_FALSE(mutate(1, 0x10));  // not a binding request
  EXPECT_FALSE(mutate(4, 0x01));  // cookie
  EXPECT_FALSE(mutate(9, 0x01));  // txid changes -> fingerprint fails
  EXPECT_FALSE(mutate(24, 0x01)); // software text
  EXPECT_FALSE(mutate(39, 0x01)); // fingerprint value
  EXPECT_FALSE(mutate(3, 0x04));  // length mismatch
  Bytes trailing = good;
  trailing.insert(trailing.end(), {0x80, 0x22, 0x00, 0x00});  // attribute after FINGERPRINT
  trailing[3] += 4;
  EXPECT_FALSE(ParseStunBindingRequest(trailing));
  Bytes garbage(200, 0xAB);
  EXPECT_FALSE(ParseStunBindingRequest(garbage));
}

}  // namespace
}  // namespace keel::derp
