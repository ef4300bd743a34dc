// The HA prober against in-process clients: routers sharing a prefix get PingRequests on
// their map streams; one that answers keeps serving, one whose stream stays open but which
// never answers loses its primary route. Bad answers are refused without effect.
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>

#include "control/test_fixture.h"

namespace keel::control::testing {
namespace {

using boost::asio::awaitable;
using nlohmann::json;

constexpr const char* kPrefix = "10.9.0.0/24";

class HaProbeTest : public ControlServerTest {
 protected:
  HaProbeTest() : ControlServerTest(ProbeSettings()) {}

  static Settings ProbeSettings() {
    Settings s = DefaultSettings();
    s.ha_probe_interval = std::chrono::seconds(2);  // Headscale's minimum
    s.ha_probe_timeout = std::chrono::seconds(1);
    return s;
  }

  struct Router {
    std::unique_ptr<H2Client> client;
    crypto::NodePublic node;
    int32_t map = 0;
    model::NodeId id = 0;
  };

  // Registers a router announcing kPrefix, opens its map stream and approves the route.
  awaitable<bool> StartRouter(Router& r, const std::string& host) {
    auto conn = co_await DialNoise(port_, crypto::GeneratePrivateKey(), ControlPublic(), 145, nullptr);
    if (!conn) co_return false;
    r.client = std::make_unique<H2Client>(std::move(conn));
    r.node = NewNodeKey();
    int32_t reg = r.client->Post("/machine/register", RegisterBody(r.node, auth_key_, host));
    co_await r.client->PumpUntil([&] { return r.client->stream(reg).closed; });
    json body = json::parse(MapBody(r.node, true));
    body["Hostinfo"]["RoutableIPs"] = {kPrefix};
    r.map = r.client->Post("/machine/map", body.dump());
    if (!co_await r.client->PumpUntil([&] { return !DecodeFrames(r.client->stream(r.map).body).empty(); })) {
      co_return false;
    }
    r.id = tailnet_->snapshot()->FindByNodeKey(r.node)->id;
    co_return tailnet_->ApproveRoutes(r.id, {kPrefix}).has_value();
  }

  // The path and query of each PingRequest the router's stream carried so far.
  static std::vector<std::string> Pings(const Router& r) {
    std::vector<std::string> out;
    for (const auto& f : DecodeFrames(r.client->stream(r.map).body)) {
      if (!f.contains("PingRequest")) continue;
      EXPECT_EQ(f["PingRequest"]["URLIsNoise"], true);
      std::string url = f["PingRequest"]["URL"];
      out.push_back(url.substr(url.find("/machine/")));
    }
    return out;
  }

  // Answers every ping `r` gets until its connection closes.
  awaitable<void> Answer(Router& r) {
    size_t answered = 0;
    while (co_await r.client->PumpUntil([&] { return Pings(r).size() > answered; })) {
      for (auto pings = Pings(r); answered < pings.size(); ++answered) {
        r.client->Post(pings[answered], "");
      }
    }
  }

  std::vector<std::string> PrimaryRoutes(const Router& r) {
    return tailnet_->snapshot()->FindNode(r.id)->primary_routes;
  }

  awaitable<bool> WaitFor(std::function<bool()> done, std::chrono::seconds limit) {
    boost::asio::steady_timer t(io_);
    for (auto end = std::chrono::steady_clock::now() + limit; std::chrono::steady_clock::now() < end;) {
      if (done()) co_return true;
      t.expires_after(std::chrono::milliseconds(50));
      co_await t.async_wait(boost::asio::use_awaitable);
    }
    co_return done();
  }
};

TEST_F(HaProbeTest, SilentPrimaryLosesItsRouteAndBadAnswersAreRefused) {
  Run([&]() -> awaitable<void> {
    Router silent, answering;
    CO_ASSERT(co_await StartRouter(silent, "r1"));
    CO_ASSERT(co_await StartRouter(answering, "r2"));
    CO_ASSERT(PrimaryRoutes(silent) == std::vector<std::string>{kPrefix});

    // The silent router's stream gets a ping; nobody else may answer it, nor garbage ids.
    CO_ASSERT(co_await silent.client->PumpUntil([&] { return !Pings(silent).empty(); }));
    std::string ping = Pings(silent)[0];
    EXPECT_TRUE(ping.starts_with("/machine/ping-response?id=")) << ping;
    int32_t stolen = answering.client->Post(ping, "");
    int32_t garbage = answering.client->Post("/machine/ping-response?id=12x", "");
    int32_t unknown = answering.client->Post("/machine/ping-response?id=7", "");
    co_await answering.client->PumpUntil([&] {
      return answering.client->stream(stolen).closed && answering.client->stream(garbage).closed &&
             answering.client->stream(unknown).closed;
    });
    EXPECT_EQ(answering.client->stream(stolen).status, 404);
    EXPECT_EQ(answering.client->stream(garbage).status, 400);
    EXPECT_EQ(answering.client->stream(unknown).status, 404);

    boost::asio::co_spawn(io_, Answer(answering), boost::asio::detached);
    // The first round is undecided (the streams were fresh); the second moves the route.
    bool moved = co_await WaitFor([&] { return !PrimaryRoutes(answering).empty(); }, std::chrono::seconds(8));
    EXPECT_TRUE(moved);
    EXPECT_TRUE(PrimaryRoutes(silent).empty());
    EXPECT_TRUE(tailnet_->snapshot()->FindNode(silent.id)->online);  // the stream is still open
    EXPECT_TRUE(tailnet_->snapshot()->FindNode(silent.id)->unhealthy);
    EXPECT_FALSE(tailnet_->snapshot()->FindNode(answering.id)->unhealthy);
    silent.client->Close();
    answering.client->Close();
  });
}

}  // namespace
}  // namespace keel::control::testing
