#include "noise/handshake.h"

#include <gtest/gtest.h>

#include "crypto/aead.h"
#include "crypto/test_helpers.h"
#include "crypto/x25519.h"
#include "noise/record.h"
#include "noise/symmetric_state.h"

namespace keel::noise {
namespace {

using crypto::Key32;
using crypto::PrivateKey;
using crypto::testing::Hex;
using crypto::testing::HexKey;

nlohmann::json Ts2021() { return crypto::testing::LoadNoiseVectors("ts2021_vectors.json"); }

Key32 K(const nlohmann::json& v, const char* field) { return HexKey(v[field].get<std::string>()); }
PrivateKey P(const nlohmann::json& v, const char* field) { return PrivateKey(K(v, field)); }

TEST(Handshake, Ts2021VectorsServerSide) {
  const nlohmann::json vectors = Ts2021();  // named: see keys_test.cc
  for (const auto& v : vectors["vectors"]) {
    SCOPED_TRACE(v["prologue_ascii"].get<std::string>());
    Bytes init = Hex(v["initiation_message"].get<std::string>());
    EXPECT_EQ(Base64Encode(init), v["initiation_header_value"].get<std::string>());
    auto hs = RespondToInitiation(init, P(v, "control_static_private"),
                                  P(v, "server_ephemeral_private"));
    ASSERT_TRUE(hs) << hs.error().message;
    EXPECT_EQ(hs->protocol_version, v["protocol_version"].get<int>());
    EXPECT_EQ(hs->peer.raw(), K(v, "machine_static_public"));
    EXPECT_EQ(Bytes(hs->response.begin(), hs->response.end()),
              Hex(v["response_message"].get<std::string>()));
    EXPECT_EQ(hs->handshake_hash, K(v, "handshake_hash"));
    EXPECT_EQ(hs->keys.recv, K(v, "c2s_key"));
    EXPECT_EQ(hs->keys.send, K(v, "s2c_key"));
  }
}

TEST(Handshake, Ts2021VectorsClientSide) {
  const nlohmann::json vectors = Ts2021();  // named: see keys_test.cc
  for (const auto& v : vectors["vectors"]) {
    SCOPED_TRACE(v["prologue_ascii"].get<std::string>());
    ClientHandshake client(P(v, "machine_static_private"),
                           crypto::MachinePublic(K(v, "control_static_public")),
                           static_cast<uint16_t>(v["protocol_version"].get<int>()),
                           P(v, "client_ephemeral_private"));
    EXPECT_EQ(Bytes(client.initiation().begin(), client.initiation().end()),
              Hex(v["initiation_message"].get<std::string>()));
    auto keys = client.ReadResponse(Hex(v["response_message"].get<std::string>()));
    ASSERT_TRUE(keys) << keys.error().message;
    EXPECT_EQ(keys->send, K(v, "c2s_key"));
    EXPECT_EQ(keys->recv, K(v, "s2c_key"));
    EXPECT_EQ(client.handshake_hash(), K(v, "handshake_hash"));
  }
}

// Replays §3.3 on the client side step by step against the vector's h/ck trace.
TEST(Handshake, Ts2021Trace) {
  auto v = Ts2021()["vectors"][0];
  const auto& trace = v["trace"];
  ASSERT_EQ(trace.size(), 12u);
  crypto::X25519Private e(P(v, "client_ephemeral_private")), m(P(v, "machine_static_private"));
  Key32 s_pub = K(v, "control_static_public"), es_pub = K(v, "server_ephemeral_public");
  SymmetricState s("Noise_IK_25519_ChaChaPoly_BLAKE2s");
  size_t step = 0;
  auto check = [&] {
    SCOPED_TRACE(trace[step]["step"].get<std::string>());
    EXPECT_EQ(s.h(), K(trace[step], "h"));
    EXPECT_EQ(s.ck(), K(trace[step], "ck"));
    if (trace[step].contains("k")) {
      EXPECT_EQ(s.k(), K(trace[step], "k"));
    }
    ++step;
  };
  check();
  s.MixHash(Hex(v["prologue"].get<std::string>()));
  check();
  s.MixHash(s_pub);
  check();
  s.MixHash(e.public_key());
  check();
  ASSERT_TRUE(s.MixDh(e.Dh(s_pub)));
  check();
  Bytes enc_s(48);
  s.EncryptAndHash(m.public_key(), enc_s);
  check();
  ASSERT_TRUE(s.MixDh(m.Dh(s_pub)));
  check();
  Bytes tag(16);
  s.EncryptAndHash({}, tag);
  check();
  s.MixHash(es_pub);
  check();
  ASSERT_TRUE(s.MixDh(e.Dh(es_pub)));
  check();
  ASSERT_TRUE(s.MixDh(m.Dh(es_pub)));
  check();
  Bytes response = Hex(v["response_message"].get<std::string>());
  ASSERT_TRUE(s.DecryptAndHash(std::span(response).subspan(35), {}));
  check();
}

// A generic Noise IK with payloads (cacophony): proves the engine is spec-conformant, and that
// Tailscale's big-endian transport nonce differs from the spec from counter 1 on.
TEST(Handshake, CacophonyVector) {
  auto v = crypto::testing::LoadNoiseVectors("cacophony_Noise_IK_25519_ChaChaPoly_BLAKE2s.json")
               ["vectors"][0];
  const auto& msgs = v["messages"];
  crypto::X25519Private is(P(v, "init_static")), ie(P(v, "init_ephemeral")),
      rs(P(v, "resp_static")), re(P(v, "resp_ephemeral"));
  ASSERT_EQ(rs.public_key(), K(v, "init_remote_static"));

  SymmetricState s(v["protocol_name"].get<std::string>());
  s.MixHash(Hex(v["init_prologue"].get<std::string>()));
  s.MixHash(rs.public_key());
  Bytes m0(ie.public_key().begin(), ie.public_key().end());
  s.MixHash(ie.public_key());
  ASSERT_TRUE(s.MixDh(ie.Dh(rs.public_key())));
  Bytes enc_s(48);
  s.EncryptAndHash(is.public_key(), enc_s);
  m0.insert(m0.end(), enc_s.begin(), enc_s.end());
  ASSERT_TRUE(s.MixDh(is.Dh(rs.public_key())));
  Bytes p0 = Hex(msgs[0]["payload"].get<std::string>()), c0(p0.size() + 16);
  s.EncryptAndHash(p0, c0);
  m0.insert(m0.end(), c0.begin(), c0.end());
  EXPECT_EQ(m0, Hex(msgs[0]["ciphertext"].get<std::string>()));

  Bytes m1(re.public_key().begin(), re.public_key().end());
  s.MixHash(re.public_key());
  ASSERT_TRUE(s.MixDh(re.Dh(ie.public_key())));
  ASSERT_TRUE(s.MixDh(re.Dh(is.public_key())));
  Bytes p1 = Hex(msgs[1]["payload"].get<std::string>()), c1(p1.size() + 16);
  s.EncryptAndHash(p1, c1);
  m1.insert(m1.end(), c1.begin(), c1.end());
  EXPECT_EQ(m1, Hex(msgs[1]["ciphertext"].get<std::string>()));
  EXPECT_EQ(s.h(), K(v, "handshake_hash"));

  auto [k1, k2] = s.Split();
  for (size_t i = 2; i < msgs.size(); ++i) {
    const Key32& key = (i % 2 == 0) ? k1 : k2;  // even: initiator to responder
    uint64_t counter = (i - 2) / 2;
    Bytes payload = Hex(msgs[i]["payload"].get<std::string>());
    Bytes expected = Hex(msgs[i]["ciphertext"].get<std::string>());
    EXPECT_EQ(crypto::AeadSeal(key, RecordNonce(counter, NonceOrder::kSpecLittleEndian), {}, payload),
              expected) << "message " << i;
    Bytes big = crypto::AeadSeal(key, RecordNonce(counter), {}, payload);
    if (counter == 0) {
      EXPECT_EQ(big, expected) << "message " << i;
    } else {
      EXPECT_NE(big, expected) << "message " << i;
    }
  }
}

TEST(Handshake, ClientServerRoundTrip) {
  PrivateKey control = crypto::GeneratePrivateKey(), machine = crypto::GeneratePrivateKey();
  crypto::MachinePublic control_pub(crypto::PublicFromPrivate(control));
  ClientHandshake client(machine, control_pub, 145, crypto::GeneratePrivateKey());
  auto server = RespondToInitiation(client.initiation(), control, crypto::GeneratePrivateKey());
  ASSERT_TRUE(server);
  EXPECT_EQ(server->protocol_version, 145);
  EXPECT_EQ(server->peer.raw(), crypto::PublicFromPrivate(machine));
  auto keys = client.ReadResponse(server->response);
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->send, server->keys.recv);
  EXPECT_EQ(keys->recv, server->keys.send);
  EXPECT_NE(keys->send, keys->recv);
  EXPECT_EQ(client.handshake_hash(), server->handshake_hash);
}

struct Fixture {
  nlohmann::json v = Ts2021()["vectors"][0];
  Bytes init = Hex(v["initiation_message"].get<std::string>());
  PrivateKey control = P(v, "control_static_private");
  PrivateKey eph = P(v, "server_ephemeral_private");
  Result<ServerHandshake> Respond(std::span<const uint8_t> msg) {
    return RespondToInitiation(msg, control, eph);
  }
};

TEST(Handshake, RejectsMalformedFramingBeforeCrypto) {
  Fixture f;
  auto expect = [&](std::span<const uint8_t> msg, std::string_view text) {
    auto r = f.Respond(msg);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, text);
    EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
  };
  expect({}, "wrong handshake initiation size");
  expect(std::span(f.init).first(100), "wrong handshake initiation size");
  Bytes longer = f.init;
  longer.push_back(0);
  expect(longer, "wrong handshake initiation size");
  Bytes type = f.init;
  type[2] = 0x02;
  expect(type, "unexpected handshake message type");
  Bytes length = f.init;
  length[4] = 0x5f;
  expect(length, "wrong handshake initiation length");
  // Size is checked before type, type before length.
  Bytes both = f.init;
  both[2] = 0x04;
  both[4] = 0;
  expect(both, "unexpected handshake message type");
}

