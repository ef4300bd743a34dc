#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <thread>

#include "policy/compiler.h"
#include "tailnet/test_fixture.h"

namespace keel::tailnet {
namespace {

constexpr const char* kAliceToBob = R"({
  // alice may reach bob's port 22 only
  "acls": [{"action": "accept", "src": ["alice@"], "dst": ["bob@:22"]}],
})";

crypto::Key32 K(int n) {
  crypto::Key32 k{};
  k[0] = static_cast<uint8_t>(n);
  k[31] = 2;
  return k;
}

class PolicyTailnetTest : public TailnetFixture {
 protected:
  void SetUp() override {
    settings_.load_stored_policy = true;
    // Every change compiles at once, however slow the machine (coalescing has its own tests).
    settings_.recompile_gap_factor = 0;
    TailnetFixture::SetUp();
    ASSERT_TRUE(tn_->CreateUser("alice"));
    ASSERT_TRUE(tn_->CreateUser("bob"));
  }
  model::NodeId Join(int n, const std::string& user, const std::string& host) {
    RegisterInput in;
    in.machine_key = crypto::MachinePublic(K(n));
    in.node_key = crypto::NodePublic(K(n + 100));
    in.auth_key = tn_->CreatePreAuthKey(user, false, false, ZeroTime()).value().secret_text;
    in.hostname = host;
    auto out = tn_->Register(in);
    EXPECT_TRUE(out && out->node) << (out ? out->error : out.error().message);
    return out->node->id;
  }
  std::vector<uint64_t> PeersOf(model::NodeId id) {
    auto snap = tn_->snapshot();
    auto idx = snap->policy->IndexOf(id);
    EXPECT_TRUE(idx.has_value());
    return idx ? snap->policy->Peers(*idx) : std::vector<uint64_t>{};
  }
};

TEST_F(PolicyTailnetTest, NoPolicyByDefault) {
  EXPECT_EQ(tn_->snapshot()->policy, nullptr);
  EXPECT_TRUE(tn_->GetPolicy().text.empty());
}

TEST_F(PolicyTailnetTest, SetCompilesAndPublishesPolicyChange) {
  auto a = Join(1, "alice", "a");
  auto b = Join(2, "bob", "b");
  boost::asio::io_context io;
  std::vector<Changes> seen;
  tn_->Subscribe(io.get_executor(), [&](auto, const Changes& c) { seen.push_back(c); });
  ASSERT_TRUE(tn_->SetPolicy(kAliceToBob, PolicySource::kDatabase));
  io.run();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0][0].kind, ChangeKind::kPolicy);
  EXPECT_EQ(PeersOf(a), std::vector<uint64_t>{b});
  EXPECT_EQ(PeersOf(b), std::vector<uint64_t>{a});
  EXPECT_EQ(tn_->GetPolicy().text, kAliceToBob);
}

TEST_F(PolicyTailnetTest, BadPolicyRefusedOldKept) {
  ASSERT_TRUE(tn_->SetPolicy(kAliceToBob, PolicySource::kDatabase));
  auto before = tn_->snapshot()->policy;
  constexpr const char* kUnknownGroup =
      R"({"acls": [{"action": "accept", "src": ["group:nope"], "dst": ["*:*"]}]})";
  auto bad = tn_->SetPolicy(kUnknownGroup, PolicySource::kDatabase);
  ASSERT_FALSE(bad);
  EXPECT_FALSE(bad.error().message.empty());
  EXPECT_EQ(tn_->snapshot()->policy, before);
  EXPECT_EQ(tn_->GetPolicy().text, kAliceToBob);
  EXPECT_FALSE(tn_->CheckPolicy("{not json"));
}

TEST_F(PolicyTailnetTest, FailingTestsRefuse) {
  Join(1, "alice", "a");
  Join(2, "bob", "b");
  std::string text = R"({
    "acls": [{"action": "accept", "src": ["alice@"], "dst": ["bob@:22"]}],
    "tests": [{"src": "bob@", "accept": ["alice@:22"]}],
  })";
  auto r = tn_->SetPolicy(text, PolicySource::kDatabase);
  ASSERT_FALSE(r);
  EXPECT_FALSE(tn_->CheckPolicy(text));
  EXPECT_EQ(tn_->snapshot()->policy, nullptr);
}

