#include "control/control_metrics.h"

#include "base/metrics.h"

namespace keel::control::metrics {
namespace {

prometheus::Family<prometheus::Counter>& CounterFamily(const char* name, const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(keel::metrics::Registry());
}

}  // namespace

prometheus::Counter& Handshakes(std::string_view result) {
  static auto& family = CounterFamily("keel_noise_handshakes_total",
                                      "TS2021 Noise handshakes, by result");
  return family.Add({{"result", std::string(result)}});
}

prometheus::Counter& Registrations(std::string_view outcome) {
  static auto& family = CounterFamily("keel_registrations_total",
                                      "Register requests answered, by outcome");
  return family.Add({{"outcome", std::string(outcome)}});
}

prometheus::Gauge& MapStreams() {
  static auto& gauge = prometheus::BuildGauge()
                           .Name("keel_map_streams")
                           .Help("Long-poll map streams open now")
                           .Register(keel::metrics::Registry())
                           .Add({});
  return gauge;
}

prometheus::Counter& MapResponses() {
  static auto& counter =
      CounterFamily("keel_map_responses_total", "Map responses (full maps and deltas) sent")
          .Add({});
  return counter;
}

prometheus::Counter& MapResponseBytes() {
  static auto& counter =
      CounterFamily("keel_map_response_bytes_total", "Bytes of map responses sent, as framed")
          .Add({});
  return counter;
}

}  // namespace keel::control::metrics
