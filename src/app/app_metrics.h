#pragma once
// The metrics whose values live elsewhere and are read when Prometheus scrapes: nodes (all
// and online) from the tailnet's snapshot, and the embedded relay's clients, packets and STUN
// answers from its statistics. Everything counted as it happens is in base/metrics.h's
// registry instead.

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <functional>
#include <vector>

#include "derp/relay.h"
#include "derp/stun_server.h"
#include "tailnet/tailnet.h"

namespace keel::app {

class ScrapeCollector final : public prometheus::Collectable {
 public:
  // `tailnet` must outlive this. `relay` / `stun` give the relay's statistics, or are empty
  // when the embedded relay (or its STUN) is off.
  ScrapeCollector(const tailnet::Tailnet& tailnet, std::function<derp::RelayStats()> relay,
                  std::function<derp::StunStats()> stun);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const tailnet::Tailnet& tailnet_;
  std::function<derp::RelayStats()> relay_;
  std::function<derp::StunStats()> stun_;
};

}  // namespace keel::app
