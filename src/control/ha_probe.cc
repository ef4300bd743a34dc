// HA subnet routers: a router whose map stream stays open but which no longer answers (a
// hung tailscaled, a machine that lost its network without closing the connection) would
// keep its primary routes forever. Every probe interval keel sends each router that shares a
// subnet prefix with another a PingRequest on its map stream; the client answers with a HEAD
// over its Noise channel. A router that does not answer within the timeout is reported
// unhealthy and the tailnet moves its primary routes (tailnet::SetRouterHealth).
//
// Silence is read as failure only from a stream that was already open at the previous round:
// a client that just reconnected may still be applying its map. A round in which such a
// fresh stream stays silent decides nothing, so the election never acts on half a picture.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <map>
#include <set>

#include "base/run_blocking.h"
#include "control/server_internal.h"
#include "model/routes.h"

namespace keel::control {
namespace {

namespace asio = boost::asio;
using asio::awaitable;

// Online routers serving a subnet prefix that another online router serves too.
std::set<model::NodeId> HaRouters(const tailnet::Snapshot& snap) {
  std::map<std::string, std::vector<model::NodeId>> by_prefix;
  for (model::NodeId id : snap.routers) {
    const model::Node* n = snap.FindNode(id);
    if (n == nullptr || !n->online) continue;
    for (const auto& r : n->routes_in_effect) {
      if (!model::IsExitRoute(r)) by_prefix[r].push_back(id);
    }
  }
  std::set<model::NodeId> out;
  for (const auto& [prefix, ids] : by_prefix) {
    if (ids.size() > 1) out.insert(ids.begin(), ids.end());
  }
  return out;
}

// The first map session of each node (a node rarely has two; probing one is enough).
std::map<model::NodeId, std::pair<uint64_t, std::shared_ptr<MapSession>>> SessionsByNode(
    const ServerState& impl) {
  std::map<model::NodeId, std::pair<uint64_t, std::shared_ptr<MapSession>>> out;
  for (const auto& [id, session] : impl.sessions) out.try_emplace(session->node, id, session);
  return out;
}

awaitable<bool> Sleep(asio::steady_timer& timer, std::chrono::seconds d) {
  timer.expires_after(d);
  auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return !ec;
}

}  // namespace

awaitable<void> RunHaProber(std::shared_ptr<ServerState> impl) {
  asio::steady_timer& timer = impl->ha_timer;  // Shutdown cancels it
  impl->next_ping_id = uint64_t{impl->rng()} << 20;
  std::map<model::NodeId, uint64_t> stable;  // node -> the session probed in the last round
  const auto interval = impl->settings.ha_probe_interval, timeout = impl->settings.ha_probe_timeout;
  // Rounds start every `interval`; a round that sent pings spent `timeout` of it waiting.
  auto wait = interval;
  while (co_await Sleep(timer, wait) && !impl->shut_down) {
    wait = interval;
    auto candidates = HaRouters(*impl->tailnet.snapshot());
    auto sessions = SessionsByNode(*impl);
    std::map<model::NodeId, std::pair<uint64_t, bool>> probed;  // node -> session, was stable
    std::map<uint64_t, model::NodeId> sent;                     // ping id -> node
    for (model::NodeId node : candidates) {
      auto s = sessions.find(node);
      if (s == sessions.end()) continue;  // not connected: the stream drop already counted
      auto [session_id, session] = s->second;
      // A TS2019 client cannot answer a ping over Noise; only its stream tells its health.
      if (session->ts2019) continue;
      auto prev = stable.find(node);
      probed[node] = {session_id, prev != stable.end() && prev->second == session_id};
      uint64_t ping = impl->next_ping_id++;
      impl->pings[ping] = {node, false};
      sent[ping] = node;
      session->ping_urls.push_back("https://unused" + std::string(kPingResponsePath) +
                                   "?id=" + std::to_string(ping));
      session->Wake();
    }
    stable.clear();
    for (const auto& [node, p] : probed) stable[node] = p.first;
    if (sent.empty()) continue;
    if (!co_await Sleep(timer, timeout) || impl->shut_down) break;
    wait = interval - timeout;

    std::map<model::NodeId, bool> healthy;
    bool undecided = false;
    auto now_sessions = SessionsByNode(*impl);
    for (const auto& [ping, node] : sent) {
      bool answered = impl->pings[ping].answered;
      impl->pings.erase(ping);
      if (answered) {
        healthy[node] = true;
        continue;
      }
      auto now = now_sessions.find(node);
      if (now == now_sessions.end()) continue;  // gone offline: the tailnet knows already
      auto [session_id, was_stable] = probed[node];
      if (now->second.first != session_id || !was_stable) {
        undecided = true;  // reconnected during the probe, or too fresh to judge
        continue;
      }
      impl->log->warn("HA probe: node {} did not answer within {}s", node, timeout.count());
      healthy[node] = false;
    }
    if (undecided || healthy.empty()) continue;
    auto call = [impl, h = std::move(healthy)] {
      impl->tailnet.SetRouterHealth(h);
      return 0;
    };
    co_await RunBlocking(impl->pool, std::move(call));
  }
}

void HandlePingResponse(ServerState& impl, const crypto::MachinePublic& machine,
                        const http::Request& req, http::H2Stream& stream) {
  auto text = req.Query("id").value_or("");
  uint64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Reply(stream, 400, "keel: want ?id=<ping id>");
  }
  auto it = impl.pings.find(id);
  const model::Node* node = it == impl.pings.end() ? nullptr : impl.tailnet.snapshot()->FindNode(it->second.node);
  // Only the node that was pinged can answer for itself.
  if (node == nullptr || node->machine_key != machine) {
    return Reply(stream, 404, "keel: unknown or expired ping");
  }
  it->second.answered = true;
  Reply(stream, 200, "");
}

}  // namespace keel::control
