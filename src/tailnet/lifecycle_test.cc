// Node lifecycle operations: default key expiry, expiring and un-expiring, user renames and
// pre-auth key deletion.
#include <gtest/gtest.h>

#include "tailnet/tailnet.h"
#include "tailnet/test_fixture.h"

namespace keel::tailnet {
namespace {

using std::chrono::hours;

crypto::Key32 K(int n) {
  crypto::Key32 k{};
  k[0] = static_cast<uint8_t>(n);
  k[31] = 4;
  return k;
}

class LifecycleTest : public TailnetFixture {
 protected:
  void SetUp() override {
    settings_.node_expiry = hours(24);
    TailnetFixture::SetUp();
    ASSERT_TRUE(tn_->CreateUser("alice"));
  }

  RegisterOutcome Join(int n, const std::string& key, SystemTime expiry = ZeroTime()) {
    RegisterInput in;
    in.machine_key = crypto::MachinePublic(K(n));
    in.node_key = crypto::NodePublic(K(100 + n));
    in.auth_key = key;
    in.hostname = "n" + std::to_string(n);
    in.expiry = expiry;
    return tn_->Register(in).value();
  }
  std::string Key() {
    return tn_->CreatePreAuthKey("alice", true, false, ZeroTime()).value().secret_text;
  }
};

TEST_F(LifecycleTest, NodeExpiryAppliesToUntaggedNodesUnlessTheClientAsks) {
  SystemTime now = clock_.Now();
  auto plain = Join(1, Key());
  EXPECT_EQ(plain.node->expiry, now + hours(24));
  auto asked = Join(2, Key(), now + hours(2));
  EXPECT_EQ(asked.node->expiry, now + hours(2));
  ASSERT_TRUE(tn_->SetPolicy(R"({"tagOwners": {"tag:s": ["alice@"]}})", PolicySource::kDatabase));
  auto tagged_key = tn_->CreatePreAuthKey("alice", false, false, ZeroTime(), {"tag:s"});
  ASSERT_TRUE(tagged_key) << tagged_key.error().message;
  EXPECT_TRUE(IsZeroTime(Join(3, tagged_key->secret_text).node->expiry));  // tagged: never
}

TEST_F(LifecycleTest, ExpireAtATimeOrDisableExpiry) {
  auto id = Join(1, Key()).node->id;
  SystemTime later = clock_.Now() + hours(5);
  EXPECT_EQ(tn_->ExpireNode(id, later)->expiry, later);
  EXPECT_FALSE(tn_->snapshot()->FindNode(id)->IsExpired(clock_.Now()));
  EXPECT_TRUE(IsZeroTime(tn_->ExpireNode(id, ZeroTime())->expiry));
  EXPECT_TRUE(tn_->ExpireNode(id)->IsExpired(clock_.Now()));
  Reopen();
  EXPECT_TRUE(tn_->snapshot()->FindNode(id)->IsExpired(clock_.Now()));
  EXPECT_FALSE(tn_->ExpireNode(999));
}

TEST_F(LifecycleTest, RenameUserResendsItsNodes) {
  auto id = Join(1, Key()).node->id;
  auto alice = tn_->snapshot()->FindUserByName("alice")->id;
  uint64_t version = tn_->snapshot()->FindNode(id)->version;
  auto renamed = tn_->RenameUser(alice, "alicia");
  ASSERT_TRUE(renamed) << renamed.error().message;
  EXPECT_EQ(renamed->name, "alicia");
  EXPECT_EQ(renamed->display_name, "alicia");
  EXPECT_GT(tn_->snapshot()->FindNode(id)->version, version);
  ASSERT_TRUE(tn_->CreateUser("bob"));
  EXPECT_FALSE(tn_->RenameUser(alice, "bob"));  // taken
  EXPECT_FALSE(tn_->RenameUser(alice, "Not Valid!"));
  EXPECT_FALSE(tn_->RenameUser(999, "carol"));
  Reopen();
  EXPECT_NE(tn_->snapshot()->FindUserByName("alicia"), nullptr);
  EXPECT_EQ(tn_->snapshot()->FindUserByName("alice"), nullptr);
}

TEST_F(LifecycleTest, DeletedKeyLeavesItsNodesRegistered) {
  auto key = tn_->CreatePreAuthKey("alice", true, false, ZeroTime()).value();
  auto id = Join(1, key.secret_text).node->id;
  ASSERT_TRUE(tn_->DeletePreAuthKey(key.key.id));
  EXPECT_TRUE(tn_->ListPreAuthKeys().empty());
  EXPECT_FALSE(tn_->snapshot()->FindNode(id)->auth_key_id.has_value());
  EXPECT_FALSE(tn_->DeletePreAuthKey(key.key.id));
  EXPECT_EQ(Join(2, key.secret_text).kind, RegisterOutcome::Kind::kRefused);
  Reopen();
  EXPECT_NE(tn_->snapshot()->FindNode(id), nullptr);
}

TEST_F(LifecycleTest, MaintenanceDeletesKeysLongExpired) {
  auto never = tn_->CreatePreAuthKey("alice", true, false, ZeroTime()).value();
  auto soon = tn_->CreatePreAuthKey("alice", true, false, clock_.Now() + std::chrono::hours(1)).value();
  auto id = Join(1, soon.secret_text).node->id;
  clock_.Advance(std::chrono::hours(2));
  tn_->RunMaintenance();
  EXPECT_EQ(tn_->ListPreAuthKeys().size(), 2u);  // expired, but still listed for a while
  clock_.Advance(kExpiredKeyRetention);
  tn_->RunMaintenance();
  auto left = tn_->ListPreAuthKeys();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].id, never.key.id);
  EXPECT_FALSE(tn_->snapshot()->FindNode(id)->auth_key_id.has_value());
  Reopen();
  EXPECT_EQ(tn_->ListPreAuthKeys().size(), 1u);
  EXPECT_NE(tn_->snapshot()->FindNode(id), nullptr);
}

}  // namespace
}  // namespace keel::tailnet
