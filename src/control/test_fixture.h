#pragma once
// Shared fixture for the in-process ControlServer tests: a real http::Server on 127.0.0.1:0,
// a real Tailnet over an in-memory SQLite store, request bodies, and a "watcher" client that
// keeps a map stream open so tests can prove other connections are not disturbed.
// Test-only; everything runs on the fixture's single io_context thread.

// GCC 12 reports a false mismatched-new-delete on coroutine lambdas (asio's frame allocator).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "base/clock.h"
#include "base/log.h"
#include "control/server.h"
#include "control/test_client.h"
#include "crypto/x25519.h"
#include "store/sqlite_store.h"

// ASSERT_* returns, which a coroutine may not; this ends the coroutine instead.
#define CO_ASSERT(cond)                            \
  do {                                             \
    if (!(cond)) {                                 \
      ADD_FAILURE() << "assertion failed: " #cond; \
      co_return;                                   \
    }                                              \
  } while (0)

namespace keel::control::testing {

inline std::string RegisterBody(const crypto::NodePublic& key, const std::string& auth,
                                const std::string& host, int version = 145) {
  nlohmann::json j = {{"Version", version},
                      {"NodeKey", key.ToText()},
                      {"Auth", {{"AuthKey", auth}}},
                      {"Expiry", "0001-01-01T00:00:00Z"},
                      {"Hostinfo", {{"Hostname", host}, {"OS", "linux"}}}};
  return j.dump();
}

inline std::string MapBody(const crypto::NodePublic& key, bool stream) {
  nlohmann::json j = {{"Version", 145},
                      {"NodeKey", key.ToText()},
                      {"DiscoKey", "discokey:" + std::string(63, '0') + "7"},
                      {"Compress", "zstd"},
                      {"KeepAlive", true},
                      {"Stream", stream},
                      {"OmitPeers", !stream},
                      {"Endpoints", {"198.51.100.7:41641"}},
                      {"Hostinfo", {{"Hostname", "laptop"}, {"NetInfo", {{"PreferredDERP", 900}}}}}};
  return j.dump();
}

inline crypto::NodePublic NewNodeKey() {
  return crypto::NodePublic(crypto::PublicFromPrivate(crypto::GeneratePrivateKey()));
}

// True when some frame of a map body lists `node` in PeersChanged.
inline bool HasPeerChanged(const std::string& map_body, const crypto::NodePublic& node) {
  for (const auto& f : DecodeFrames(map_body)) {
    if (!f.contains("PeersChanged")) continue;
    for (const auto& p : f["PeersChanged"]) {
      if (p["Key"] == node.ToText()) return true;
    }
  }
  return false;
}

// A registered client with an open map stream.
struct Watcher {
  std::unique_ptr<H2Client> client;
  crypto::NodePublic node;
  int32_t map = 0;
};

class ControlServerTest : public ::testing::Test {
 protected:
  // Settings the tests share; a subclass passes its own changes of them.
  static Settings DefaultSettings() {
    Settings s;
    s.derp_map = nlohmann::json::parse(
        R"({"Regions":{"900":{"RegionID":900,"RegionCode":"own","Nodes":[{"Name":"900a","RegionID":900,"HostName":"127.0.0.1"}]}}})");
    return s;
  }

  explicit ControlServerTest(Settings s = DefaultSettings()) {
    store_ = store::SqliteStore::Open(":memory:").value();
    tailnet_ = std::make_unique<tailnet::Tailnet>(tailnet::Settings{}, *store_, clock_,
                                                  GetLogger("tailnet"));
    tailnet_->Load().value();
    tailnet_->CreateUser("alice", "Alice", "alice@example.com").value();
    auth_key_ = tailnet_->CreatePreAuthKey("alice", true, false, ZeroTime()).value().secret_text;
    keys_.noise = crypto::GeneratePrivateKey();
    keys_.legacy = crypto::GeneratePrivateKey();
    control_ = std::make_unique<ControlServer>(s, keys_, *tailnet_, pool_, io_.get_executor(),
                                               GetLogger("control"));
    control_->RegisterRoutes(router_);
    server_ = std::make_unique<http::Server>(io_.get_executor(), router_, http::ServerSettings{},
                                             GetLogger("http"));
    port_ = server_->ListenTcp("127.0.0.1", 0).value();
  }
  ~ControlServerTest() override {
    control_->Shutdown();
    server_->Stop();
    pool_.join();
  }