TEST_F(PolicyTailnetTest, RecompilesWhenNodesJoinAndLeave) {
  auto a = Join(1, "alice", "a");
  ASSERT_TRUE(tn_->SetPolicy(kAliceToBob, PolicySource::kFile));
  EXPECT_TRUE(PeersOf(a).empty());
  auto b = Join(2, "bob", "b");
  EXPECT_EQ(PeersOf(a), std::vector<uint64_t>{b});
  auto a2 = Join(3, "alice", "a2");
  EXPECT_EQ(PeersOf(b), (std::vector<uint64_t>{a, a2}));
  ASSERT_TRUE(tn_->DeleteNode(a));
  EXPECT_EQ(PeersOf(b), std::vector<uint64_t>{a2});
}

TEST_F(PolicyTailnetTest, JoinRecompileSparesNodesItDoesNotConcern) {
  ASSERT_TRUE(tn_->CreateUser("carol"));
  auto a = Join(1, "alice", "a");
  auto b = Join(2, "bob", "b");
  auto c = Join(3, "carol", "c");
  ASSERT_TRUE(tn_->SetPolicy(kAliceToBob, PolicySource::kFile));
  auto before = tn_->snapshot()->policy;
  Join(4, "alice", "a2");
  auto after = tn_->snapshot()->policy;
  ASSERT_NE(after, before);
  EXPECT_EQ(after->policy(), before->policy());
  auto unchanged = [&](model::NodeId id) { return after->ViewUnchangedSince(*after->IndexOf(id), *before); };
  EXPECT_FALSE(unchanged(b));  // bob sees the new device and its address in his filter
  EXPECT_FALSE(unchanged(a));  // alice's devices follow her own set of devices
  EXPECT_TRUE(unchanged(c));   // carol is in no rule
  EXPECT_EQ(after->TouchedCount(), 3u);
}

TEST_F(PolicyTailnetTest, DatabasePolicySurvivesRestartFileDoesNot) {
  auto a = Join(1, "alice", "a");
  auto b = Join(2, "bob", "b");
  ASSERT_TRUE(tn_->SetPolicy(kAliceToBob, PolicySource::kDatabase));
  Reopen();
  ASSERT_NE(tn_->snapshot()->policy, nullptr);
  EXPECT_EQ(PeersOf(a), std::vector<uint64_t>{b});
  EXPECT_EQ(tn_->GetPolicy().text, kAliceToBob);
  ASSERT_TRUE(tn_->SetPolicy("", PolicySource::kDatabase));
  Reopen();
  EXPECT_EQ(tn_->snapshot()->policy, nullptr);
  ASSERT_TRUE(tn_->SetPolicy(kAliceToBob, PolicySource::kFile));
  Reopen();
  EXPECT_EQ(tn_->snapshot()->policy, nullptr);
}

// A compile that just ran makes the next tailnet changes wait for one shared recompile.
class CoalescedRecompileTest : public PolicyTailnetTest {
 protected:
  void SetUp() override {
    settings_.recompile_gap_floor = std::chrono::milliseconds(2000);
    PolicyTailnetTest::SetUp();
  }
};

