#include "noise/stream.h"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>

#include "crypto/test_helpers.h"
#include "crypto/x25519.h"
#include "noise/record.h"

namespace keel::noise {
namespace {

namespace asio = boost::asio;
using crypto::testing::Hex;
using crypto::testing::HexKey;

// An in-memory ByteStream end: each WriteAll is one message on the peer's channel, so tests
// can also see how many inner writes a NoiseStream made. An empty message means end of stream.
using Channel = asio::experimental::channel<void(boost::system::error_code, Bytes)>;

class PipeEnd final : public ByteStream {
 public:
  PipeEnd(asio::any_io_executor ex, std::shared_ptr<Channel> in, std::shared_ptr<Channel> out)
      : ex_(ex), in_(std::move(in)), out_(std::move(out)) {}

  asio::awaitable<Result<size_t>> ReadSome(std::span<uint8_t> out) override {
    if (pos_ == pending_.size()) {
      if (eof_) co_return size_t{0};
      auto [ec, msg] = co_await in_->async_receive(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return MakeError(Errc::kUnavailable, ec.message());
      if (msg.empty()) {
        eof_ = true;
        co_return size_t{0};
      }
      pending_ = std::move(msg);
      pos_ = 0;
    }
    size_t n = std::min(out.size(), pending_.size() - pos_);
    std::copy_n(pending_.begin() + static_cast<ptrdiff_t>(pos_), n, out.begin());
    pos_ += n;
    co_return n;
  }
  asio::awaitable<Result<void>> WriteAll(std::span<const uint8_t> data) override {
    ++writes_;
    auto [ec] = co_await out_->async_send(boost::system::error_code{}, Bytes(data.begin(), data.end()),
                                          asio::as_tuple(asio::use_awaitable));
    if (ec) co_return MakeError(Errc::kUnavailable, ec.message());
    co_return Result<void>{};
  }
  void Close() override { out_->try_send(boost::system::error_code{}, Bytes{}); }
  asio::any_io_executor executor() override { return ex_; }
  int writes() const { return writes_; }

 private:
  asio::any_io_executor ex_;
  std::shared_ptr<Channel> in_, out_;
  Bytes pending_;
  size_t pos_ = 0;
  bool eof_ = false;
  int writes_ = 0;
};

std::pair<std::unique_ptr<PipeEnd>, std::unique_ptr<PipeEnd>> MakePipe(asio::io_context& io) {
  auto a = std::make_shared<Channel>(io, 1024), b = std::make_shared<Channel>(io, 1024);
  return {std::make_unique<PipeEnd>(io.get_executor(), a, b),
          std::make_unique<PipeEnd>(io.get_executor(), b, a)};
}

// Runs `fn` as a coroutine to completion; a thrown exception (failed ASSERT helper) propagates.
template <class Fn>
void RunCoro(asio::io_context& io, Fn fn) {
  bool done = false;
  asio::co_spawn(io, fn, [&](std::exception_ptr e) {
    done = true;
    if (e) std::rethrow_exception(e);
  });
  io.run();
  io.restart();
  EXPECT_TRUE(done);
}

asio::awaitable<Bytes> ReadExactly(ByteStream& s, size_t n) {
  Bytes out(n);
  size_t got = 0;
  while (got < n) {
    auto r = co_await s.ReadSome(std::span(out).subspan(got));
    if (!r || *r == 0) throw std::runtime_error("short read");
    got += *r;
  }
  co_return out;
}

struct Vectors {
  nlohmann::json v = crypto::testing::LoadNoiseVectors("ts2021_vectors.json")["vectors"][0];
  CipherKeys server_keys{.send = HexKey(v["s2c_key"].get<std::string>()),
                         .recv = HexKey(v["c2s_key"].get<std::string>())};
  Bytes Field(const nlohmann::json& j, const char* f) { return Hex(j[f].get<std::string>()); }
};

// Server side of the vector session: response + early payload leave in one inner write.
TEST(NoiseStream, ServerWritesVectorRecordsWithCorkedPrefix) {
  Vectors t;
  asio::io_context io;
  auto [server_raw, client_raw] = MakePipe(io);
  PipeEnd* server_pipe = server_raw.get();
  Bytes response = t.Field(t.v, "response_message");
  NoiseStream server(std::move(server_raw), t.server_keys, response);
  RunCoro(io, [&]() -> asio::awaitable<void> {
    std::vector<nlohmann::json> s2c;
    for (const auto& r : t.v["records"]) {
      if (r["direction"] == "s2c") s2c.push_back(r);
    }
    for (const auto& r : s2c) {
      EXPECT_TRUE(co_await server.WriteAll(t.Field(r, "plaintext")));
    }
    EXPECT_EQ(server_pipe->writes(), 3);
    Bytes expected = response;
    for (const auto& r : s2c) {
      Bytes f = t.Field(r, "frame");
      expected.insert(expected.end(), f.begin(), f.end());
    }
    // First inner message is exactly response ‖ record 0.
    Bytes first_expected(expected.begin(), expected.begin() + 51 + t.Field(s2c[0], "frame").size());
    auto first = co_await ReadExactly(*client_raw, first_expected.size());
    EXPECT_EQ(first, first_expected);
    auto rest = co_await ReadExactly(*client_raw, expected.size() - first.size());
    EXPECT_EQ(rest, Bytes(expected.begin() + static_cast<ptrdiff_t>(first.size()), expected.end()));
  });
}

TEST(NoiseStream, ServerReadsVectorRecords) {
  Vectors t;
  asio::io_context io;
  auto [server_raw, client_raw] = MakePipe(io);
  NoiseStream server(std::move(server_raw), t.server_keys);
  RunCoro(io, [&]() -> asio::awaitable<void> {
    Bytes expected;
    for (const auto& r : t.v["records"]) {
      if (r["direction"] != "c2s") continue;
      Bytes f = t.Field(r, "frame"), p = t.Field(r, "plaintext");
      // Split every frame in two raw writes so records straddle inner reads.
      size_t half = f.size() / 2;
      EXPECT_TRUE(co_await client_raw->WriteAll(std::span(f).first(half)));
      EXPECT_TRUE(co_await client_raw->WriteAll(std::span(f).subspan(half)));
      expected.insert(expected.end(), p.begin(), p.end());
    }
    client_raw->Close();
    Bytes got;
    Bytes buf(777);
    for (;;) {
      auto n = co_await server.ReadSome(buf);
      EXPECT_TRUE(n);
      if (!n || *n == 0) break;
      got.insert(got.end(), buf.begin(), buf.begin() + static_cast<ptrdiff_t>(*n));
    }
    EXPECT_EQ(got, expected);
  });
}

TEST(NoiseStream, TamperedRecordPoisonsReads) {
  Vectors t;
  asio::io_context io;
  auto [server_raw, client_raw] = MakePipe(io);
  NoiseStream server(std::move(server_raw), t.server_keys);
  RunCoro(io, [&]() -> asio::awaitable<void> {
    Bytes f;
    for (const auto& r : t.v["records"]) {
      if (r["direction"] == "c2s") {
        f = t.Field(r, "frame");
        break;
      }
    }
    f[10] ^= 1;
    EXPECT_TRUE(co_await client_raw->WriteAll(f));
    Bytes buf(64);
    auto r = co_await server.ReadSome(buf);
    EXPECT_FALSE(r);
    auto again = co_await server.ReadSome(buf);
    EXPECT_FALSE(again);
  });
}

TEST(NoiseStream, EndOfStreamInsideRecordIsAnError) {
  Vectors t;
  asio::io_context io;
  auto [server_raw, client_raw] = MakePipe(io);
  NoiseStream server(std::move(server_raw), t.server_keys);
  RunCoro(io, [&]() -> asio::awaitable<void> {
    Bytes partial = {0x04, 0x00, 0x20, 0x01};
    EXPECT_TRUE(co_await client_raw->WriteAll(partial));
    client_raw->Close();
    Bytes buf(64);
    auto r = co_await server.ReadSome(buf);
    EXPECT_FALSE(r);
    EXPECT_TRUE(!r && r.error().code == Errc::kDataLoss);
  });
}

asio::awaitable<void> Pump(NoiseStream& from, NoiseStream& to, const Bytes& data, Bytes& received) {
  // Writer: uneven chunk sizes so records and writes do not line up.
  std::mt19937 rng(static_cast<unsigned>(data.size()));
  size_t off = 0;
  while (off < data.size()) {
    size_t n = std::min<size_t>(data.size() - off, 1 + rng() % 9000);
    EXPECT_TRUE(co_await from.WriteAll(std::span(data).subspan(off, n)));
    off += n;
  }
  // Reader: read all that was sent.
  received = co_await ReadExactly(to, data.size());
}

TEST(NoiseStream, HandshakeThenRoundTrip100KBothWays) {
  asio::io_context io;
  auto control = crypto::GeneratePrivateKey();
  ClientHandshake hs(crypto::GeneratePrivateKey(),
                     crypto::MachinePublic(crypto::PublicFromPrivate(control)), 145,
                     crypto::GeneratePrivateKey());
  auto server_hs = RespondToInitiation(hs.initiation(), control, crypto::GeneratePrivateKey());
  ASSERT_TRUE(server_hs);
  auto [server_raw, client_raw] = MakePipe(io);
  PipeEnd* client_pipe = client_raw.get();
  Bytes response(server_hs->response.begin(), server_hs->response.end());
  NoiseStream server(std::move(server_raw), server_hs->keys, response);

  Bytes c2s(100 * 1024), s2c(100 * 1024);
  for (size_t i = 0; i < c2s.size(); ++i) {
    c2s[i] = static_cast<uint8_t>(i * 31 + 7);
    s2c[i] = static_cast<uint8_t>(i * 17 + 3);
  }
  Bytes got_c2s, got_s2c;
  std::unique_ptr<NoiseStream> client;
  auto challenge = crypto::ChallengePublic(crypto::PublicFromPrivate(crypto::GeneratePrivateKey()));
  RunCoro(io, [&]() -> asio::awaitable<void> {
    // The server speaks first (early payload), the client reads the response raw, as in §2.
    EXPECT_TRUE(co_await server.WriteAll(EarlyPayload(challenge)));
    Bytes raw_response = co_await ReadExactly(*client_pipe, kResponseSize);
    auto keys = hs.ReadResponse(raw_response);
    EXPECT_TRUE(keys);
    client = std::make_unique<NoiseStream>(std::move(client_raw), keys.value());
    Bytes early = co_await ReadExactly(*client, EarlyPayload(challenge).size());
    EXPECT_EQ(early, EarlyPayload(challenge));
  });
  ASSERT_TRUE(client);
  // Both directions at once.
  int finished = 0;
  auto done = [&](std::exception_ptr e) {
    ++finished;
    if (e) std::rethrow_exception(e);
  };
  asio::co_spawn(io, Pump(server, *client, s2c, got_s2c), done);
  asio::co_spawn(io, Pump(*client, server, c2s, got_c2s), done);
  io.run();
  EXPECT_EQ(finished, 2);
  EXPECT_EQ(got_s2c, s2c);
  EXPECT_EQ(got_c2s, c2s);
}

TEST(NoiseStream, OneWriteIsOneInnerWrite) {
  Vectors t;
  asio::io_context io;
  auto [server_raw, client_raw] = MakePipe(io);
  PipeEnd* pipe = server_raw.get();
  NoiseStream server(std::move(server_raw), t.server_keys);
  RunCoro(io, [&]() -> asio::awaitable<void> {
    Bytes big(20000, 0x42);
    EXPECT_TRUE(co_await server.WriteAll(big));
    EXPECT_TRUE(co_await server.WriteAll({}));  // nothing to send: no inner write
    EXPECT_EQ(pipe->writes(), 1);
    auto wire = co_await ReadExactly(*client_raw, RecordWriter::SealedSize(big.size()));
    RecordReader reader(t.server_keys.send);
    Bytes out;
    EXPECT_TRUE(reader.Feed(wire, out));
    EXPECT_EQ(out, big);
  });
}

}  // namespace
}  // namespace keel::noise