TEST(Handshake, RejectsBadCrypto) {
  Fixture f;
  ASSERT_TRUE(f.Respond(f.init));
  for (size_t i : {size_t{5}, size_t{40}, size_t{84}, size_t{90}, size_t{100}}) {
    Bytes bad = f.init;
    bad[i] ^= 0x01;
    auto r = f.Respond(bad);
    EXPECT_FALSE(r) << "flipped byte " << i;
  }
  // Another version in the header changes the prologue: AEAD failure, not a framing error.
  Bytes version = f.init;
  version[1] = 0x90;
  auto r = f.Respond(version);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUnauthenticated);
  // Garbage with valid framing, and a low-order ephemeral.
  Bytes garbage(kInitiationSize, 0xa5);
  garbage[0] = 0, garbage[1] = 145, garbage[2] = 1, garbage[3] = 0, garbage[4] = 96;
  EXPECT_FALSE(f.Respond(garbage));
  Bytes zero_e = f.init;
  std::fill(zero_e.begin() + 5, zero_e.begin() + 37, 0);
  EXPECT_FALSE(f.Respond(zero_e));
  // The wrong control key.
  EXPECT_FALSE(RespondToInitiation(f.init, crypto::GeneratePrivateKey(), f.eph));
}

TEST(Handshake, ClientChecksResponse) {
  Fixture f;
  auto make_client = [&] {
    return ClientHandshake(P(f.v, "machine_static_private"),
                           crypto::MachinePublic(K(f.v, "control_static_public")), 145,
                           P(f.v, "client_ephemeral_private"));
  };
  Bytes response = Hex(f.v["response_message"].get<std::string>());
  for (size_t i : {size_t{0}, size_t{2}, size_t{10}, size_t{50}}) {
    Bytes bad = response;
    bad[i] ^= 0x01;
    EXPECT_FALSE(make_client().ReadResponse(bad)) << "flipped byte " << i;
  }
  EXPECT_FALSE(make_client().ReadResponse(std::span(response).first(50)));
  auto err = make_client().ReadResponse(ErrorFrame("too old"));
  ASSERT_FALSE(err);
  EXPECT_EQ(err.error().message, "server error: \"too old\"");
}

TEST(Handshake, ErrorFrame) {
  EXPECT_EQ(ErrorFrame("no"), (Bytes{0x03, 0x00, 0x02, 'n', 'o'}));
  Bytes big = ErrorFrame(std::string(70000, 'x'));
  EXPECT_EQ(big.size(), 3u + 0xffff);
  EXPECT_EQ(big[1], 0xff);
  EXPECT_EQ(big[2], 0xff);
}

}  // namespace
}  // namespace keel::noise
