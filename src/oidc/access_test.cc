#include "oidc/access.h"

#include <gtest/gtest.h>

namespace keel::oidc {
namespace {

Claims Alice() {
  Claims c;
  c.email = "alice@example.com";
  c.email_verified = true;
  c.groups = {"eng"};
  return c;
}

AccessRules Domains(std::vector<std::string> v) {
  AccessRules r;
  r.allowed_domains = std::move(v);
  return r;
}
AccessRules Users(std::vector<std::string> v, bool verified_required = true) {
  AccessRules r;
  r.allowed_users = std::move(v);
  r.email_verified_required = verified_required;
  return r;
}
AccessRules Groups(std::vector<std::string> v) {
  AccessRules r;
  r.allowed_groups = std::move(v);
  return r;
}

TEST(AccessRefusal, NoRulesLetEveryoneIn) { EXPECT_EQ(AccessRefusal(Alice(), {}), ""); }

TEST(AccessRefusal, DomainsMatchExactly) {
  AccessRules rules = Domains({"example.com"});
  EXPECT_EQ(AccessRefusal(Alice(), rules), "");
  Claims sub = Alice();
  sub.email = "alice@eu.example.com";
  EXPECT_EQ(AccessRefusal(sub, rules), "accounts of eu.example.com may not use this tailnet");
  Claims none = Alice();
  none.email = "";
  EXPECT_NE(AccessRefusal(none, rules), "");
}

TEST(AccessRefusal, UnverifiedEmailsProveNothing) {
  Claims c = Alice();
  c.email_verified = false;
  EXPECT_NE(AccessRefusal(c, Users({"alice@example.com"})), "");
  EXPECT_EQ(AccessRefusal(c, Users({"alice@example.com"}, false)), "");
  EXPECT_EQ(AccessRefusal(c, Groups({"eng"})), "");  // groups need no email
}

TEST(AccessRefusal, UsersAndGroups) {
  EXPECT_NE(AccessRefusal(Alice(), Users({"bob@example.com"})), "");
  EXPECT_EQ(AccessRefusal(Alice(), Users({"bob@example.com", "alice@example.com"})), "");
  EXPECT_NE(AccessRefusal(Alice(), Groups({"ops"})), "");
  EXPECT_EQ(AccessRefusal(Alice(), Groups({"ops", "eng"})), "");
}

}  // namespace
}  // namespace keel::oidc
