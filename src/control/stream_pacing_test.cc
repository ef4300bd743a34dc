// Map streams under a stream of changes: deltas are paced (machine.cc kDeltaPeriod, a burst of
// a few, then one per period) and carry everything; an open stream does not keep old tailnet
// snapshots alive.

#include <boost/asio/steady_timer.hpp>

#include "control/test_fixture.h"

namespace keel::control::testing {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using nlohmann::json;

// The endpoint a frame's PeersChanged or PeersChangedPatch gives node `id`, if any.
std::optional<std::string> EndpointOf(const json& frame, model::NodeId id) {
  std::optional<std::string> out;
  for (const char* field : {"PeersChanged", "PeersChangedPatch"}) {
    if (!frame.contains(field)) continue;
    for (const auto& p : frame[field]) {
      bool match = p.value("ID", model::NodeId{0}) == id || p.value("NodeID", model::NodeId{0}) == id;
      if (match && p.contains("Endpoints") && !p["Endpoints"].empty()) out = p["Endpoints"][0];
    }
  }
  return out;
}

// A watcher and a second node, the mover, whose endpoint changes the watcher must see.
class StreamPacingTest : public ControlServerTest {
 protected:
  // Opens both streams, then waits for the joins' deltas to go out and the bucket to refill.
  awaitable<bool> StartPair() {
    if (!co_await StartWatcher(watcher_, "watcher") || !co_await StartWatcher(mover_, "mover")) {
      co_return false;
    }
    const model::Node* m = tailnet_->snapshot()->FindByNodeKey(mover_.node);
    if (m == nullptr) co_return false;
    mover_id_ = m->id;
    mover_machine_ = m->machine_key;
    co_await Sleep(std::chrono::milliseconds(500));
    co_return true;
  }

  bool Move(const std::string& endpoint) {
    tailnet::MapUpdate u;
    u.endpoints = std::vector<std::string>{endpoint};
    return tailnet_->ApplyMapUpdate(mover_machine_, mover_.node, u).has_value();
  }

  // Reads the watcher's stream until its last frame gives the mover `endpoint`.
  awaitable<bool> WatcherSees(const std::string& endpoint) {
    H2Client& c = *watcher_.client;
    co_return co_await c.PumpUntil([&] {
      auto frames = DecodeFrames(c.stream(watcher_.map).body);
      return !frames.empty() && EndpointOf(frames.back(), mover_id_) == endpoint;
    });
  }

  static awaitable<void> Sleep(std::chrono::milliseconds d) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(d);
    co_await timer.async_wait(asio::use_awaitable);
  }

  Watcher watcher_;
  Watcher mover_;
  model::NodeId mover_id_ = 0;
  crypto::MachinePublic mover_machine_;
};

TEST_F(StreamPacingTest, ChangesFasterThanThePeriodArePacedIntoFewDeltas) {
  Run([&]() -> awaitable<void> {
    CO_ASSERT(co_await StartPair());
    // 30 endpoint changes 10 ms apart: unpaced, about one delta each.
    constexpr int kChanges = 30;
    auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < kChanges; ++i) {
      CO_ASSERT(Move("192.0.2.1:" + std::to_string(1000 + i)));
      co_await Sleep(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(co_await WatcherSees("192.0.2.1:" + std::to_string(1000 + kChanges - 1)))
        << "the last endpoint never arrived";
    auto elapsed = std::chrono::steady_clock::now() - started;
    size_t deltas = 0;  // the frames that carry one of these endpoints
    for (const auto& f : DecodeFrames(watcher_.client->stream(watcher_.map).body)) {
      deltas += EndpointOf(f, mover_id_).value_or("").starts_with("192.0.2.1:");
    }
    // A burst of 4, then one per 100 ms period: elapsed is about 300-400 ms.
    size_t bound = 4 + static_cast<size_t>(elapsed / std::chrono::milliseconds(100)) + 1;
    EXPECT_GE(deltas, 1u);
    EXPECT_LE(deltas, bound) << "deltas were not paced";
    EXPECT_LT(deltas, static_cast<size_t>(kChanges) / 2);
  });
}

TEST_F(StreamPacingTest, AChangeAfterAQuietSpellGoesOutAtOnce) {
  Run([&]() -> awaitable<void> {
    CO_ASSERT(co_await StartPair());
    auto sent = std::chrono::steady_clock::now();
    CO_ASSERT(Move("192.0.2.1:4242"));
    EXPECT_TRUE(co_await WatcherSees("192.0.2.1:4242"));
    // Well under a period: the bucket had refilled, nothing waited.
    EXPECT_LT(std::chrono::steady_clock::now() - sent, std::chrono::milliseconds(80));
  });
}

TEST_F(ControlServerTest, AnOpenStreamDoesNotPinTheSnapshotItStartedFrom) {
  Run([&]() -> awaitable<void> {
    Watcher w;
    auto conn = co_await DialNoise(port_, crypto::GeneratePrivateKey(), ControlPublic(), 145, nullptr);
    CO_ASSERT(conn != nullptr);
    w.client = std::make_unique<H2Client>(std::move(conn));
    w.node = NewNodeKey();
    int32_t reg = w.client->Post("/machine/register", RegisterBody(w.node, auth_key_, "watcher"));
    co_await w.client->PumpUntil([&] { return w.client->stream(reg).closed; });
    // The snapshot the map request is handled against; the stream must not keep it.
    std::weak_ptr<const tailnet::Snapshot> at_request = tailnet_->snapshot();
    w.map = w.client->Post("/machine/map", MapBody(w.node, true));
    CO_ASSERT(co_await w.client->PumpUntil([&] { return !DecodeFrames(w.client->stream(w.map).body).empty(); }));
    CO_ASSERT(co_await NewPeerReachesWatcher(w));
    EXPECT_TRUE(at_request.expired()) << "the open stream holds the snapshot of its request";
  });
}

}  // namespace
}  // namespace keel::control::testing
