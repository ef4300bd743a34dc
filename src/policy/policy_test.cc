#include "policy/policy.h"

#include <gtest/gtest.h>

#include "policy/compiler.h"
#include "policy/hujson.h"

namespace keel::policy {
namespace {

TEST(HuJson, CommentsAndTrailingCommas) {
  auto doc = ParseHuJson("{\n // c\n \"a\": [1, 2,], /* x */\n \"b\": \"//not\",\n}");
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ((*doc)["a"].size(), 2u);
  EXPECT_EQ((*doc)["b"], "//not");
}

TEST(HuJson, ErrorNamesLine) {
  auto doc = ParseHuJson("{\n\"a\": [1,\n\"b\" 2]\n}");
  ASSERT_FALSE(doc);
  EXPECT_NE(doc.error().message.find("line 3"), std::string::npos) << doc.error().message;
}

// A number no double holds is an error like malformed text, not an exception (found by
// fuzz/policy_fuzz).
TEST(HuJson, NumberOverflowIsAnError) {
  auto doc = ParseHuJson("{\"a\": 1e999}");
  ASSERT_FALSE(doc);
  EXPECT_NE(doc.error().message.find("number overflow"), std::string::npos) << doc.error().message;
  EXPECT_FALSE(ParsePolicy("{\"randomizeClientPort\": -1e400}"));
}

void ExpectRefused(const char* text, const char* needle) {
  auto p = ParsePolicy(text);
  ASSERT_FALSE(p) << text;
  EXPECT_NE(p.error().message.find(needle), std::string::npos) << p.error().message;
}

TEST(Policy, RefusesBadInput) {
  ExpectRefused("{\"acls\": [], \"bogus\": 1}", "bogus");
  ExpectRefused("{\n\"acls\": [{\"action\": \"accept\", \"src\": [\"group:nope\"], \"dst\": [\"*:*\"]}]}",
                "line 2");
  ExpectRefused("{\"acls\": [{\"action\": \"accept\", \"src\": [\"tag:x\"], \"dst\": [\"*:*\"]}]}", "tag:x");
  ExpectRefused("{\"acls\": [{\"action\": \"accept\", \"src\": [\"h\"], \"dst\": [\"*:*\"]}]}", "h");
  ExpectRefused("{\"hosts\": {\"h\": \"10.0.0.0/33\"}}", "h");
  ExpectRefused("{\"acls\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"*:99999\"]}]}", "port");
  ExpectRefused("{\"groups\": {\"group:a\": [\"group:b\"], \"group:b\": [\"group:a\"]}}", "group");
}

// A value of another JSON type than the key takes is the policy's mistake, refused like any
// other, never an exception out of the parser (found by fuzz/policy_fuzz).
TEST(Policy, RefusesValuesOfTheWrongType) {
  ExpectRefused("{\"acls\": [{\"action\": [\"accept\"], \"src\": [\"*\"], \"dst\": [\"*:*\"]}]}",
                "wrong type");
  ExpectRefused("{\"acls\": 5}", "policy");
  ExpectRefused("{\"acls\": [7]}", "policy");
  ExpectRefused("{\"ssh\": [{\"action\": 1, \"src\": [\"*\"], \"dst\": [\"*\"], \"users\": [\"root\"]}]}",
                "policy");
}

TEST(Compiler, UserToTagFilter) {
  auto p = ParsePolicy(R"({
    "tagOwners": {"tag:server": []},
    "acls": [{"action": "accept", "src": ["a@x.com"], "dst": ["tag:server:22"]}],
  })");
  ASSERT_TRUE(p) << p.error().message;
  PolicyUser a{1, "a", "a@x.com", {}};
  std::vector<PolicyNode> nodes = {{1, "laptop", a, {}, "100.64.0.1", "fd7a:115c:a1e0::1", {}, {}},
                                   {2, "server", std::nullopt, {"tag:server"}, "100.64.0.2", "", {}, {}}};
  auto cp = CompiledPolicy::Compile(std::make_shared<const Policy>(std::move(*p)), {a}, nodes);
  ASSERT_TRUE(cp) << cp.error().message;
  auto f = (*cp)->PacketFilter(1);
  ASSERT_EQ(f.size(), 1u) << f.dump();
  EXPECT_EQ(f[0]["DstPorts"][0]["IP"], "100.64.0.2");
  EXPECT_EQ(f[0]["DstPorts"][0]["Ports"]["First"], 22);
  EXPECT_TRUE((*cp)->PacketFilter(0).empty());
  EXPECT_EQ((*cp)->Peers(0), std::vector<uint64_t>{2});
}

TEST(Compiler, DomainWildcardsNeedAnAssociatedDomain) {
  const char* text = R"({"tagOwners": {"tag:s": []},
    "ssh": [{"action": "accept", "src": ["user:*@y.com"], "dst": ["tag:s"], "users": ["root"]}]})";
  PolicyUser a{1, "a", "a@x.com", {}}, b{2, "b", "b@y.com", {}};
  auto policy = std::make_shared<const Policy>(ParsePolicy(text).value());
  EXPECT_FALSE(CompiledPolicy::Compile(policy, {a, b}, {}));  // the owner's domain is x.com
  CompileOptions options;
  options.associated_domains = {"x.com", "y.com"};
  EXPECT_TRUE(CompiledPolicy::Compile(policy, {a, b}, {}, options));
}

