#include "tailnet/ip_allocator.h"

#include <gtest/gtest.h>

#include <set>

namespace keel::tailnet {
namespace {

using boost::asio::ip::make_address_v4;
using boost::asio::ip::make_address_v6;
using boost::asio::ip::make_network_v4;
using boost::asio::ip::make_network_v6;

IpAllocator Default() {
  return IpAllocator(make_network_v4("100.64.0.0/10"), make_network_v6("fd7a:115c:a1e0::/48"));
}

TEST(IpAllocator, SequentialFromPrefixStart) {
  auto a = Default();
  auto first = a.Allocate();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->first.to_string(), "100.64.0.1");
  EXPECT_EQ(first->second.to_string(), "fd7a:115c:a1e0::1");
  EXPECT_EQ(a.Allocate()->first.to_string(), "100.64.0.2");
}

TEST(IpAllocator, SkipsReservedAddresses) {
  IpAllocator a(make_network_v4("100.100.100.98/31"), make_network_v6("fd7a:115c:a1e0::50/126"));
  // /31 has no host addresses besides network and broadcast.
  EXPECT_FALSE(a.Allocate());
  IpAllocator b(make_network_v4("100.100.100.96/29"), make_network_v6("fd7a:115c:a1e0::50/124"));
  std::set<std::string> v4, v6;
  for (int i = 0; i < 5; ++i) {
    auto r = b.Allocate();
    ASSERT_TRUE(r) << i;
    v4.insert(r->first.to_string());
    v6.insert(r->second.to_string());
  }
  EXPECT_FALSE(v4.contains("100.100.100.100"));
  EXPECT_FALSE(v4.contains("100.100.100.96"));
  EXPECT_FALSE(v6.contains("fd7a:115c:a1e0::53"));
  // 6 host addresses minus quad-100 leaves 5; the sixth allocation fails.
  EXPECT_EQ(b.Allocate().error().code, Errc::kResourceExhausted);
  EXPECT_TRUE(IpAllocator::IsReservedV4(make_address_v4("100.115.92.7")));
  EXPECT_TRUE(IpAllocator::IsReservedV4(make_address_v4("100.115.93.255")));
  EXPECT_FALSE(IpAllocator::IsReservedV4(make_address_v4("100.115.94.0")));
  EXPECT_TRUE(IpAllocator::IsReservedV6(make_address_v6("fd7a:115c:a1e0:b1a::1")));
}

TEST(IpAllocator, ChromeOsRangeIsSkipped) {
  IpAllocator a(make_network_v4("100.115.88.0/21"), make_network_v6("fd7a:115c:a1e0::/48"));
  for (int i = 0; i < 1500; ++i) {
    auto r = a.Allocate();
    ASSERT_TRUE(r);
    EXPECT_FALSE(IpAllocator::IsReservedV4(r->first)) << r->first.to_string();
  }
}

TEST(IpAllocator, MarkUsedAndRelease) {
  auto a = Default();
  a.MarkUsed(make_address_v4("100.64.0.1"), make_address_v6("fd7a:115c:a1e0::1"));
  auto r = a.Allocate();
  EXPECT_EQ(r->first.to_string(), "100.64.0.2");
  a.Release(make_address_v4("100.64.0.1"), make_address_v6("fd7a:115c:a1e0::1"));
  a.Reset();
  EXPECT_EQ(a.Allocate()->first.to_string(), "100.64.0.1");
}

TEST(IpAllocator, ThousandAllocationsAreUnique) {
  auto a = Default();
  std::set<uint32_t> v4;
  std::set<std::string> v6;
  for (int i = 0; i < 1000; ++i) {
    auto r = a.Allocate();
    ASSERT_TRUE(r);
    EXPECT_TRUE(v4.insert(r->first.to_uint()).second);
    EXPECT_TRUE(v6.insert(r->second.to_string()).second);
  }
}

}  // namespace
}  // namespace keel::tailnet
