// ControlServer in-process: a real http::Server on 127.0.0.1:0, a real Tailnet over an
// in-memory SQLite store, and test clients speaking /key, /ts2021, Noise and HTTP/2.

#include "control/server.h"

#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <spdlog/sinks/ringbuffer_sink.h>

#include "control/test_fixture.h"
#include "tailnet/auth_requests.h"

namespace keel::control::testing {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using nlohmann::json;

TEST_F(ControlServerTest, KeyEndpoint) {
  Run([&]() -> awaitable<void> {
    auto [status, body] = co_await HttpGet(port_, "/key?v=145");
    EXPECT_EQ(status, 200);
    json j = json::parse(body);
    EXPECT_EQ(j["publicKey"], ControlPublic().ToText());
    EXPECT_NE(j["legacyPublicKey"], j["publicKey"]);
    EXPECT_NE(j["legacyPublicKey"], "mkey:" + std::string(64, '0'));
    EXPECT_EQ((co_await HttpGet(port_, "/key")).first, 400);
    EXPECT_EQ((co_await HttpGet(port_, "/key?v=abc")).first, 400);
    auto old = co_await HttpGet(port_, "/key?v=30");
    EXPECT_EQ(old.first, 400);
    EXPECT_NE(old.second.find("too old"), std::string::npos);
  });
}

TEST_F(ControlServerTest, TooOldClientIsToldAndLoggedOnce) {
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256);
  auto log = GetLogger("control");
  log->sinks().push_back(sink);
  Run([&]() -> awaitable<void> {
    auto conn = co_await DialNoise(port_, crypto::GeneratePrivateKey(), ControlPublic(), 60, nullptr);
    CO_ASSERT(conn != nullptr);
    H2Client c(std::move(conn));
    for (int i = 0; i < 3; ++i) {  // tailscaled retries every few seconds
      int32_t reg = c.Post("/machine/register", RegisterBody(NewNodeKey(), auth_key_, "old", 60));
      co_await c.PumpUntil([&] { return c.stream(reg).closed; });
      EXPECT_EQ(c.stream(reg).status, 200);
      EXPECT_EQ(json::parse(c.stream(reg).body).value("Error", ""),
                "keel: client capability version 60 (Tailscale v1.38) is too old; this server needs >= 88 "
                "(v1.62); please upgrade Tailscale");
    }
    EXPECT_TRUE(tailnet_->snapshot()->nodes.empty());
  });
  log->sinks().pop_back();
  int logged = 0;
  for (const auto& line : sink->last_formatted()) logged += line.find("too old") != std::string::npos;
  EXPECT_EQ(logged, 1);
}

