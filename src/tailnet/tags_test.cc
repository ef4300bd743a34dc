// Tags: --advertise-tags checked against tagOwners at registration, tagged pre-auth keys
// checked when created, and tags set by the admin.
#include <gtest/gtest.h>

#include "policy/compiler.h"
#include "tailnet/tailnet.h"
#include "tailnet/test_fixture.h"

namespace keel::tailnet {
namespace {

using Tags = std::vector<std::string>;

crypto::Key32 K(int n) {
  crypto::Key32 k{};
  k[0] = static_cast<uint8_t>(n);
  k[31] = 3;
  return k;
}

constexpr const char* kPolicy = R"({
  "groups": {"group:ops": ["bob@"]},
  "tagOwners": {"tag:web": ["alice@"], "tag:db": ["group:ops"], "tag:free": []},
  "acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}],
})";

class TagsTest : public TailnetFixture {
 protected:
  void SetUp() override {
    TailnetFixture::SetUp();
    ASSERT_TRUE(tn_->CreateUser("alice"));
    ASSERT_TRUE(tn_->CreateUser("bob"));
    ASSERT_TRUE(tn_->SetPolicy(kPolicy, PolicySource::kDatabase));
  }

  RegisterOutcome Join(int n, const std::string& user, const Tags& request, Tags key_tags = {}) {
    RegisterInput in;
    in.machine_key = crypto::MachinePublic(K(n));
    in.node_key = crypto::NodePublic(K(100 + n));
    in.auth_key = tn_->CreatePreAuthKey(user, false, false, ZeroTime(), key_tags).value().secret_text;
    in.hostname = "n" + std::to_string(n);
    in.request_tags = request;
    return tn_->Register(in).value();
  }
};

TEST_F(TagsTest, AdvertisedTagsNeedTagOwners) {
  auto refused = Join(1, "bob", {"tag:web"});
  EXPECT_EQ(refused.kind, RegisterOutcome::Kind::kRefused);
  EXPECT_EQ(refused.error, "requested tags [tag:web] are invalid or not permitted");
  auto unknown = Join(2, "alice", {"tag:web", "tag:nope"});
  EXPECT_EQ(unknown.error, "requested tags [tag:nope] are invalid or not permitted");
  EXPECT_TRUE(tn_->snapshot()->nodes.empty());

  auto web = Join(3, "alice", {"tag:web", "tag:web"});
  ASSERT_EQ(web.kind, RegisterOutcome::Kind::kAuthorized) << web.error;
  EXPECT_EQ(web.node->tags, Tags{"tag:web"});
  auto db = Join(4, "bob", {"tag:db"});  // through group:ops
  ASSERT_EQ(db.kind, RegisterOutcome::Kind::kAuthorized) << db.error;
  EXPECT_EQ(db.node->tags, Tags{"tag:db"});
}

TEST_F(TagsTest, TaggedKeysNeedTagOwnersWhenCreated) {
  auto bad = tn_->CreatePreAuthKey("bob", false, false, ZeroTime(), {"tag:web"});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("may not apply tag:web"), std::string::npos);
  EXPECT_FALSE(tn_->CreatePreAuthKey("alice", false, false, ZeroTime(), {"tag:nope"}));
  EXPECT_FALSE(tn_->CreatePreAuthKey("alice", false, false, ZeroTime(), {"tag:free"}));
  EXPECT_TRUE(tn_->ListPreAuthKeys().empty());
  auto node = Join(1, "alice", {}, {"tag:web"});
  EXPECT_EQ(node.node->tags, Tags{"tag:web"});
}

TEST_F(TagsTest, AdminSetsAnyDefinedTag) {
  auto n = Join(1, "bob", {}).node->id;
  auto set = tn_->SetTags(n, {"tag:web", "tag:free"});
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_EQ(set->tags, (Tags{"tag:free", "tag:web"}));
  auto policy = tn_->snapshot()->policy;
  ASSERT_TRUE(policy);
  EXPECT_TRUE(policy->IndexOf(n).has_value());  // recompiled with the node's new identity

  uint64_t version = tn_->snapshot()->FindNode(n)->version;
  for (const Tags& bad : {Tags{"web"}, Tags{"tag:"}, Tags{"tag:web", "tag:nope"}}) {
    EXPECT_FALSE(tn_->SetTags(n, bad)) << bad.back();
  }
  EXPECT_FALSE(tn_->SetTags(999, {"tag:web"}));
  EXPECT_EQ(tn_->snapshot()->FindNode(n)->version, version);

  ASSERT_TRUE(tn_->SetTags(n, {}));
  EXPECT_TRUE(tn_->snapshot()->FindNode(n)->tags.empty());
}

}  // namespace
}  // namespace keel::tailnet
