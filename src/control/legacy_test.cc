// TS2019 in-process: boxed register and map requests over plain HTTP/1.1 against a real
// ControlServer, beside a native (Noise) watcher, and the bad input the legacy path refuses.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "control/frame.h"
#include "control/test_fixture.h"
#include "crypto/naclbox.h"

namespace keel::control::testing {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using asio::awaitable;
using asio::ip::tcp;
using nlohmann::json;

// A TS2019 client: one machine key and the box key it shares with keel's legacy key.
struct LegacyClient {
  LegacyClient(const crypto::PrivateKey& legacy_server, crypto::PrivateKey m = crypto::GeneratePrivateKey())
      : machine(m),
        key(crypto::BoxKey::Precompute(machine, crypto::PublicFromPrivate(legacy_server)).value()) {}

  std::string Hex() const { return crypto::MachinePublic(crypto::PublicFromPrivate(machine)).ToText().substr(5); }
  std::string Seal(const std::string& plain) const {
    Bytes b = key.Seal(std::span(reinterpret_cast<const uint8_t*>(plain.data()), plain.size()));
    return std::string(b.begin(), b.end());
  }
  std::string Open(const std::string& box) const {
    auto b = key.Open(std::span(reinterpret_cast<const uint8_t*>(box.data()), box.size()));
    return b ? std::string(b->begin(), b->end()) : std::string("<does not open>");
  }
  // Opens each `len ‖ box` frame back into the Noise framing DecodeFrames reads.
  std::vector<json> OpenFrames(std::string body) const {
    std::string plain;
    while (body.size() >= 4) {
      uint32_t n = FrameLength(body);
      if (body.size() - 4 < n) break;
      std::string inner = Open(body.substr(4, n));
      AppendFrameLength(plain, static_cast<uint32_t>(inner.size()));
      plain += inner;
      body.erase(0, 4 + n);
    }
    return DecodeFrames(plain);
  }

