// ControlServer resource limits (server.h Limits), in-process: the pre-session cap and
// deadline of ts2021 connections, the per-machine request rate, and slow map-stream readers.
// Each limit must stop the abusive client and leave a well-behaved one (the watcher) served.

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>

#include "base/bytes.h"
#include "base/limits.h"
#include "control/test_fixture.h"

namespace keel::control::testing {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using namespace std::chrono_literals;

awaitable<void> Sleep(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

// A ts2021 connection that completed the Noise handshake and then sends nothing.
awaitable<std::unique_ptr<ByteStream>> HandshakeAndIdle(uint16_t port, const crypto::MachinePublic& control) {
  noise::ClientHandshake hs(crypto::GeneratePrivateKey(), control, 145, crypto::GeneratePrivateKey());
  Upgraded up = co_await UpgradeNative(port, Base64Encode(hs.initiation()));
  if (!up.raw) co_return nullptr;
  auto keys = co_await ReadHandshakeResponse(*up.raw, hs);
  if (!keys) co_return nullptr;
  co_return std::move(up.raw);
}

class LimitsTest : public ControlServerTest {
 protected:
  static Settings WithTightLimits() {
    Settings s = DefaultSettings();
    s.limits.max_presession = 3;
    s.limits.presession_timeout = 1s;
    s.limits.request_rate = 1;
    s.limits.request_burst = 3;
    s.limits.any_request_rate = 1;
    s.limits.any_request_burst = 8;
    s.limits.throttle_delay = 200ms;
    s.limits.max_stream_queue = 1;
    s.limits.slow_reader_timeout = 1s;
    return s;
  }
  LimitsTest() : ControlServerTest(WithTightLimits()) {}

  // A fresh machine's ts2021 session; with `node`, that node registered on it first.
  awaitable<std::unique_ptr<H2Client>> Connect(const crypto::NodePublic* node = nullptr,
                                               const std::string& hostname = "") {
    auto conn = co_await DialNoise(port_, crypto::GeneratePrivateKey(), ControlPublic(), 145, nullptr);
    if (!conn) co_return nullptr;
    auto c = std::make_unique<H2Client>(std::move(conn));
    if (node) {
      int32_t reg = c->Post("/machine/register", RegisterBody(*node, auth_key_, hostname));
      co_await c->PumpUntil([&] { return c->stream(reg).closed; });
      if (c->stream(reg).status != 200) co_return nullptr;
    }
    co_return c;
  }
};

TEST_F(LimitsTest, SilentUpgradesAreCappedAndDroppedAfterThePresessionTimeout) {
  Run([this]() -> awaitable<void> {
    Watcher w;
    CO_ASSERT(co_await StartWatcher(w, "watcher"));
    double refused_before = LimitTrips("ts2021_presession");
    double timeouts_before = LimitTrips("ts2021_presession_timeout");
    std::vector<std::unique_ptr<ByteStream>> idle;
    for (int i = 0; i < 3; ++i) {
      auto raw = co_await HandshakeAndIdle(port_, ControlPublic());
      CO_ASSERT(raw);
      idle.push_back(std::move(raw));
    }
    noise::ClientHandshake hs(crypto::GeneratePrivateKey(), ControlPublic(), 145, crypto::GeneratePrivateKey());
    Upgraded refused = co_await UpgradeNative(port_, Base64Encode(hs.initiation()));
    EXPECT_EQ(refused.status, 503);
    EXPECT_EQ(LimitTrips("ts2021_presession"), refused_before + 1);
    // Each silent connection is closed once its pre-session phase outlives the timeout.
    auto start = std::chrono::steady_clock::now();
    for (auto& raw : idle) co_await ReadUntilClosed(*raw);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
    EXPECT_EQ(LimitTrips("ts2021_presession_timeout"), timeouts_before + 3);
    // Their places are free again, and the established session never noticed.
    auto conn = co_await DialNoise(port_, crypto::GeneratePrivateKey(), ControlPublic(), 145, nullptr);
    EXPECT_TRUE(conn);
    EXPECT_TRUE(co_await NewPeerReachesWatcher(w));
  });
}

TEST_F(LimitsTest, AMachineOverItsRequestRateGets429) {
  Run([this]() -> awaitable<void> {
    Watcher w;
    CO_ASSERT(co_await StartWatcher(w, "watcher"));
    crypto::NodePublic node = NewNodeKey();
    auto client = co_await Connect(&node, "flooder");
    CO_ASSERT(client);
    H2Client& c = *client;
    double before = LimitTrips("machine_request_rate");
    std::vector<int32_t> lite;
    for (int i = 0; i < 4; ++i) lite.push_back(c.Post("/machine/map", MapBody(node, false)));
    co_await c.PumpUntil([&] {
      for (int32_t id : lite) if (!c.stream(id).closed) return false;
      return true;
    });
    int ok = 0, limited = 0;
    for (int32_t id : lite) {
      if (c.stream(id).status == 200) ++ok;
      if (c.stream(id).status == 429) {
        ++limited;
        EXPECT_NE(c.stream(id).body.find("too many requests"), std::string::npos);
      }
    }
    EXPECT_EQ(ok, 2);  // the burst of 3, less the registration
    EXPECT_EQ(limited, 2);
    EXPECT_EQ(LimitTrips("machine_request_rate"), before + 2);
    // The bucket refills, and other machines were never limited.
    co_await Sleep(1100ms);
    int32_t later = c.Post("/machine/map", MapBody(node, false));
    co_await c.PumpUntil([&] { return c.stream(later).closed; });
    EXPECT_EQ(c.stream(later).status, 200);
    EXPECT_TRUE(co_await NewPeerReachesWatcher(w));
  });
}

TEST_F(LimitsTest, ARequestFloodIsHeldThenAnswered429) {
  Run([this]() -> awaitable<void> {
    Watcher w;
    CO_ASSERT(co_await StartWatcher(w, "watcher"));
    auto client = co_await Connect();
    CO_ASSERT(client);
    H2Client& c = *client;
    std::vector<int32_t> ids;
    for (int i = 0; i < 12; ++i) ids.push_back(c.Post("/machine/update-health", "{}"));
    auto start = std::chrono::steady_clock::now();
    co_await c.PumpUntil([&] {
      for (int32_t id : ids) if (!c.stream(id).closed) return false;
      return true;
    });
    auto took = std::chrono::steady_clock::now() - start;
    int ok = 0, limited = 0;
    for (int32_t id : ids) {
      ok += c.stream(id).status == 200;
      limited += c.stream(id).status == 429;
    }
    EXPECT_EQ(ok, 8);  // the burst of any requests
    EXPECT_EQ(limited, 4);
    // Refusals are held first, so a flooder gets at most one per stream per throttle_delay.
    EXPECT_GE(took, 200ms);
    EXPECT_TRUE(co_await NewPeerReachesWatcher(w));
  });
}

TEST_F(LimitsTest, AMapStreamNobodyReadsIsResetAfterTheSlowReaderTimeout) {
  Run([this]() -> awaitable<void> {
    Watcher w;
    CO_ASSERT(co_await StartWatcher(w, "watcher"));
    crypto::NodePublic node = NewNodeKey();
    auto client = co_await Connect(&node, "sleeper");
    CO_ASSERT(client);
    H2Client& c = *client;
    double before = LimitTrips("map_slow_reader");
    c.SetInitialWindow(0);  // from now on the server can send no map bytes
    int32_t map = c.Post("/machine/map", MapBody(node, true));
    auto start = std::chrono::steady_clock::now();
    co_await c.PumpUntil([&] { return c.stream(map).closed; });
    EXPECT_TRUE(c.stream(map).closed);
    EXPECT_EQ(c.stream(map).status, 200);
    EXPECT_TRUE(c.stream(map).body.empty());
    EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
    EXPECT_EQ(LimitTrips("map_slow_reader"), before + 1);
    EXPECT_TRUE(co_await NewPeerReachesWatcher(w));
  });
}

}  // namespace
}  // namespace keel::control::testing
