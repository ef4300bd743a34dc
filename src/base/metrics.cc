#include "base/metrics.h"

#include <prometheus/text_serializer.h>

namespace keel::metrics {

prometheus::Registry& Registry() {
  // Never destroyed: metrics are updated until the very end of the process.
  static auto* registry = new prometheus::Registry();
  return *registry;
}

std::string Render(const std::vector<std::shared_ptr<prometheus::Collectable>>& extra) {
  std::vector<prometheus::MetricFamily> families = Registry().Collect();
  for (const auto& collectable : extra) {
    auto more = collectable->Collect();
    families.insert(families.end(), more.begin(), more.end());
  }
  return prometheus::TextSerializer().Serialize(families);
}

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};
  return buckets;
}

}  // namespace keel::metrics
