#pragma once
// IpAllocator: hands out one IPv4 and one IPv6 address per node from the tailnet prefixes
// (control.md §6.1). Sequential first-free from a cursor that starts at the prefix start on
// every Load, so holes left by deleted nodes are refilled after a restart (as Headscale).
// Never returns a reserved address. Not thread-safe: owned by the tailnet's write lock.

#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <optional>
#include <set>
#include <utility>

#include "base/result.h"

namespace keel::tailnet {

class IpAllocator {
 public:
  using V4 = boost::asio::ip::address_v4;
  using V6 = boost::asio::ip::address_v6;

  IpAllocator(boost::asio::ip::network_v4 prefix4, boost::asio::ip::network_v6 prefix6);

  // Forgets everything and restarts the cursors at the prefix start.
  void Reset();
  // Records addresses already held (loaded nodes).
  void MarkUsed(const std::optional<V4>& v4, const std::optional<V6>& v6);
  void Release(const std::optional<V4>& v4, const std::optional<V6>& v6);
  // Next free pair, already marked used; kResourceExhausted when a pool is full.
  Result<std::pair<V4, V6>> Allocate();

  static bool IsReservedV4(const V4& a);
  static bool IsReservedV6(const V6& a);

 private:
  using U128 = unsigned __int128;
  Result<V4> Allocate4();
  Result<V6> Allocate6();

  uint32_t first4_, last4_, cursor4_;
  U128 first6_, last6_, cursor6_;
  std::set<uint32_t> used4_;
  std::set<U128> used6_;
};

}  // namespace keel::tailnet