TEST(Compiler, SameIdentitySharesSshAndSelfSources) {
  auto p = ParsePolicy(R"({
    "acls": [{"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:22"]}],
    "ssh": [{"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self"], "users": ["root"]}],
  })");
  ASSERT_TRUE(p) << p.error().message;
  PolicyUser a{1, "a", "a@x.com", {}}, b{2, "b", "b@x.com", {}};
  std::vector<PolicyNode> nodes = {{1, "a1", a, {}, "100.64.0.1", "", {}, {}},
                                   {2, "a2", a, {}, "100.64.0.2", "", {}, {}},
                                   {3, "b1", b, {}, "100.64.0.3", "", {}, {}}};
  auto cp = CompiledPolicy::Compile(std::make_shared<const Policy>(std::move(*p)), {a, b}, nodes).value();
  EXPECT_EQ(cp->SshPolicy(0), cp->SshPolicy(1));
  EXPECT_NE(cp->SshPolicy(0), cp->SshPolicy(2));
  auto f = cp->PacketFilter(1);
  ASSERT_EQ(f.size(), 1u) << f.dump();
  EXPECT_EQ(f[0]["SrcIPs"], nlohmann::json({"100.64.0.1-100.64.0.2"}));  // a1 and a2, not b1
  EXPECT_EQ(f[0]["DstPorts"][0]["IP"], "100.64.0.2");
  EXPECT_EQ(cp->Peers(2), std::vector<uint64_t>{});
}

// Compiles `tests` (a JSON array) under a policy that lets a@ reach prodbox (a host outside
// the tailnet) and 10.9.0.0/16 on port 22, and tag:server on 443; returns the outcome.
Result<std::shared_ptr<const CompiledPolicy>> CompileWithTests(const std::string& tests) {
  std::string text = R"({
    "hosts": {"prodbox": "100.103.8.15", "lab": "10.9.0.0/16", "srv": "100.64.0.2"},
    "tagOwners": {"tag:server": []},
    "acls": [{"action": "accept", "src": ["a@x.com"], "dst": ["prodbox:22", "lab:22", "tag:server:443"]}],
    "tests": )" + tests + "}";
  auto p = ParsePolicy(text);
  if (!p) return p.error();
  PolicyUser a{1, "a", "a@x.com", {}}, b{2, "b", "b@x.com", {}};
  std::vector<PolicyNode> nodes = {{1, "laptop", a, {}, "100.64.0.1", "fd7a:115c:a1e0::1", {}, {}},
                                   {2, "server", std::nullopt, {"tag:server"}, "100.64.0.2", "fd7a:115c:a1e0::2", {}, {}},
                                   {3, "other", b, {}, "100.64.0.3", "", {}, {}}};
  return CompiledPolicy::Compile(std::make_shared<const Policy>(std::move(*p)), {a, b}, nodes);
}

