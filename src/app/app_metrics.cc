#include "app/app_metrics.h"

#include <string>
#include <utility>

namespace keel::app {
namespace {

using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily Family(std::string name, std::string help, MetricType type) {
  return MetricFamily{std::move(name), std::move(help), type, {}};
}

// Adds one sample, with a label when `label` names one.
void Sample(MetricFamily& family, double value,
            std::pair<std::string, std::string> label = {}) {
  prometheus::ClientMetric m;
  if (!label.first.empty()) m.label.push_back({label.first, label.second});
  if (family.type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  family.metric.push_back(std::move(m));
}

}  // namespace

ScrapeCollector::ScrapeCollector(const tailnet::Tailnet& tailnet,
                                 std::function<derp::RelayStats()> relay,
                                 std::function<derp::StunStats()> stun)
    : tailnet_(tailnet), relay_(std::move(relay)), stun_(std::move(stun)) {}

std::vector<MetricFamily> ScrapeCollector::Collect() const {
  std::vector<MetricFamily> out;
  auto snap = tailnet_.snapshot();
  size_t online = 0;
  for (const auto& [id, node] : snap->nodes) online += node->online ? 1 : 0;
  auto nodes = Family("keel_nodes", "Registered nodes", MetricType::Gauge);
  Sample(nodes, static_cast<double>(snap->nodes.size()), {"state", "registered"});
  Sample(nodes, static_cast<double>(online), {"state", "online"});
  out.push_back(std::move(nodes));
  auto users = Family("keel_users", "Users", MetricType::Gauge);
  Sample(users, static_cast<double>(snap->users.size()));
  out.push_back(std::move(users));

  if (relay_) {
    derp::RelayStats s = relay_();
    auto clients = Family("keel_derp_clients", "Clients connected to the embedded DERP relay",
                          MetricType::Gauge);
    Sample(clients, static_cast<double>(s.current_clients));
    out.push_back(std::move(clients));
    auto packets = Family("keel_derp_packets_total", "Packets through the embedded DERP relay",
                          MetricType::Counter);
    Sample(packets, static_cast<double>(s.packets_received), {"kind", "received"});
    Sample(packets, static_cast<double>(s.packets_delivered), {"kind", "delivered"});
    Sample(packets, static_cast<double>(s.packets_forwarded), {"kind", "forwarded"});
    Sample(packets, static_cast<double>(s.packets_dropped_unknown_dest),
           {"kind", "dropped_unknown_dest"});
    Sample(packets, static_cast<double>(s.packets_dropped_queue_full),
           {"kind", "dropped_queue_full"});
    out.push_back(std::move(packets));
  }
  if (stun_) {
    auto stun = Family("keel_stun_requests_total", "STUN binding requests answered",
                       MetricType::Counter);
    Sample(stun, static_cast<double>(stun_().requests));
    out.push_back(std::move(stun));
  }
  return out;
}

}  // namespace keel::app
