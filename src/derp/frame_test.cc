#include "derp/frame.h"

#include <gtest/gtest.h>

#include "crypto/naclbox.h"
#include "crypto/x25519.h"

namespace keel::derp {
namespace {

crypto::Key32 KeyOf(uint8_t b) {
  crypto::Key32 k;
  k.fill(b);
  return k;
}

TEST(FrameTest, ServerKeyLayout) {
  Bytes f = EncodeServerKey(KeyOf(7));
  ASSERT_EQ(f.size(), 5u + 40u);
  EXPECT_EQ(f[0], 0x01);
  EXPECT_EQ(DecodeHeader(f).length, 40u);
  EXPECT_EQ(HexEncode(std::span<const uint8_t>(f).subspan(5, 8)), "44455250f09f9491");
  EXPECT_EQ(f[13], 7);
}

TEST(FrameTest, RecvPacketCarriesSourceKey) {
  Bytes pkt = {1, 2, 3};
  Bytes f = EncodeRecvPacket(KeyOf(9), pkt);
  EXPECT_EQ(f[0], 0x05);
  EXPECT_EQ(DecodeHeader(f).length, 35u);
  EXPECT_EQ(f[5], 9);
  EXPECT_EQ(f[37], 1);
  EXPECT_EQ(f.back(), 3);
}

TEST(FrameTest, PeerPresentIs51Bytes) {
  std::array<uint8_t, 16> ip{};
  Bytes f = EncodePeerPresent(KeyOf(1), ip, 0x1234, 0x01);
  EXPECT_EQ(DecodeHeader(f).length, 51u);
  EXPECT_EQ(f[5 + 48], 0x12);
  EXPECT_EQ(f[5 + 49], 0x34);
  EXPECT_EQ(f.back(), 0x01);
}

TEST(FrameTest, SmallFrames) {
  EXPECT_EQ(EncodeKeepAlive(), (Bytes{0x06, 0, 0, 0, 0}));
  Bytes gone = EncodePeerGone(KeyOf(2), PeerGoneReason::kNotHere);
  EXPECT_EQ(DecodeHeader(gone).length, 33u);
  EXPECT_EQ(gone.back(), 0x01);
  std::array<uint8_t, 8> ping{1, 2, 3, 4, 5, 6, 7, 8};
  Bytes pong = EncodePong(ping);
  EXPECT_EQ(pong[0], 0x13);
  EXPECT_EQ(pong.size(), 13u);
  EXPECT_EQ(EncodeHealth("bad").size(), 8u);
  EXPECT_EQ(EncodeRestarting(1, 2), (Bytes{0x15, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 2}));
}

TEST(FrameTest, DecodeHeaderBigEndian) {
  Bytes h = {0x04, 0x01, 0x02, 0x03, 0x04};
  EXPECT_EQ(DecodeHeader(h).type, 0x04);
  EXPECT_EQ(DecodeHeader(h).length, 0x01020304u);
}

TEST(FrameTest, SendPacketLimits) {
  EXPECT_FALSE(ParseSendPacket(Bytes(31)));
  auto empty = ParseSendPacket(Bytes(32));
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->packet.empty());
  EXPECT_TRUE(ParseSendPacket(Bytes(32 + kMaxPacketSize)));
  EXPECT_FALSE(ParseSendPacket(Bytes(32 + kMaxPacketSize + 1)));
  Bytes p(40, 0);
  p[0] = 5;
  p[32] = 6;
  auto f = ParseSendPacket(p);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->dst[0], 5);
  EXPECT_EQ(f->packet.size(), 8u);
  EXPECT_EQ(f->packet[0], 6);
}

TEST(FrameTest, ForwardPacketLimits) {
  EXPECT_FALSE(ParseForwardPacket(Bytes(63)));
  EXPECT_TRUE(ParseForwardPacket(Bytes(64)));
  EXPECT_FALSE(ParseForwardPacket(Bytes(64 + kMaxPacketSize + 1)));
}

