// App's policy file handling: policy.path is applied at start (a bad file stops the start) and
// re-read on SIGHUP, together with the DERP map files (a bad new file is logged and the old policy stays).

#include <boost/asio/post.hpp>
#include <csignal>

#include "app/app.h"
#include "app/embedded_derp.h"
#include "base/file.h"
#include "control/server.h"
#include "tailnet/tailnet.h"

namespace keel::app {
Result<void> App::LoadPolicyFile() {
  if (config_.policy.mode != "file" || config_.policy.path.empty()) return {};
  const std::string& path = config_.policy.path;
  auto text = ReadFileText(path);
  if (!text) return MakeError(text.error().code, "policy.path: " + text.error().message);
  auto set = tailnet_->SetPolicy(*text, tailnet::PolicySource::kFile);
  if (!set) return MakeError(set.error().code, "policy.path " + path + ": " + set.error().message);
  logger_->info("policy loaded from {}", path);
  return {};
}

Result<void> App::ReloadDerpMap() {
  auto map = BuildDerpMap(config_, derp_ ? derp_->region() : nlohmann::json(), *logger_);
  if (!map) return map.error();
  if (*map == derp_map_) return {};
  derp_map_ = *map;
  control_->SetDerpMap(std::move(*map));
  logger_->info("DERP map reloaded; pushing it to connected nodes");
  return {};
}

void App::WatchPolicyReload() {
  if (!reload_signals_) reload_signals_.emplace(io_, SIGHUP);
  reload_signals_->async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    if (auto r = ReloadDerpMap(); !r) {
      logger_->error("SIGHUP: DERP map not reloaded, the old one stays: {}", r.error().message);
    }
    if (auto r = ReloadDns(); !r) {
      logger_->error("SIGHUP: DNS settings not reloaded, the old ones stay: {}", r.error().message);
    }
    if (config_.policy.mode != "file" || config_.policy.path.empty()) {
      logger_->warn("SIGHUP: no policy file to reload (policy.mode {}, policy.path \"{}\")",
                    config_.policy.mode, config_.policy.path);
    } else {
      // Compiling may take a while on a big tailnet: not on the I/O thread.
      boost::asio::post(pool_, [this] {
        auto r = LoadPolicyFile();
        if (!r) logger_->error("SIGHUP: policy not reloaded, the old one stays: {}", r.error().message);
      });
    }
    WatchPolicyReload();
  });
}

}  // namespace keel::app
