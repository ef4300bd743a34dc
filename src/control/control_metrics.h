#pragma once
// The control server's Prometheus metrics (base/metrics.h): Noise handshakes, registrations,
// map streams and the map responses sent on them. Internal to the control folder.

#include <prometheus/counter.h>
#include <prometheus/gauge.h>

#include <string_view>

namespace keel::control::metrics {

// keel_noise_handshakes_total{result="ok"|"failed"|"too_old"}
prometheus::Counter& Handshakes(std::string_view result);
// keel_registrations_total{outcome="authorized"|"node_key_expired"|"logged_out"|"refused"|
// "error"}
prometheus::Counter& Registrations(std::string_view outcome);
// keel_map_streams: long-poll map streams open now.
prometheus::Gauge& MapStreams();
// keel_map_responses_total and keel_map_response_bytes_total: maps and deltas sent (framed,
// compressed when the client asked), keep-alives not counted.
prometheus::Counter& MapResponses();
prometheus::Counter& MapResponseBytes();

}  // namespace keel::control::metrics
