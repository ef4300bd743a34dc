#include "tailnet/ip_allocator.h"

namespace keel::tailnet {
namespace {

using boost::asio::ip::make_address_v4;
using boost::asio::ip::make_address_v6;
using boost::asio::ip::make_network_v4;
using boost::asio::ip::make_network_v6;
using U128 = unsigned __int128;

U128 ToU128(const IpAllocator::V6& a) {
  U128 v = 0;
  for (uint8_t b : a.to_bytes()) v = (v << 8) | b;
  return v;
}

IpAllocator::V6 FromU128(U128 v) {
  IpAllocator::V6::bytes_type bytes;
  for (int i = 15; i >= 0; --i) {
    bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
  return IpAllocator::V6(bytes);
}

// A prefix as (network, mask) integers, parsed once.
template <class T>
struct Range {
  T net, mask;
  bool Contains(T a) const { return (a & mask) == net; }
};

Range<uint32_t> Range4(const boost::asio::ip::network_v4& n) {
  return {n.network().to_uint(), n.netmask().to_uint()};
}

Range<U128> Range6(const boost::asio::ip::network_v6& n) {
  unsigned bits = n.prefix_length();
  U128 mask = bits == 0 ? 0 : ~U128{0} << (128 - bits);
  return {ToU128(n.network()) & mask, mask};
}

}  // namespace

IpAllocator::IpAllocator(boost::asio::ip::network_v4 prefix4,
                         boost::asio::ip::network_v6 prefix6) {
  // Skip the network and broadcast (all-ones) addresses of each prefix.
  auto r4 = Range4(prefix4);
  first4_ = r4.net + 1;
  last4_ = (r4.net | ~r4.mask) - 1;
  auto r6 = Range6(prefix6);
  first6_ = r6.net + 1;
  last6_ = (r6.net | ~r6.mask) - 1;
  Reset();
}

void IpAllocator::Reset() {
  used4_.clear();
  used6_.clear();
  cursor4_ = first4_;
  cursor6_ = first6_;
}

void IpAllocator::MarkUsed(const std::optional<V4>& v4, const std::optional<V6>& v6) {
  if (v4) used4_.insert(v4->to_uint());
  if (v6) used6_.insert(ToU128(*v6));
}

void IpAllocator::Release(const std::optional<V4>& v4, const std::optional<V6>& v6) {
  if (v4) used4_.erase(v4->to_uint());
  if (v6) used6_.erase(ToU128(*v6));
}

bool IpAllocator::IsReservedV4(const V4& a) {
  static const uint32_t kQuad100 = make_address_v4("100.100.100.100").to_uint();
  static const Range<uint32_t> kChromeOs = Range4(make_network_v4("100.115.92.0/23"));
  uint32_t v = a.to_uint();
  return v == kQuad100 || kChromeOs.Contains(v);
}

bool IpAllocator::IsReservedV6(const V6& a) {
  static const U128 kQuad100v6 = ToU128(make_address_v6("fd7a:115c:a1e0::53"));
  static const Range<U128> k4via6 = Range6(make_network_v6("fd7a:115c:a1e0:b1a::/64"));
  static const Range<U128> k4to6 =
      Range6(make_network_v6("fd7a:115c:a1e0:ab12:4843:cd96:6200::/104"));
  U128 v = ToU128(a);
  return v == kQuad100v6 || k4via6.Contains(v) || k4to6.Contains(v);
}

Result<IpAllocator::V4> IpAllocator::Allocate4() {
  if (first4_ > last4_) {
    return MakeError(Errc::kResourceExhausted, "IPv4 prefix has no usable addresses");
  }
  uint64_t size = uint64_t{last4_} - first4_ + 1;
  uint32_t a = cursor4_ < first4_ || cursor4_ > last4_ ? first4_ : cursor4_;
  for (uint64_t tried = 0; tried < size; ++tried) {
    if (!used4_.contains(a) && !IsReservedV4(V4(a))) {
      used4_.insert(a);
      cursor4_ = a == last4_ ? first4_ : a + 1;
      return V4(a);
    }
    a = a == last4_ ? first4_ : a + 1;
  }
  return MakeError(Errc::kResourceExhausted, "no free IPv4 address left in the tailnet prefix");
}

Result<IpAllocator::V6> IpAllocator::Allocate6() {
  if (first6_ > last6_) {
    return MakeError(Errc::kResourceExhausted, "IPv6 prefix has no usable addresses");
  }
  // A free address is found within |used| + |reserved ranges hit| steps; the bound only
  // stops a pathological scan through the 2^24-address 4-to-6 range.
  U128 limit = U128{used6_.size()} + (U128{1} << 25);
  U128 a = cursor6_ < first6_ || cursor6_ > last6_ ? first6_ : cursor6_;
  for (U128 tried = 0; tried < limit && tried <= last6_ - first6_; ++tried) {
    if (!used6_.contains(a) && !IsReservedV6(FromU128(a))) {
      used6_.insert(a);
      cursor6_ = a == last6_ ? first6_ : a + 1;
      return FromU128(a);
    }
    a = a == last6_ ? first6_ : a + 1;
  }
  return MakeError(Errc::kResourceExhausted, "no free IPv6 address left in the tailnet prefix");
}

Result<std::pair<IpAllocator::V4, IpAllocator::V6>> IpAllocator::Allocate() {
  auto v4 = Allocate4();
  if (!v4) return v4.error();
  auto v6 = Allocate6();
  if (!v6) {
    used4_.erase(v4->to_uint());
    return v6.error();
  }
  return std::make_pair(*v4, *v6);
}

}  // namespace keel::tailnet