  // Runs `body` on the I/O thread to completion (or a 20 s deadline).
  void Run(std::function<boost::asio::awaitable<void>()> body) {
    bool finished = false;
    boost::asio::co_spawn(
        io_,
        [&]() -> boost::asio::awaitable<void> {
          co_await body();
          finished = true;
          io_.stop();
        },
        [](std::exception_ptr e) {
          if (e) std::rethrow_exception(e);
        });
    io_.run_for(std::chrono::seconds(20));
    EXPECT_TRUE(finished) << "timed out";
  }

  crypto::MachinePublic ControlPublic() {
    return crypto::MachinePublic(crypto::PublicFromPrivate(keys_.noise));
  }

  // Node keys in the current tailnet snapshot.
  std::set<std::string> NodeKeys() {
    std::set<std::string> out;
    for (const auto& [id, node] : tailnet_->snapshot()->nodes) out.insert(node->node_key.ToText());
    return out;
  }

  // Registers a fresh machine natively and opens its map stream; returns after the first map.
  boost::asio::awaitable<bool> StartWatcher(Watcher& w, const std::string& host) {
    auto conn = co_await DialNoise(port_, crypto::GeneratePrivateKey(), ControlPublic(), 145, nullptr);
    if (!conn) co_return false;
    w.client = std::make_unique<H2Client>(std::move(conn));
    w.node = NewNodeKey();
    co_return co_await RegisterAndStream(*w.client, w.node, host, &w.map);
  }

  // Registers `node` over `client`, then opens a map stream and waits for its first frame.
  boost::asio::awaitable<bool> RegisterAndStream(H2Client& client, const crypto::NodePublic& node,
                                                 const std::string& host, int32_t* map) {
    int32_t reg = client.Post("/machine/register", RegisterBody(node, auth_key_, host));
    co_await client.PumpUntil([&] { return client.stream(reg).closed; });
    if (client.stream(reg).status != 200) co_return false;
    if (nlohmann::json::parse(client.stream(reg).body)["MachineAuthorized"] != true) co_return false;
    *map = client.Post("/machine/map", MapBody(node, true));
    co_return co_await client.PumpUntil([&] { return !DecodeFrames(client.stream(*map).body).empty(); });
  }

  // A new machine C registers natively; `w` must see it as PeersChanged on its stream.
  boost::asio::awaitable<bool> NewPeerReachesWatcher(Watcher& w) {
    auto conn = co_await DialNoise(port_, crypto::GeneratePrivateKey(), ControlPublic(), 145, nullptr);
    if (!conn) co_return false;
    H2Client c(std::move(conn));
    crypto::NodePublic node_c = NewNodeKey();
    int32_t reg = c.Post("/machine/register", RegisterBody(node_c, auth_key_, "peer-c"));
    co_await c.PumpUntil([&] { return c.stream(reg).closed; });
    if (c.stream(reg).status != 200) co_return false;
    H2Client& a = *w.client;
    int32_t map = w.map;
    bool got = co_await a.PumpUntil([&] { return HasPeerChanged(a.stream(map).body, node_c); });
    c.Close();
    co_return got;
  }

  RealClock clock_;
  boost::asio::io_context io_;
  boost::asio::thread_pool pool_{1};
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<tailnet::Tailnet> tailnet_;
  std::string auth_key_;
  ServerKeys keys_;
  std::unique_ptr<ControlServer> control_;
  http::Router router_;
  std::unique_ptr<http::Server> server_;
  uint16_t port_ = 0;
};

}  // namespace keel::control::testing