  crypto::PrivateKey machine;
  crypto::BoxKey key;
};

awaitable<tcp::socket> Dial(uint16_t port) {
  tcp::socket s(co_await asio::this_coro::executor);
  co_await s.async_connect({asio::ip::make_address("127.0.0.1"), port}, asio::use_awaitable);
  co_return s;
}

// POSTs `body` and reads the whole response.
awaitable<std::pair<int, std::string>> Post(uint16_t port, const std::string& target, std::string body) {
  tcp::socket s = co_await Dial(port);
  bhttp::request<bhttp::string_body> req{bhttp::verb::post, target, 11};
  req.set(bhttp::field::host, "127.0.0.1");
  req.body() = std::move(body);
  req.prepare_payload();
  co_await bhttp::async_write(s, req, asio::use_awaitable);
  boost::beast::flat_buffer buf;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(8 << 20);
  auto [ec, n] = co_await bhttp::async_read(s, buf, parser, asio::as_tuple(asio::use_awaitable));
  if (ec) co_return std::pair{0, ec.message()};
  co_return std::pair{parser.get().result_int(), parser.get().body()};
}

class LegacyTest : public ControlServerTest {
 protected:
  std::string RegisterTarget(const LegacyClient& c) { return "/machine/" + c.Hex(); }
};

TEST_F(LegacyTest, RegisterAndMapStreamBesideNoiseClients) {
  Run([&]() -> awaitable<void> {
    Watcher w;
    CO_ASSERT(co_await StartWatcher(w, "native"));
    LegacyClient old(keys_.legacy);
    crypto::NodePublic node = NewNodeKey();
    auto [status, body] = co_await Post(port_, RegisterTarget(old), old.Seal(RegisterBody(node, auth_key_, "old", 1)));
    CO_ASSERT(status == 200);
    json reg = json::parse(old.Open(body), nullptr, false);
    EXPECT_EQ(reg.value("MachineAuthorized", false), true) << old.Open(body);
    EXPECT_TRUE(NodeKeys().contains(node.ToText()));
    // The native watcher hears of the legacy node like of any other.
    H2Client& a = *w.client;
    EXPECT_TRUE(co_await a.PumpUntil([&] { return HasPeerChanged(a.stream(w.map).body, node); }));

    // A streamed map: boxed frames, read as they come.
    tcp::socket s = co_await Dial(port_);
    bhttp::request<bhttp::string_body> req{bhttp::verb::post, RegisterTarget(old) + "/map", 11};
    req.set(bhttp::field::host, "127.0.0.1");
    req.body() = old.Seal(MapBody(node, true));
    req.prepare_payload();
    co_await bhttp::async_write(s, req, asio::use_awaitable);
    boost::beast::flat_buffer buf;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(8 << 20);
    std::vector<json> frames;
    while (frames.empty()) {
      auto [ec, n] = co_await bhttp::async_read_some(s, buf, parser, asio::as_tuple(asio::use_awaitable));
      CO_ASSERT(!ec);
      if (parser.is_header_done()) frames = old.OpenFrames(parser.get().body());
    }
    EXPECT_EQ(parser.get().result_int(), 200);
    CO_ASSERT(frames.size() >= 1);
    EXPECT_EQ(frames[0]["Node"]["Key"], node.ToText());
    bool sees_native = false;
    for (const auto& p : frames[0]["Peers"]) sees_native |= p["Key"] == w.node.ToText();
    EXPECT_TRUE(sees_native);
  });
}

TEST_F(LegacyTest, SameMachineKeyOverNoiseKeepsTheNode) {
  Run([&]() -> awaitable<void> {
    LegacyClient old(keys_.legacy);
    crypto::NodePublic node = NewNodeKey();
    auto [status, body] = co_await Post(port_, RegisterTarget(old), old.Seal(RegisterBody(node, auth_key_, "old", 1)));
    CO_ASSERT(status == 200);
    auto before = tailnet_->snapshot()->FindByNodeKey(node);
    CO_ASSERT(before != nullptr);
    model::NodeId id = before->id;
    auto conn = co_await DialNoise(port_, old.machine, ControlPublic(), 145, nullptr);
    CO_ASSERT(conn != nullptr);
    H2Client c(std::move(conn));
    int32_t reg = c.Post("/machine/register", RegisterBody(node, "", "old"));
    co_await c.PumpUntil([&] { return c.stream(reg).closed; });
    EXPECT_EQ(json::parse(c.stream(reg).body).value("MachineAuthorized", false), true) << c.stream(reg).body;
    auto after = tailnet_->snapshot()->FindByNodeKey(node);
    CO_ASSERT(after != nullptr);
    EXPECT_EQ(after->id, id);
    EXPECT_EQ(after->ipv4, before->ipv4);
    EXPECT_EQ(tailnet_->snapshot()->nodes.size(), 1u);
  });
}

TEST_F(LegacyTest, BadInputIsRefusedAndStoresNothing) {
  Run([&]() -> awaitable<void> {
    LegacyClient old(keys_.legacy);
    LegacyClient other(keys_.legacy);
    crypto::NodePublic node = NewNodeKey();
    std::string sealed = old.Seal(RegisterBody(node, auth_key_, "old", 1));
    auto expect_refused = [&](std::pair<int, std::string> r, int status, std::string_view text) {
      EXPECT_EQ(r.first, status) << r.second;
      EXPECT_NE(r.second.find(text), std::string::npos) << r.second;
    };
    expect_refused(co_await Post(port_, "/machine/not-a-key", sealed), 400, "bad machine key");
    expect_refused(co_await Post(port_, "/machine/" + std::string(64, 'z'), sealed), 400, "bad machine key");
    // Sealed by another machine, sent under old's key: the box does not open.
    expect_refused(co_await Post(port_, RegisterTarget(old), other.Seal(RegisterBody(node, auth_key_, "x", 1))), 400,
                   "does not open");
    expect_refused(co_await Post(port_, RegisterTarget(old), sealed.substr(0, sealed.size() - 1)), 400, "does not open");
    expect_refused(co_await Post(port_, RegisterTarget(old), sealed.substr(0, 20)), 400, "does not open");
    expect_refused(co_await Post(port_, RegisterTarget(old), std::string(2 << 20, 'x')), 413, "too large");
    expect_refused(co_await Post(port_, RegisterTarget(old), old.Seal("{not json")), 400, "");
    EXPECT_TRUE(NodeKeys().empty());
    // The genuine request works once; the same bytes again are a replay.
    EXPECT_EQ((co_await Post(port_, RegisterTarget(old), sealed)).first, 200);
    expect_refused(co_await Post(port_, RegisterTarget(old), sealed), 400, "replayed");
    EXPECT_EQ(NodeKeys().size(), 1u);
  });
}

}  // namespace
}  // namespace keel::control::testing