TEST_F(ControlServerTest, RegisterAndMapStreamWithPeerDelta) {
  Run([&]() -> awaitable<void> {
    auto machine_a = crypto::GeneratePrivateKey();
    crypto::NodePublic node_a(crypto::PublicFromPrivate(crypto::GeneratePrivateKey()));
    std::string early;
    auto conn_a = co_await DialNoise(port_, machine_a, ControlPublic(), 145, &early);
    CO_ASSERT(conn_a);
    EXPECT_EQ(early.substr(0, 5), "\xff\xff\xffTS");
    EXPECT_NE(early.find("chalpub:"), std::string::npos);
    H2Client a(std::move(conn_a));

    // Junk and refusals first: nothing is stored.
    int32_t junk = a.Post("/machine/register", "{not json");
    int32_t old = a.Post("/machine/register", RegisterBody(node_a, auth_key_, "old", 60));
    int32_t unknown_map = a.Post("/machine/map", MapBody(node_a, false));
    int32_t bad_key = a.Post("/machine/register", RegisterBody(node_a, "keel-auth-nope", "a"));
    co_await a.PumpUntil([&] {
      return a.stream(junk).closed && a.stream(old).closed && a.stream(unknown_map).closed && a.stream(bad_key).closed;
    });
    EXPECT_EQ(a.stream(junk).status, 400);
    // Below the floor: the refusal is the response's Error, which `tailscale up` prints.
    EXPECT_EQ(a.stream(old).status, 200);
    EXPECT_NE(json::parse(a.stream(old).body).value("Error", "").find("60 (Tailscale v1.38) is too old"),
              std::string::npos) << a.stream(old).body;
    EXPECT_EQ(a.stream(unknown_map).status, 404);
    EXPECT_EQ(a.stream(bad_key).status, 200);
    EXPECT_NE(json::parse(a.stream(bad_key).body)["Error"], "");
    EXPECT_TRUE(tailnet_->snapshot()->nodes.empty());

    int32_t reg = a.Post("/machine/register", RegisterBody(node_a, auth_key_, "laptop"));
    co_await a.PumpUntil([&] { return a.stream(reg).closed; });
    CO_ASSERT(a.stream(reg).status == 200);
    json rr = json::parse(a.stream(reg).body);
    EXPECT_EQ(rr["Error"], "");
    EXPECT_EQ(rr["MachineAuthorized"], true);
    EXPECT_EQ(rr["Login"]["LoginName"], "alice@example.com");

    int32_t map = a.Post("/machine/map", MapBody(node_a, true));
    co_await a.PumpUntil([&] { return !DecodeFrames(a.stream(map).body).empty(); });
    auto frames = DecodeFrames(a.stream(map).body);
    CO_ASSERT(a.stream(map).status == 200 && !frames.empty());
    json first = frames[0];
    EXPECT_EQ(first["Node"]["Key"], node_a.ToText());
    EXPECT_EQ(first["Node"]["MachineAuthorized"], true);
    EXPECT_EQ(first["Node"]["Name"], "laptop.keel.internal.");
    EXPECT_EQ(first["DERPMap"]["Regions"]["900"]["RegionCode"], "own");
    EXPECT_FALSE(first.contains("Peers"));

    // A second machine registers; A's stream gets it as PeersChanged.
    auto machine_b = crypto::GeneratePrivateKey();
    crypto::NodePublic node_b(crypto::PublicFromPrivate(crypto::GeneratePrivateKey()));
    auto conn_b = co_await DialNoise(port_, machine_b, ControlPublic(), 145, &early);
    CO_ASSERT(conn_b);
    H2Client b(std::move(conn_b));
    int32_t reg_b = b.Post("/machine/register", RegisterBody(node_b, auth_key_, "nas"));
    co_await b.PumpUntil([&] { return b.stream(reg_b).closed; });
    EXPECT_EQ(json::parse(b.stream(reg_b).body)["MachineAuthorized"], true);

    // B may not poll with A's node key.
    int32_t stolen = b.Post("/machine/map", MapBody(node_a, false));
    co_await b.PumpUntil([&] { return b.stream(stolen).closed; });
    EXPECT_EQ(b.stream(stolen).status, 403);

    auto has_b = [&] {
      for (const auto& f : DecodeFrames(a.stream(map).body)) {
        if (f.contains("PeersChanged") && f["PeersChanged"][0]["Key"] == node_b.ToText()) return true;
      }
      return false;
    };
    EXPECT_TRUE(co_await a.PumpUntil(has_b));
    a.Close();
    b.Close();
  });
}

// A register request with a Followup URL, as tailscaled sends while its user logs in.
std::string FollowupBody(const crypto::NodePublic& key, const std::string& url) {
  json j = json::parse(RegisterBody(key, "", "laptop"));
  j.erase("Auth");
  j["Followup"] = url;
  return j.dump();
}

TEST_F(ControlServerTest, LoginIsRefusedWithoutAuthRequests) {
  Run([&]() -> awaitable<void> {
    auto conn = co_await DialNoise(port_, crypto::GeneratePrivateKey(), ControlPublic(), 145, nullptr);
    CO_ASSERT(conn != nullptr);
    H2Client c(std::move(conn));
    int32_t reg = c.Post("/machine/register", FollowupBody(NewNodeKey(), ""));
    co_await c.PumpUntil([&] { return c.stream(reg).closed; });
    EXPECT_EQ(json::parse(c.stream(reg).body).value("Error", ""),
              "interactive login is not enabled on this server; use --auth-key");
    EXPECT_TRUE(tailnet_->snapshot()->nodes.empty());
  });
}