TEST(PolicyTests, AddressesAreJudgedByTheRulesWhereverTheyAre) {
  // Hosts and literal addresses outside the tailnet, as Tailscale evaluates them.
  for (const char* pass : {
           R"([{"src": "a@x.com", "accept": ["prodbox:22", "100.103.8.15:22", "10.9.1.1:22"]}])",
           R"([{"src": "a@x.com", "deny": ["prodbox:80", "100.103.8.16:22"]}])",
           R"([{"src": "b@x.com", "deny": ["prodbox:22", "10.9.1.1:22"]}])",
           R"([{"src": "100.64.0.1", "accept": ["prodbox:22"]}])",
           R"([{"src": "a@x.com", "accept": ["srv:443", "[fd7a:115c:a1e0::2]:443", "tag:server:443"]}])",
           R"([{"src": "a@x.com", "proto": "udp", "accept": ["100.103.8.15:22"]}])",
           R"([{"src": "a@x.com", "proto": "icmp", "accept": ["prodbox:0", "tag:server:0"]}])",
           R"([{"src": "a@x.com", "allow": ["prodbox:22"]}])",  // the older name of accept
       }) {
    auto cp = CompileWithTests(pass);
    EXPECT_TRUE(cp) << pass << ": " << cp.error().message;
  }
  for (const char* fail : {
           R"([{"src": "a@x.com", "deny": ["prodbox:22"]}])",
           R"([{"src": "b@x.com", "accept": ["100.103.8.15:22"]}])",
           R"([{"src": "a@x.com", "proto": "sctp", "accept": ["100.103.8.15:22"]}])",
           R"([{"src": "b@x.com", "proto": "icmp", "accept": ["prodbox:0"]}])",
           R"([{"src": "a@x.com", "proto": "gre", "accept": ["prodbox:22"]}])",
           // A range never passes, accept or deny, be it a host alias or a literal.
           R"([{"src": "a@x.com", "accept": ["lab:22"]}])",
           R"([{"src": "b@x.com", "deny": ["lab:22"]}])",
           R"([{"src": "a@x.com", "accept": ["10.9.0.0/16:22"]}])",
       }) {
    EXPECT_FALSE(CompileWithTests(fail)) << fail;
  }
}

TEST(PolicyTests, SshTestDestinationsMayBeSingleAddresses) {
  auto compile = [](const std::string& ssh_tests) {
    std::string text = R"({
      "hosts": {"srv": "100.64.0.2", "outside": "100.103.8.15"},
      "tagOwners": {"tag:server": []},
      "ssh": [{"action": "accept", "src": ["a@x.com"], "dst": ["tag:server"], "users": ["root"]}],
      "sshTests": )" + ssh_tests + "}";
    auto p = ParsePolicy(text);
    if (!p) return Result<std::shared_ptr<const CompiledPolicy>>(p.error());
    PolicyUser a{1, "a", "a@x.com", {}};
    std::vector<PolicyNode> nodes = {{1, "laptop", a, {}, "100.64.0.1", "", {}, {}},
                                     {2, "server", std::nullopt, {"tag:server"}, "100.64.0.2", "fd7a:115c:a1e0::2", {}, {}}};
    return CompiledPolicy::Compile(std::make_shared<const Policy>(std::move(*p)), {a}, nodes);
  };
  for (const char* pass : {
           R"([{"src": "a@x.com", "dst": ["srv", "100.64.0.2", "fd7a:115c:a1e0::2"], "accept": ["root"]}])",
           R"([{"src": "a@x.com", "dst": ["outside", "100.103.8.15"], "deny": ["root"]}])",
       }) {
    auto cp = compile(pass);
    EXPECT_TRUE(cp) << pass << ": " << cp.error().message;
  }
  // Nobody answers SSH at an address outside the tailnet.
  for (const char* fail : {R"([{"src": "a@x.com", "dst": ["outside"], "accept": ["root"]}])",
                           R"([{"src": "a@x.com", "dst": ["100.103.8.15"], "check": ["root"]}])"}) {
    EXPECT_FALSE(compile(fail)) << fail;
  }
  auto range = compile(R"([{"src": "a@x.com", "dst": ["100.64.0.0/24"], "accept": ["root"]}])");
  ASSERT_FALSE(range);
  EXPECT_NE(range.error().message.find("disallowed element"), std::string::npos) << range.error().message;
}

}  // namespace
}  // namespace keel::policy