TEST_F(CoalescedRecompileTest, BurstOfJoinsCompilesOnceAfterTheGap) {
  ASSERT_TRUE(tn_->SetPolicy(kAliceToBob, PolicySource::kDatabase));
  auto b = Join(1, "bob", "b");  // compiled at once: no compile ran since the policy was set
  uint64_t compiles = tn_->policy_compiles();
  EXPECT_EQ(PeersOf(b), std::vector<uint64_t>{});
  boost::asio::io_context io;
  std::vector<Changes> seen;
  tn_->Subscribe(io.get_executor(), [&](auto, const Changes& c) { seen.push_back(c); });

  constexpr int kBurst = 10;
  std::vector<model::NodeId> alice;
  for (int i = 0; i < kBurst; ++i) alice.push_back(Join(10 + i, "alice", "a" + std::to_string(i)));
  // Within the gap: published at once, but against the policy compiled before the burst.
  EXPECT_EQ(tn_->policy_compiles(), compiles);
  EXPECT_FALSE(tn_->snapshot()->policy->IndexOf(alice.back()).has_value());

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!tn_->snapshot()->policy->IndexOf(alice.back()) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(tn_->policy_compiles(), compiles + 1);  // one compile for the whole burst
  std::vector<uint64_t> want(alice.begin(), alice.end());
  EXPECT_EQ(PeersOf(b), want);
  io.poll();
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().size(), 1u);
  EXPECT_EQ(seen.back()[0].kind, ChangeKind::kPolicy);
}

}  // namespace
}  // namespace keel::tailnet

namespace keel::tailnet {
namespace {

class ProviderGroupsTest : public PolicyTailnetTest {
 protected:
  void SetUp() override {
    settings_.provider_policy_groups = {{"engineering", {"group:eng"}}};
    PolicyTailnetTest::SetUp();
  }
  ProviderProfile Profile(const std::string& sub, std::vector<std::string> groups) {
    ProviderProfile p;
    p.provider_id = "https://idp.test/" + sub;
    p.username = sub;
    p.email = sub + "@idp.test";
    p.display_name = "Person " + sub;
    p.groups = std::move(groups);
    return p;
  }
};

TEST_F(ProviderGroupsTest, ProviderGroupsJoinTheMappedPolicyGroup) {
  auto dave = tn_->UpsertProviderUser(Profile("dave", {"engineering"}));
  ASSERT_TRUE(dave) << dave.error().message;
  auto erin = tn_->UpsertProviderUser(Profile("erin", {"sales"}));
  ASSERT_TRUE(erin);
  auto server = Join(1, "alice", "server");
  auto d = Join(2, "dave", "d");
  auto e = Join(3, "erin", "e");
  ASSERT_TRUE(tn_->SetPolicy(R"({"groups": {"group:eng": []},
      "acls": [{"action": "accept", "src": ["group:eng"], "dst": ["alice@:80"]}]})",
                             PolicySource::kFile));
  EXPECT_EQ(PeersOf(d), std::vector<uint64_t>{server});
  EXPECT_TRUE(PeersOf(e).empty());
  // erin joins engineering at her next login: the policy follows without a reload.
  ASSERT_TRUE(tn_->UpsertProviderUser(Profile("erin", {"sales", "engineering"})));
  EXPECT_EQ(PeersOf(e), std::vector<uint64_t>{server});
  ASSERT_TRUE(tn_->UpsertProviderUser(Profile("dave", {})));
  EXPECT_TRUE(PeersOf(d).empty());
}

TEST_F(ProviderGroupsTest, UsersAreMatchedByProviderIdAndNamedUniquely) {
  // A local user already has the name the provider suggests.
  auto first = tn_->UpsertProviderUser(Profile("alice", {}));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->name, "alice-2");
  EXPECT_EQ(first->provider, "oidc");
  auto again = tn_->UpsertProviderUser([&] {
    auto p = Profile("alice", {"x"});
    p.display_name = "Alice Renamed";
    return p;
  }());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, first->id);
  EXPECT_EQ(again->display_name, "Alice Renamed");
  // A username that is no user name: the email's local part, cleaned.
  auto odd = Profile("X", {});
  odd.provider_id = "https://idp.test/odd";
  odd.username = "";
  odd.email = "Weird.Name+tag@idp.test";
  EXPECT_EQ(tn_->UpsertProviderUser(odd)->name, "weird.nametag");
  // What was stored survives a restart.
  Reopen();
  auto users = tn_->ListUsers();
  auto it = std::find_if(users.begin(), users.end(), [](const model::User& u) { return u.name == "alice-2"; });
  ASSERT_NE(it, users.end());
  EXPECT_EQ(it->provider_id, "https://idp.test/alice");
  EXPECT_EQ(it->provider_groups, std::vector<std::string>{"x"});
}

}  // namespace
}  // namespace keel::tailnet
