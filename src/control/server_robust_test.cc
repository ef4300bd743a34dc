// ControlServer against hostile or broken clients, in-process: bad handshakes, bad Noise
// records, bad HTTP/2 and bad request bodies must each get an error or a close, store
// nothing, and leave a well-behaved client (the watcher, with an open map stream) served.
// Also the WebSocket form of the /ts2021 upgrade end to end.

#include <gtest/gtest.h>

#include "control/test_fixture.h"
#include "noise/record.h"

namespace keel::control::testing {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using nlohmann::json;

constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr uint8_t kGoAway = 0x07;

// A transport right after a successful native handshake (the server has started HTTP/2).
struct Handshaken {
  std::unique_ptr<ByteStream> raw;
  noise::CipherKeys keys;
};

awaitable<std::optional<Handshaken>> Handshake(uint16_t port, const crypto::MachinePublic& control) {
  noise::ClientHandshake hs(crypto::GeneratePrivateKey(), control, 145, crypto::GeneratePrivateKey());
  Upgraded up = co_await UpgradeNative(port, Base64Encode(hs.initiation()));
  if (!up.raw) co_return std::nullopt;
  auto keys = co_await ReadHandshakeResponse(*up.raw, hs);
  if (!keys) co_return std::nullopt;
  Handshaken out;  // named: GCC 12 mishandles braced temporaries in coroutines
  out.raw = std::move(up.raw);
  out.keys = *keys;
  co_return out;
}

// One broken record sealed (or not) under the client's send key.
Bytes BadRecord(int kind, const crypto::Key32& send_key) {
  noise::RecordWriter writer(send_key);
  Bytes rec;
  EXPECT_TRUE(writer.Append(AsBytes("PRI * HTTP/2.0"), rec));
  switch (kind) {
    case 0: rec.back() ^= 0x01; break;  // tag no longer verifies
    case 1: rec[0] = 0x05; break;       // not a transport record
    default:                            // length above the 4093-byte ciphertext maximum
      rec = {noise::kRecordType, 0x10, 0x01};
      rec.resize(3 + 64, 0xaa);
      break;
  }
  return rec;
}

// Frame types in a server-to-client HTTP/2 byte stream, after the optional early payload.
std::vector<uint8_t> FrameTypes(std::string_view plain) {
  if (plain.substr(0, 5) == "\xff\xff\xffTS" && plain.size() >= 9) {
    auto b = [&](size_t i) { return uint32_t(uint8_t(plain[i])); };
    plain.remove_prefix(std::min<size_t>(plain.size(), 9 + (b(5) << 24 | b(6) << 16 | b(7) << 8 | b(8))));
  }
  std::vector<uint8_t> types;
  while (plain.size() >= 9) {
    auto b = [&](size_t i) { return uint32_t(uint8_t(plain[i])); };
    size_t len = b(0) << 16 | b(1) << 8 | b(2);
    types.push_back(uint8_t(plain[3]));
    plain.remove_prefix(std::min(plain.size(), 9 + len));
  }
  return types;
}

std::string Frame(uint8_t type, uint32_t stream, std::string_view payload) {
  std::string f;
  size_t n = payload.size();
  f += {char(n >> 16), char(n >> 8), char(n), char(type), '\0'};
  f += {char(stream >> 24), char(stream >> 16), char(stream >> 8), char(stream)};
  f += payload;
  return f;
}

TEST_F(ControlServerTest, GarbageNoiseRecordsCloseOnlyThatConnection) {
  Run([&]() -> awaitable<void> {
    Watcher w;
    CO_ASSERT(co_await StartWatcher(w, "watcher"));
    auto before = NodeKeys();
    for (int kind = 0; kind < 3; ++kind) {
      auto s = co_await Handshake(port_, ControlPublic());
      CO_ASSERT(s);
      Bytes rec = BadRecord(kind, s->keys.send);
      EXPECT_TRUE(co_await s->raw->WriteAll(rec));
      // Returns only once keel closes; the Run deadline catches a server that does not.
      std::string got = co_await ReadUntilClosed(*s->raw);
      noise::RecordReader reader(s->keys.recv);
      Bytes plain;
      EXPECT_TRUE(reader.Feed(AsBytes(got), plain)) << "kind " << kind;
      EXPECT_EQ(AsChars(plain).substr(0, 5), "\xff\xff\xffTS");  // only what came before
    }
    EXPECT_EQ(NodeKeys(), before);
    EXPECT_TRUE(co_await NewPeerReachesWatcher(w));
    w.client->Close();
  });
}

TEST_F(ControlServerTest, Http2GarbageGetsGoAwayAndClose) {
  std::string settings = Frame(0x04, 0, "");
  const std::vector<std::string> inputs = {
      "GET /machine/map HTTP/1.1\r\nHost: keel\r\n\r\n",                 // not HTTP/2 at all
      std::string(kH2Preface) + settings + Frame(0x00, 0, "junk"),       // DATA on stream 0
      std::string(kH2Preface) + settings + Frame(0x04, 0, "12345"),      // SETTINGS of bad size
      std::string(kH2Preface) + std::string(64, '\xee'),                 // random bytes
  };
  Run([&]() -> awaitable<void> {
    Watcher w;
    CO_ASSERT(co_await StartWatcher(w, "watcher"));
    auto before = NodeKeys();
    for (const std::string& input : inputs) {
      auto s = co_await Handshake(port_, ControlPublic());
      CO_ASSERT(s);
      noise::NoiseStream conn(std::move(s->raw), s->keys);
      EXPECT_TRUE(co_await conn.WriteAll(AsBytes(input)));
      std::string got = co_await ReadUntilClosed(conn);
      auto types = FrameTypes(got);
      EXPECT_NE(std::find(types.begin(), types.end(), kGoAway), types.end()) << input;
    }
    EXPECT_EQ(NodeKeys(), before);
    EXPECT_TRUE(co_await NewPeerReachesWatcher(w));
    w.client->Close();
  });
}

TEST_F(ControlServerTest, MalformedRequestsAreRefusedAndStoreNothing) {
  Run([&]() -> awaitable<void> {
    Watcher w;
    CO_ASSERT(co_await StartWatcher(w, "watcher"));
    auto before = NodeKeys();
    auto conn = co_await DialNoise(port_, crypto::GeneratePrivateKey(), ControlPublic(), 145, nullptr);
    CO_ASSERT(conn);
    H2Client b(std::move(conn));
    crypto::NodePublic node_b = NewNodeKey();
    json huge_host = json::parse(RegisterBody(node_b, auth_key_, "big"));
    huge_host["Hostinfo"]["Hostname"] = std::string((1 << 20) + 4096, 'x');

    std::vector<int32_t> bad = {
        b.Post("/machine/register", "{not json"),
        b.Post("/machine/register", "[1,2,3]"),
        b.Post("/machine/register", R"({"Version":145,"NodeKey":"nodekey:zz"})"),
        b.Post("/machine/map", "{oops"),
        b.Post("/machine/map", R"({"Version":145,"NodeKey":42})"),
    };
    int32_t big = b.Post("/machine/register", huge_host.dump());
    int32_t stolen = b.Post("/machine/map", MapBody(w.node, false));
    auto all_closed = [&] {
      for (int32_t id : bad) {
        if (!b.stream(id).closed) return false;
      }
      return b.stream(big).closed && b.stream(stolen).closed;
    };
    CO_ASSERT(co_await b.PumpUntil(all_closed));
    for (int32_t id : bad) EXPECT_EQ(b.stream(id).status, 400) << "stream " << id << ": " << b.stream(id).body;
    // Too large: 413 (then RST_STREAM, which stops the rest of the upload).
    EXPECT_EQ(b.stream(big).status, 413);
    EXPECT_EQ(b.stream(stolen).status, 403);

    // The connection itself survives all of that.
    int32_t health = b.Post("/machine/update-health", "{}");
    CO_ASSERT(co_await b.PumpUntil([&] { return b.stream(health).closed; }));
    EXPECT_EQ(b.stream(health).status, 200);

    EXPECT_EQ(NodeKeys(), before);
    EXPECT_TRUE(co_await NewPeerReachesWatcher(w));
    b.Close();
    w.client->Close();
  });
}

TEST_F(ControlServerTest, BadInitiationsAreRefused) {
  Run([&]() -> awaitable<void> {
    Watcher w;
    CO_ASSERT(co_await StartWatcher(w, "watcher"));
    auto before = NodeKeys();

    noise::ClientHandshake good(crypto::GeneratePrivateKey(), ControlPublic(), 145, crypto::GeneratePrivateKey());
    Bytes garbage(noise::kInitiationSize);
    for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = uint8_t(i * 37 + 11);
    Bytes wrong_version(good.initiation().begin(), good.initiation().end());
    wrong_version[1] ^= 0x01;  // the version is bound into the prologue: decryption must fail
    Bytes wrong_type = wrong_version;
    wrong_type[1] ^= 0x01;
    wrong_type[2] = 0x02;
    Bytes short_one(good.initiation().begin(), good.initiation().end() - 1);
    std::vector<Bytes> initiations = {garbage, wrong_version, wrong_type, short_one};
    for (const Bytes& initiation : initiations) {
      noise::ClientHandshake hs(crypto::GeneratePrivateKey(), ControlPublic(), 145, crypto::GeneratePrivateKey());
      Upgraded up = co_await UpgradeNative(port_, Base64Encode(initiation));
      CO_ASSERT(up.status == 101 && up.raw);
      auto keys = co_await ReadHandshakeResponse(*up.raw, hs);
      CO_ASSERT(!keys);
      EXPECT_EQ(keys.error().message.rfind("server error: \"", 0), 0u) << keys.error().message;
      EXPECT_EQ(co_await ReadUntilClosed(*up.raw), "");
    }
    EXPECT_EQ((co_await UpgradeNative(port_, "!!not-base64!!")).status, 400);
    EXPECT_EQ((co_await UpgradeNative(port_, "")).status, 400);

    // A client too old for Noise over any port gets a readable refusal in the handshake.
    noise::ClientHandshake old(crypto::GeneratePrivateKey(), ControlPublic(), 30, crypto::GeneratePrivateKey());
    Upgraded up = co_await UpgradeNative(port_, Base64Encode(old.initiation()));
    CO_ASSERT(up.raw);
    auto keys = co_await ReadHandshakeResponse(*up.raw, old);
    CO_ASSERT(!keys);
    const std::string& text = keys.error().message;
    EXPECT_EQ(text.rfind("server error: \"", 0), 0u) << text;
    EXPECT_NE(text.find("capability version 30"), std::string::npos) << text;
    EXPECT_NE(text.find("too old"), std::string::npos) << text;
    EXPECT_EQ(co_await ReadUntilClosed(*up.raw), "");
    EXPECT_FALSE(co_await DialNoise(port_, crypto::GeneratePrivateKey(), ControlPublic(), 30, nullptr));

    EXPECT_EQ(NodeKeys(), before);
    EXPECT_TRUE(co_await NewPeerReachesWatcher(w));
    w.client->Close();
  });
}

TEST_F(ControlServerTest, WebSocketUpgradeServesRegisterAndMap) {
  Run([&]() -> awaitable<void> {
    Watcher a;
    CO_ASSERT(co_await StartWatcher(a, "native"));
    // No early payload on this path: the first plaintext bytes must be the HTTP/2 SETTINGS,
    // or the client's nghttp2 session below would fail.
    auto conn = co_await DialNoiseWebSocket(port_, crypto::GeneratePrivateKey(), ControlPublic(), 145);
    CO_ASSERT(conn);
    Watcher ws;
    ws.client = std::make_unique<H2Client>(std::move(conn));
    ws.node = NewNodeKey();
    CO_ASSERT(co_await RegisterAndStream(*ws.client, ws.node, "browser", &ws.map));
    json first = DecodeFrames(ws.client->stream(ws.map).body).at(0);
    EXPECT_EQ(first["Node"]["Key"], ws.node.ToText());
    EXPECT_EQ(first["Node"]["MachineAuthorized"], true);
    CO_ASSERT(first.contains("Peers") && first["Peers"].size() == 1);
    EXPECT_EQ(first["Peers"][0]["Key"], a.node.ToText());

    // The native watcher hears of the WebSocket node, and both hear of a third.
    H2Client& ac = *a.client;
    int32_t amap = a.map;
    crypto::NodePublic wnode = ws.node;
    EXPECT_TRUE(co_await ac.PumpUntil([&] { return HasPeerChanged(ac.stream(amap).body, wnode); }));
    EXPECT_TRUE(co_await NewPeerReachesWatcher(ws));
    a.client->Close();
    ws.client->Close();
  });
}

TEST_F(ControlServerTest, BadWebSocketUpgradesAreRefused) {
  Run([&]() -> awaitable<void> {
    noise::ClientHandshake hs(crypto::GeneratePrivateKey(), ControlPublic(), 145, crypto::GeneratePrivateKey());
    std::string param = PercentEncode(Base64Encode(hs.initiation()));
    const std::string proto = "tailscale-control-protocol";
    EXPECT_EQ((co_await UpgradeWebSocket(port_, "/ts2021", proto)).status, 400);
    EXPECT_EQ((co_await UpgradeWebSocket(port_, "/ts2021?other=1", proto)).status, 400);
    EXPECT_EQ((co_await UpgradeWebSocket(port_, "/ts2021?X-Tailscale-Handshake=" + param, "")).status, 400);
    EXPECT_EQ((co_await UpgradeWebSocket(port_, "/ts2021?X-Tailscale-Handshake=%21%21", proto)).status, 400);

    // A garbage initiation passes the HTTP checks, then gets the Noise error frame and a close.
    Bytes garbage(noise::kInitiationSize, 0x5a);
    Upgraded up = co_await UpgradeWebSocket(
        port_, "/ts2021?X-Tailscale-Handshake=" + PercentEncode(Base64Encode(garbage)), proto);
    CO_ASSERT(up.status == 101 && up.raw);
    auto keys = co_await ReadHandshakeResponse(*up.raw, hs);
    CO_ASSERT(!keys);
    EXPECT_EQ(keys.error().message.rfind("server error: \"", 0), 0u) << keys.error().message;
    EXPECT_EQ(co_await ReadUntilClosed(*up.raw), "");
    EXPECT_TRUE(NodeKeys().empty());
  });
}

}  // namespace
}  // namespace keel::control::testing