TEST_F(ControlServerTest, LoginSendsAnAuthUrlAndTheFollowupWaitsForTheVerdict) {
  tailnet::AuthRequests auth(clock_, std::chrono::seconds(60));
  control_->SetAuthRequests(auth);
  Run([&]() -> awaitable<void> {
    auto machine = crypto::GeneratePrivateKey();
    auto conn = co_await DialNoise(port_, machine, ControlPublic(), 145, nullptr);
    CO_ASSERT(conn != nullptr);
    H2Client c(std::move(conn));
    crypto::NodePublic node = NewNodeKey();

    int32_t first = c.Post("/machine/register", FollowupBody(node, ""));
    int32_t retry = c.Post("/machine/register", FollowupBody(node, ""));
    co_await c.PumpUntil([&] { return c.stream(first).closed && c.stream(retry).closed; });
    json answer = json::parse(c.stream(first).body);
    std::string url = answer.value("AuthURL", "");
    CO_ASSERT(url.starts_with("http://127.0.0.1:8080/register/keel-authreq-"));
    EXPECT_EQ(answer.value("MachineAuthorized", true), false);
    EXPECT_EQ(json::parse(c.stream(retry).body).value("AuthURL", ""), url);  // one login
    std::string id = url.substr(url.rfind('/') + 1);
    EXPECT_TRUE(tailnet_->snapshot()->nodes.empty());

    // Another machine naming this login does not wait on it: it gets its own.
    auto other_conn = co_await DialNoise(port_, crypto::GeneratePrivateKey(), ControlPublic(), 145, nullptr);
    CO_ASSERT(other_conn != nullptr);
    H2Client other(std::move(other_conn));
    int32_t hijack = other.Post("/machine/register", FollowupBody(NewNodeKey(), url));
    co_await other.PumpUntil([&] { return other.stream(hijack).closed; });
    std::string other_url = json::parse(other.stream(hijack).body).value("AuthURL", "");
    EXPECT_TRUE(other_url.starts_with("http://127.0.0.1:8080/register/keel-authreq-"));
    EXPECT_NE(other_url, url);

    // The follow-up is held until someone registers the login, then answers authorized.
    bool decided = false;
    asio::co_spawn(co_await asio::this_coro::executor, [&]() -> awaitable<void> {
      asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(300));
      co_await t.async_wait(asio::use_awaitable);
      auto pending = auth.Find(id).value();
      auto alice = tailnet_->snapshot()->FindUserByName("alice")->id;
      EXPECT_EQ(tailnet_->RegisterInteractive(*pending.registration, alice).value().kind,
                tailnet::RegisterOutcome::Kind::kAuthorized);
      decided = true;
      EXPECT_TRUE(auth.Decide(id, true));
    }, asio::detached);
    int32_t wait = c.Post("/machine/register", FollowupBody(node, url));
    co_await c.PumpUntil([&] { return c.stream(wait).closed; });
    EXPECT_TRUE(decided);
    json done = json::parse(c.stream(wait).body);
    EXPECT_EQ(done.value("MachineAuthorized", false), true) << c.stream(wait).body;
    EXPECT_EQ(done.value("AuthURL", ""), "");
    EXPECT_EQ(done["Login"]["LoginName"], "alice@example.com");
    EXPECT_NE(tailnet_->snapshot()->FindByNodeKey(node), nullptr);

    // A rejected login: the follow-up answers with the reason, and nothing is stored.
    std::string other_id = other_url.substr(other_url.rfind('/') + 1);
    auto other_node = auth.Find(other_id)->registration->node_key;
    CO_ASSERT(auth.Decide(other_id, false, "keel: not on this tailnet"));
    int32_t refused = other.Post("/machine/register", FollowupBody(other_node, other_url));
    co_await other.PumpUntil([&] { return other.stream(refused).closed; });
    EXPECT_EQ(json::parse(other.stream(refused).body).value("Error", ""), "keel: not on this tailnet");
    EXPECT_EQ(tailnet_->snapshot()->FindByNodeKey(other_node), nullptr);
    // tailscaled repeats the refused follow-up: it is told once, then given a new login.
    int32_t repeat = other.Post("/machine/register", FollowupBody(other_node, other_url));
    co_await other.PumpUntil([&] { return other.stream(repeat).closed; });
    json again = json::parse(other.stream(repeat).body);
    EXPECT_EQ(again.value("Error", ""), "");
    std::string next_url = again.value("AuthURL", "");
    EXPECT_TRUE(next_url.starts_with("http://127.0.0.1:8080/register/keel-authreq-")) << next_url;
    EXPECT_NE(next_url, other_url);
  });
}

}  // namespace
}  // namespace keel::control::testing

