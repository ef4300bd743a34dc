// TS2019 boxes and map frames against vectors the Tailscale client's own code made and checked
// (tools/ts2019_vectors, tailscale.com v1.62.1): keel opens what the client seals, and seals
// byte for byte what the client was shown to open.

#include "control/legacy_frame.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "base/bytes.h"
#include "control/frame.h"
#include "testing/testdata.h"

namespace keel::control {
namespace {

Bytes Hex(const nlohmann::json& v) { return HexDecode(v.get<std::string>()).value(); }

crypto::BoxNonce Nonce(const nlohmann::json& v) {
  Bytes b = Hex(v);
  crypto::BoxNonce n{};
  std::copy_n(b.begin(), n.size(), n.begin());
  return n;
}

class LegacyVectorsTest : public ::testing::Test {
 protected:
  LegacyVectorsTest()
      : v_(keel::testing::ReadTestJson("ts2019/client_vectors.json")),
        server_(crypto::PrivateKey::ParseHex(v_["legacy_server_private"].get<std::string>()).value()),
        machine_(crypto::MachinePublic::ParseHex(v_["machine_public"].get<std::string>()).value()),
        key_(crypto::BoxKey::Precompute(server_, machine_.raw()).value()) {}

  std::string Open(const nlohmann::json& body) {
    Bytes b = Hex(body);
    auto plain = key_.Open(b);
    return plain ? std::string(plain->begin(), plain->end()) : "<does not open>";
  }

  nlohmann::json v_;
  crypto::PrivateKey server_;
  crypto::MachinePublic machine_;
  crypto::BoxKey key_;
};

TEST_F(LegacyVectorsTest, OpensRequestsTheClientSealed) {
  EXPECT_EQ(Open(v_["register_request"]["body"]), v_["register_request"]["plaintext"]);
  EXPECT_EQ(Open(v_["map_request"]["body"]), v_["map_request"]["plaintext"]);
  Bytes tampered = Hex(v_["map_request"]["body"]);
  tampered.back() ^= 1;
  EXPECT_FALSE(key_.Open(tampered));
}

TEST_F(LegacyVectorsTest, SealsWhatTheClientOpens) {
  const auto& r = v_["register_response"];
  std::string plain = r["plaintext"];
  Bytes body = key_.SealWithNonce(std::span(reinterpret_cast<const uint8_t*>(plain.data()), plain.size()),
                                  Nonce(r["nonce"]));
  EXPECT_EQ(HexEncode(body), r["body"]);

  const auto& f = v_["map_frame"];
  Bytes payload = Hex(f["payload"]);
  std::string frame;
  AppendFrameLength(frame, static_cast<uint32_t>(payload.size()));
  frame.append(payload.begin(), payload.end());
  crypto::BoxNonce nonce = Nonce(f["nonce"]);
  auto sealed = SealFrames(frame, key_, &nonce);
  ASSERT_TRUE(sealed);
  EXPECT_EQ(HexEncode(std::span(reinterpret_cast<const uint8_t*>(sealed->data()), sealed->size())), f["frame"]);
  EXPECT_FALSE(SealFrames(frame.substr(0, frame.size() - 1), key_));  // truncated
}

}  // namespace
}  // namespace keel::control
