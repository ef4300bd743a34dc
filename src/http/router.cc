#include "http/server.h"

namespace keel::http {

void Router::Handle(std::string path, Handler handler) {
  exact_[std::move(path)] = std::move(handler);
}

void Router::HandlePrefix(std::string prefix, Handler handler) {
  prefix_[std::move(prefix)] = std::move(handler);
}

void Router::HandleUpgrade(std::string path, UpgradeHandler handler) {
  upgrade_[std::move(path)] = std::move(handler);
}

const Handler* Router::Find(std::string_view path) const {
  if (auto it = exact_.find(path); it != exact_.end()) return &it->second;
  // Walk prefixes from the longest candidate down; the map is small (a handful of routes).
  const Handler* best = nullptr;
  size_t best_len = 0;
  for (const auto& [prefix, handler] : prefix_) {
    if (prefix.size() >= best_len && path.substr(0, prefix.size()) == prefix) {
      best = &handler;
      best_len = prefix.size();
    }
  }
  return best;
}

const UpgradeHandler* Router::FindUpgrade(std::string_view path) const {
  auto it = upgrade_.find(path);
  return it == upgrade_.end() ? nullptr : &it->second;
}

}  // namespace keel::http
