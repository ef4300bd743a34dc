#include "noise/record.h"

#include <gtest/gtest.h>

#include <random>

#include "crypto/test_helpers.h"
#include "noise/stream.h"

namespace keel::noise {
namespace {

using crypto::Key32;
using crypto::testing::Hex;
using crypto::testing::HexKey;

struct Vectors {
  nlohmann::json v = crypto::testing::LoadNoiseVectors("ts2021_vectors.json")["vectors"][0];
  Key32 c2s = HexKey(v["c2s_key"].get<std::string>());
  Key32 s2c = HexKey(v["s2c_key"].get<std::string>());

  std::vector<nlohmann::json> Records(std::string_view direction) const {
    std::vector<nlohmann::json> out;
    for (const auto& r : v["records"]) {
      if (r["direction"].get<std::string>() == direction) out.push_back(r);
    }
    return out;
  }
  Bytes Frames(std::string_view direction) const {
    Bytes all;
    for (const auto& r : Records(direction)) {
      Bytes f = Hex(r["frame"].get<std::string>());
      all.insert(all.end(), f.begin(), f.end());
    }
    return all;
  }
};

TEST(RecordNonce, ByteOrder) {
  auto be = RecordNonce(0x0102030405060708);
  EXPECT_EQ(Bytes(be.begin(), be.end()), Hex("000000000102030405060708"));
  auto le = RecordNonce(0x0102030405060708, NonceOrder::kSpecLittleEndian);
  EXPECT_EQ(Bytes(le.begin(), le.end()), Hex("000000000807060504030201"));
}

TEST(Record, EarlyPayloadMatchesVector) {
  Vectors t;
  auto r0 = t.Records("s2c")[0];
  Bytes plain = Hex(r0["plaintext"].get<std::string>());
  // The JSON holds the challenge key; rebuild the payload from it.
  std::string text(plain.begin() + 9, plain.end());
  auto start = text.find("chalpub:");
  ASSERT_NE(start, std::string::npos);
  auto key = crypto::ChallengePublic::Parse(text.substr(start, 8 + 64));
  ASSERT_TRUE(key);
  EXPECT_EQ(EarlyPayload(*key), plain);
}

// Every s2c and c2s record, sealed in order with one writer per direction; the two c2s records
// of the 5000-byte write come from a single Append.
TEST(Record, WriterMatchesVectors) {
  Vectors t;
  for (const char* dir : {"s2c", "c2s"}) {
    SCOPED_TRACE(dir);
    RecordWriter writer(std::string_view(dir) == "s2c" ? t.s2c : t.c2s);
    Bytes wire;
    auto records = t.Records(dir);
    for (size_t i = 0; i < records.size(); ++i) {
      EXPECT_EQ(records[i]["nonce"].get<uint64_t>(), writer.counter());
      Bytes plain = Hex(records[i]["plaintext"].get<std::string>());
      bool split = records[i]["note"].get<std::string>().find("chunk 1/2") != std::string::npos;
      if (split) {
        Bytes second = Hex(records[i + 1]["plaintext"].get<std::string>());
        plain.insert(plain.end(), second.begin(), second.end());
        ASSERT_EQ(plain.size(), 5000u);
        for (size_t j = 0; j < plain.size(); ++j) ASSERT_EQ(plain[j], j % 251);
        ++i;
      }
      size_t before = wire.size();
      ASSERT_TRUE(writer.Append(plain, wire));
      EXPECT_EQ(wire.size() - before, RecordWriter::SealedSize(plain.size()));
    }
    EXPECT_EQ(wire, t.Frames(dir));
  }
}

Bytes ExpectedPlaintext(const Vectors& t, std::string_view dir) {
  Bytes all;
  for (const auto& r : t.Records(dir)) {
    Bytes p = Hex(r["plaintext"].get<std::string>());
    all.insert(all.end(), p.begin(), p.end());
  }
  return all;
}

TEST(Record, ReaderWholeAndByteByByte) {
  Vectors t;
  for (const char* dir : {"s2c", "c2s"}) {
    SCOPED_TRACE(dir);
    const Key32& key = std::string_view(dir) == "s2c" ? t.s2c : t.c2s;
    Bytes wire = t.Frames(dir), expected = ExpectedPlaintext(t, dir);
    RecordReader whole(key);
    Bytes out;
    ASSERT_TRUE(whole.Feed(wire, out));
    EXPECT_EQ(out, expected);
    EXPECT_FALSE(whole.HasPartialRecord());

    RecordReader bytewise(key);
    out.clear();
    for (uint8_t b : wire) ASSERT_TRUE(bytewise.Feed(std::span(&b, 1), out));
    EXPECT_EQ(out, expected);
    EXPECT_EQ(bytewise.counter(), t.Records(dir).size());
  }
}

TEST(Record, ReaderRandomSplits) {
  Vectors t;
  Bytes wire = t.Frames("c2s"), expected = ExpectedPlaintext(t, "c2s");
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    RecordReader reader(t.c2s);
    Bytes out;
    std::span<const uint8_t> rest = wire;
    while (!rest.empty()) {
      size_t n = std::min<size_t>(rest.size(), 1 + rng() % 3000);
      ASSERT_TRUE(reader.Feed(rest.first(n), out));
      rest = rest.subspan(n);
    }
    EXPECT_EQ(out, expected);
  }
}

TEST(Record, RejectsLittleEndianNonce) {
  Vectors t;
  auto wrong = t.v["wrong_le_nonce_example"];
  RecordReader reader(t.c2s);
  Bytes out;
  ASSERT_TRUE(reader.Feed(Hex(t.Records("c2s")[0]["frame"].get<std::string>()), out));
  EXPECT_EQ(reader.counter(), wrong["nonce"].get<uint64_t>());
  auto r = reader.Feed(Hex(wrong["frame"].get<std::string>()), out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUnauthenticated);
  EXPECT_TRUE(reader.failed());
  // Poisoned: even the correct record is refused now.
  EXPECT_FALSE(reader.Feed(Hex(t.Records("c2s")[1]["frame"].get<std::string>()), out));
}

TEST(Record, RejectsTamperingTypeAndSize) {
  Vectors t;
  Bytes first = Hex(t.Records("c2s")[0]["frame"].get<std::string>());
  auto fails = [&](const Bytes& wire) {
    RecordReader reader(t.c2s);
    Bytes out;
    return !reader.Feed(wire, out) && reader.failed();
  };
  for (size_t i : {size_t{3}, size_t{20}, first.size() - 1}) {
    Bytes bad = first;
    bad[i] ^= 0x40;
    EXPECT_TRUE(fails(bad)) << i;
  }
  Bytes type = first;
  type[0] = 0x05;
  EXPECT_TRUE(fails(type));
  EXPECT_TRUE(fails(Bytes{0x04, 0x0f, 0xfe}));  // 3 + 4094 > 4096, rejected from the header
  EXPECT_TRUE(fails(Bytes{0x04, 0xff, 0xff}));
  EXPECT_TRUE(fails(Bytes{0x04, 0x00, 0x0f}));  // shorter than a tag
  // The largest legal record header is accepted and waits for its body.
  RecordReader reader(t.c2s);
  Bytes out;
  EXPECT_TRUE(reader.Feed(Bytes{0x04, 0x0f, 0xfd}, out));
  EXPECT_TRUE(reader.HasPartialRecord());
}

TEST(Record, MaxSizeRecordsRoundTrip) {
  Key32 key{};
  key[0] = 9;
  RecordWriter writer(key);
  Bytes plain(3 * kMaxPlaintextSize + 1);
  for (size_t i = 0; i < plain.size(); ++i) plain[i] = static_cast<uint8_t>(i * 7);
  Bytes wire;
  ASSERT_TRUE(writer.Append(plain, wire));
  EXPECT_EQ(writer.counter(), 4u);
  EXPECT_EQ(wire[1], 0x0f);
  EXPECT_EQ(wire[2], 0xfd);  // a full record is exactly 4096 bytes
  RecordReader reader(key);
  Bytes out;
  ASSERT_TRUE(reader.Feed(wire, out));
  EXPECT_EQ(out, plain);
}

}  // namespace
}  // namespace keel::noise
