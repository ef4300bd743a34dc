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

void Router::HandleStreamPrefix(std::string prefix, StreamHandler handler) {
  stream_[std::move(prefix)] = std::move(handler);
}

namespace {

// The value of the longest key of `routes` that prefixes `path`; the maps are small.
template <class Map>
const typename Map::mapped_type* LongestPrefix(const Map& routes, std::string_view path) {
  const typename Map::mapped_type* best = nullptr;
  size_t best_len = 0;
  for (const auto& [prefix, handler] : routes) {
    if (prefix.size() >= best_len && path.substr(0, prefix.size()) == prefix) {
      best = &handler;
      best_len = prefix.size();
    }
  }
  return best;
}

}  // namespace

const StreamHandler* Router::FindStream(std::string_view path) const { return LongestPrefix(stream_, path); }

const Handler* Router::Find(std::string_view path) const {
  if (auto it = exact_.find(path); it != exact_.end()) return &it->second;
  return LongestPrefix(prefix_, path);
}

const UpgradeHandler* Router::FindUpgrade(std::string_view path) const {
  auto it = upgrade_.find(path);
  return it == upgrade_.end() ? nullptr : &it->second;
}

}  // namespace keel::http
