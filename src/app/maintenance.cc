// The server's periodic housekeeping: the tailnet runs no timer of its own, so the app drives
// Tailnet::RunMaintenance (ephemeral nodes past node.ephemeral.inactivity_timeout) from here.

#include <algorithm>
#include <boost/asio/post.hpp>

#include "app/app.h"
#include "tailnet/tailnet.h"

namespace keel::app {
namespace {

// Often enough that a node goes within a tenth of its timeout after it, never busier than 1/s.
std::chrono::steady_clock::duration MaintenanceInterval(std::chrono::seconds timeout) {
  return std::clamp<std::chrono::steady_clock::duration>(timeout / 10, std::chrono::seconds(1),
                                                         std::chrono::seconds(60));
}

}  // namespace

void App::ScheduleMaintenance() {
  if (!maintenance_timer_) maintenance_timer_.emplace(io_);
  maintenance_timer_->expires_after(MaintenanceInterval(config_.ephemeral_node_inactivity_timeout));
  maintenance_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled at shutdown
    // Deleting nodes writes to the store: off the I/O thread, one run at a time.
    if (!maintenance_running_.exchange(true)) {
      boost::asio::post(pool_, [this] {
        tailnet_->RunMaintenance();
        maintenance_running_ = false;
      });
    }
    ScheduleMaintenance();
  });
}

}  // namespace keel::app
