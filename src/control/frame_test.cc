#include "control/frame.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include "tailcfg/encode.h"

namespace keel::control {
namespace {

uint32_t LittleEndian(const std::string& f) {
  auto b = [&](int i) { return static_cast<uint32_t>(static_cast<uint8_t>(f[i])); };
  return b(0) | b(1) << 8 | b(2) << 16 | b(3) << 24;
}

TEST(FrameTest, RawJsonWithLittleEndianLength) {
  std::string json(300, 'x');
  std::string f = EncodeFrame(json, false);
  ASSERT_EQ(f.size(), 304u);
  EXPECT_EQ(static_cast<uint8_t>(f[0]), 0x2c);
  EXPECT_EQ(static_cast<uint8_t>(f[1]), 0x01);
  EXPECT_EQ(LittleEndian(f), 300u);
  EXPECT_EQ(f.substr(4), json);
}

TEST(FrameTest, ZstdRoundTrip) {
  std::string json = R"({"Peers":[)";
  for (int i = 0; i < 1000; ++i) json += R"({"ID":)" + std::to_string(i) + "},";
  json += "{}]}";
  std::string f = EncodeFrame(json, true);
  uint32_t n = LittleEndian(f);
  ASSERT_EQ(n, f.size() - 4);
  EXPECT_LT(n, json.size());
  EXPECT_EQ(ZSTD_getFrameContentSize(f.data() + 4, n), json.size());
  std::string out(json.size(), '\0');
  size_t got = ZSTD_decompress(out.data(), out.size(), f.data() + 4, n);
  ASSERT_FALSE(ZSTD_isError(got));
  EXPECT_EQ(out.substr(0, got), json);
}

TEST(FrameTest, KeepAliveIsStable) {
  EXPECT_EQ(EncodeFrame(tailcfg::kKeepAliveJson, true), EncodeFrame(tailcfg::kKeepAliveJson, true));
}

}  // namespace
}  // namespace keel::control
