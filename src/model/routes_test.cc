#include "model/routes.h"

#include <gtest/gtest.h>

namespace keel::model {
namespace {

TEST(Routes, CanonicalPrefixes) {
  EXPECT_EQ(*CanonicalPrefix("10.99.0.0/24"), "10.99.0.0/24");
  EXPECT_EQ(*CanonicalPrefix("fd00:1::/64"), "fd00:1::/64");
  EXPECT_EQ(*CanonicalPrefix("0.0.0.0/0"), "0.0.0.0/0");
  auto host_bits = CanonicalPrefix("10.99.0.1/24");
  ASSERT_FALSE(host_bits);
  EXPECT_NE(host_bits.error().message.find("did you mean 10.99.0.0/24"), std::string::npos);
  for (const char* bad : {"10.99.0.0", "10.99.0.0/33", "banana", "", "10.0.0.0/-1", "::/129"}) {
    EXPECT_FALSE(CanonicalPrefix(bad)) << bad;
  }
}

TEST(Routes, ExitRouteBringsBothFamilies) {
  auto r = CanonicalRouteList({"0.0.0.0/0", "10.1.0.0/16", "10.1.0.0/16"});
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (std::vector<std::string>{"0.0.0.0/0", "10.1.0.0/16", "::/0"}));
  EXPECT_FALSE(CanonicalRouteList({"10.1.0.0/16", "nope"}));
}

TEST(Routes, FromHostinfo) {
  EXPECT_EQ(RoutesFromHostinfo(R"({"RoutableIPs":["::/0","10.99.0.0/24","0.0.0.0/0","x",3]})"),
            (std::vector<std::string>{"0.0.0.0/0", "10.99.0.0/24", "::/0"}));
  EXPECT_TRUE(RoutesFromHostinfo(R"({"Hostname":"a"})").empty());
  EXPECT_TRUE(RoutesFromHostinfo("not json").empty());
}

}  // namespace
}  // namespace keel::model