namespace keel::control::testing {
namespace {

// A pinned relay and a region with no nodes, as a DERP map file could hold them.
class DerpForOldClientsTest : public ControlServerTest {
 protected:
  static Settings WithPinnedRelay() {
    Settings s = DefaultSettings();
    s.derp_map = nlohmann::json::parse(R"({"Regions":{
      "900":{"RegionID":900,"RegionCode":"own","Nodes":[{"Name":"900a","RegionID":900,"HostName":"127.0.0.1","CertName":"sha256-raw:0011"}]},
      "901":{"RegionID":901,"RegionCode":"empty","Nodes":[]}}})");
    return s;
  }
  DerpForOldClientsTest() : ControlServerTest(WithPinnedRelay()) {}

  // The first map a client of `capver` gets.
  boost::asio::awaitable<nlohmann::json> FirstMap(int capver) {
    auto conn = co_await DialNoise(port_, crypto::GeneratePrivateKey(), ControlPublic(), capver, nullptr);
    if (!conn) co_return nullptr;
    H2Client c(std::move(conn));
    crypto::NodePublic node = NewNodeKey();
    int32_t reg = c.Post("/machine/register", RegisterBody(node, auth_key_, "n", capver));
    co_await c.PumpUntil([&] { return c.stream(reg).closed; });
    nlohmann::json body = nlohmann::json::parse(MapBody(node, false));
    body["Version"] = capver;
    body["OmitPeers"] = false;
    int32_t map = c.Post("/machine/map", body.dump());
    co_await c.PumpUntil([&] { return c.stream(map).closed; });
    auto frames = DecodeFrames(c.stream(map).body);
    co_return frames.empty() ? nlohmann::json() : frames[0];
  }
};

TEST_F(DerpForOldClientsTest, PinsOnlyForClientsThatCheckThem) {
  Run([&]() -> awaitable<void> {
    json old = co_await FirstMap(88);  // v1.62
    CO_ASSERT(old.contains("DERPMap"));
    const json& old_node = old["DERPMap"]["Regions"]["900"]["Nodes"][0];
    EXPECT_FALSE(old_node.contains("CertName")) << old_node;
    EXPECT_EQ(old_node.value("InsecureForTests", false), true);
    EXPECT_FALSE(old["DERPMap"]["Regions"].contains("901"));  // v1.62-v1.74 crash on it

    json current = co_await FirstMap(142);
    CO_ASSERT(current.contains("DERPMap"));
    const json& node = current["DERPMap"]["Regions"]["900"]["Nodes"][0];
    EXPECT_EQ(node.value("CertName", ""), "sha256-raw:0011");
    EXPECT_FALSE(node.contains("InsecureForTests"));
    EXPECT_FALSE(current["DERPMap"]["Regions"].contains("901"));
  });
}

}  // namespace
}  // namespace keel::control::testing
