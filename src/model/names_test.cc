#include "model/names.h"

#include <gtest/gtest.h>

#include "model/types.h"

namespace keel::model {
namespace {

TEST(SanitizeHostname, FollowsControlDocExamples) {
  EXPECT_EQ(SanitizeHostname("My Laptop.local"), "my-laptop");
  EXPECT_EQ(SanitizeHostname("db_01.corp"), "db-01-corp");
  EXPECT_EQ(SanitizeHostname("build-box"), "build-box");
  EXPECT_EQ(SanitizeHostname("box.localdomain"), "box");
  EXPECT_EQ(SanitizeHostname("box.LAN"), "box");
  EXPECT_EQ(SanitizeHostname("--weird--"), "weird");
  EXPECT_EQ(SanitizeHostname("a\xc3\xa9"), "a");
  EXPECT_EQ(SanitizeHostname("user@host"), "user-host");
  EXPECT_EQ(SanitizeHostname(""), "");
  EXPECT_EQ(SanitizeHostname("\xc3\xa9\xc3\xa9"), "");
  EXPECT_EQ(GivenNameBase("***"), "node");
  EXPECT_EQ(SanitizeHostname(std::string(100, 'x')).size(), 63u);
}

TEST(SanitizeHostname, ResultIsAlwaysAValidLabelOrEmpty) {
  for (std::string h : {"a b", "x.y.z", "-a-", "A_B@C", "ünïcødé", "1", "a..b"}) {
    std::string s = SanitizeHostname(h);
    if (!s.empty()) {
      EXPECT_TRUE(ValidateDnsLabel(s)) << h << " -> " << s;
    }
  }
}

TEST(GivenName, AutoDerivedDetection) {
  EXPECT_TRUE(IsAutoDerivedGivenName("my-laptop", "My Laptop"));
  EXPECT_TRUE(IsAutoDerivedGivenName("my-laptop-2", "My Laptop"));
  EXPECT_FALSE(IsAutoDerivedGivenName("my-laptop-x", "My Laptop"));
  EXPECT_FALSE(IsAutoDerivedGivenName("server", "My Laptop"));
  EXPECT_TRUE(IsAutoDerivedGivenName("node-1", ""));
}

TEST(ValidateDnsLabel, Rules) {
  EXPECT_TRUE(ValidateDnsLabel("abc-1"));
  EXPECT_FALSE(ValidateDnsLabel(""));
  EXPECT_FALSE(ValidateDnsLabel("-abc"));
  EXPECT_FALSE(ValidateDnsLabel("abc-"));
  EXPECT_FALSE(ValidateDnsLabel("ABC"));
  EXPECT_FALSE(ValidateDnsLabel("a.b"));
  EXPECT_FALSE(ValidateDnsLabel(std::string(64, 'a')));
  EXPECT_TRUE(ValidateDnsLabel(std::string(63, 'a')));
}

TEST(ValidateUserName, Rules) {
  EXPECT_TRUE(ValidateUserName("alice"));
  EXPECT_TRUE(ValidateUserName("alice@example.com"));
  EXPECT_TRUE(ValidateUserName("a.b_c-d"));
  EXPECT_FALSE(ValidateUserName(""));
  EXPECT_FALSE(ValidateUserName("Alice"));
  EXPECT_FALSE(ValidateUserName("al ice"));
  EXPECT_FALSE(ValidateUserName(".alice"));
}

TEST(Types, DefaultTimesAreUnset) {
  Node n;
  EXPECT_TRUE(IsZeroTime(n.expiry));
  EXPECT_FALSE(n.IsExpired(std::chrono::system_clock::now()));
  PreAuthKey k;
  EXPECT_FALSE(k.IsExpired(std::chrono::system_clock::now()));
  EXPECT_TRUE(n.node_key.IsZero());
}

}  // namespace
}  // namespace keel::model