TEST(FrameTest, ExactSizes) {
  EXPECT_TRUE(ParseNotePreferred(Bytes{1}));
  EXPECT_TRUE(*ParseNotePreferred(Bytes{1}));
  EXPECT_FALSE(*ParseNotePreferred(Bytes{0}));
  EXPECT_FALSE(ParseNotePreferred(Bytes{}));
  EXPECT_FALSE(ParseNotePreferred(Bytes{1, 1}));
  EXPECT_TRUE(ParseWatchConns(Bytes{}));
  EXPECT_FALSE(ParseWatchConns(Bytes{0}));
  EXPECT_TRUE(ParseClosePeer(Bytes(32)));
  EXPECT_FALSE(ParseClosePeer(Bytes(33)));
  EXPECT_FALSE(ParsePing(Bytes(7)));
  EXPECT_TRUE(ParsePing(Bytes(8)));
  EXPECT_TRUE(ParsePing(Bytes(1000)));
  EXPECT_FALSE(ParsePing(Bytes(1001)));
  EXPECT_FALSE(ParseClientInfo(Bytes(71)));
  EXPECT_TRUE(ParseClientInfo(Bytes(72)));
  EXPECT_FALSE(ParseClientInfo(Bytes(kMaxClientInfoSize + 1)));
}

TEST(FrameTest, DiscoDetection) {
  Bytes p(62, 0);
  std::copy(kDiscoMagic.begin(), kDiscoMagic.end(), p.begin());
  EXPECT_TRUE(IsDiscoPacket(p));
  p.pop_back();
  EXPECT_FALSE(IsDiscoPacket(p));
  EXPECT_FALSE(IsDiscoPacket(Bytes(100, 0)));
}

TEST(FrameTest, ClientInfoJson) {
  auto info = ParseClientInfoJson(R"({"version":2,"CanAckPings":true,"MESHKEY":"ab","x":1})");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->version, 2);
  EXPECT_TRUE(info->can_ack_pings);
  EXPECT_EQ(info->mesh_key, "ab");
  EXPECT_FALSE(ParseClientInfoJson("not json"));
  EXPECT_FALSE(ParseClientInfoJson("[1]"));
  EXPECT_TRUE(ParseClientInfoJson("{}"));
}

TEST(FrameTest, OpenClientInfo) {
  crypto::PrivateKey server(KeyOf(1)), client(KeyOf(2));
  crypto::Key32 server_pub = crypto::PublicFromPrivate(server);
  crypto::Key32 client_pub = crypto::PublicFromPrivate(client);
  auto payload = [&](std::string_view json) {
    Bytes p(client_pub.begin(), client_pub.end());
    Bytes sealed = crypto::BoxSeal(AsBytes(json), client, server_pub).value();
    p.insert(p.end(), sealed.begin(), sealed.end());
    return p;
  };
  auto opened = OpenClientInfo(payload(R"({"version":2,"meshKey":"ab"})"), server);
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened->client_public, client_pub);
  EXPECT_EQ(opened->json.version, 2);
  EXPECT_EQ(opened->json.mesh_key, "ab");

  auto fails = [&](std::span<const uint8_t> p, std::string_view why) {
    auto r = OpenClientInfo(p, server);
    ASSERT_FALSE(r) << why;
    EXPECT_EQ(r.error().code, Errc::kInvalidArgument) << why;
  };
  fails(Bytes(71), "too short");
  Bytes good = payload("{}");
  Bytes tampered = good;
  tampered.back() ^= 1;
  fails(tampered, "bad tag");
  Bytes other_key = good;
  other_key[0] ^= 1;
  fails(other_key, "sealed by another key");
  fails(payload("[1]"), "not an object");
  EXPECT_FALSE(OpenClientInfo(good, client)) << "wrong server key";
}

}  // namespace
}  // namespace keel::derp
