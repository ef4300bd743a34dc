#include "tailnet/tailnet.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "tailnet/test_fixture.h"

namespace keel::tailnet {
namespace {

using Kind = RegisterOutcome::Kind;
using std::chrono::seconds;

crypto::Key32 K(int n) {
  crypto::Key32 k{};
  k[0] = static_cast<uint8_t>(n);
  k[1] = static_cast<uint8_t>(n >> 8);
  k[31] = 1;
  return k;
}
crypto::MachinePublic M(int n) { return crypto::MachinePublic(K(n)); }
crypto::NodePublic N(int n) { return crypto::NodePublic(K(n)); }

class TailnetTest : public TailnetFixture {
 protected:
  void SetUp() override {
    TailnetFixture::SetUp();
    alice_ = tn_->CreateUser("alice").value();
  }

  std::string NewKey(bool reusable = false, bool ephemeral = false,
                     SystemTime expiration = ZeroTime(), const std::string& user = "alice") {
    return tn_->CreatePreAuthKey(user, reusable, ephemeral, expiration).value().secret_text;
  }

  static RegisterInput Input(int machine, int node_key, const std::string& auth,
                             const std::string& hostname = "host", int old_key = 0) {
    RegisterInput in;
    in.machine_key = M(machine);
    in.node_key = N(node_key);
    if (old_key != 0) in.old_node_key = N(old_key);
    in.auth_key = auth;
    in.hostname = hostname;
    in.hostinfo_json = R"({"Hostname":")" + hostname + R"("})";
    return in;
  }

  RegisterOutcome Reg(int machine, int node_key, const std::string& auth,
                      const std::string& hostname = "host", int old_key = 0) {
    return tn_->Register(Input(machine, node_key, auth, hostname, old_key)).value();
  }

  // Completes an interactive login of (machine, node_key) for `user`.
  RegisterOutcome Login(int machine, int node_key, model::UserId user,
                        const std::string& hostname = "host", int old_key = 0) {
    return tn_->RegisterInteractive(Input(machine, node_key, "", hostname, old_key), user).value();
  }

  RegisterOutcome Logout(int machine, int node_key) {
    RegisterInput in;
    in.machine_key = M(machine);
    in.node_key = N(node_key);
    in.expiry = SystemTime(seconds(123));
    return tn_->Register(in).value();
  }

  model::User alice_;
};

TEST_F(TailnetTest, RegisterNewNodeWithKey) {
  auto out = Reg(1, 101, NewKey(), "My Laptop.local");
  ASSERT_EQ(out.kind, Kind::kAuthorized) << out.error;
  ASSERT_TRUE(out.node && out.user);
  EXPECT_EQ(out.user->name, "alice");
  EXPECT_EQ(out.node->given_name, "my-laptop");
  EXPECT_EQ(out.node->hostname, "My Laptop.local");
  EXPECT_EQ(out.node->ipv4->to_string(), "100.64.0.1");
  EXPECT_EQ(out.node->ipv6->to_string(), "fd7a:115c:a1e0::1");
  EXPECT_TRUE(IsZeroTime(out.node->expiry));
  auto snap = tn_->snapshot();
  ASSERT_NE(snap->FindByNodeKey(N(101)), nullptr);
  EXPECT_EQ(snap->FindByNodeKey(N(101))->id, out.node->id);
}

TEST_F(TailnetTest, KeyErrorsUseClientMessages) {
  EXPECT_EQ(Reg(1, 101, "garbage").error, "invalid pre auth key");
  std::string key = NewKey();
  std::string forged = key.substr(0, key.size() - 1) + (key.back() == 'a' ? "b" : "a");
  EXPECT_EQ(Reg(1, 101, forged).error, "invalid pre auth key");
  std::string expiring = NewKey(false, false, clock_.Now() + seconds(10));
  clock_.Advance(seconds(11));
  EXPECT_EQ(Reg(1, 101, expiring).error, "authkey expired");
  ASSERT_EQ(Reg(1, 101, key).kind, Kind::kAuthorized);
  auto reuse = Reg(2, 202, key);
  EXPECT_EQ(reuse.kind, Kind::kRefused);
  EXPECT_EQ(reuse.error, "authkey already used");
  EXPECT_EQ(tn_->snapshot()->nodes.size(), 1u);
}

TEST_F(TailnetTest, ExpiredViaAdminKeyIsRefused) {
  std::string key = NewKey(true);
  ASSERT_TRUE(tn_->ExpirePreAuthKey(key));
  EXPECT_EQ(Reg(1, 101, key).error, "authkey expired");
}

TEST_F(TailnetTest, ReRegisterSameMachineKeepsIdentity) {
  std::string key = NewKey();
  auto first = Reg(1, 101, key, "box");
  ASSERT_EQ(first.kind, Kind::kAuthorized);
  // Container restart: same single-use key, same node key.
  auto again = Reg(1, 101, key, "box");
  ASSERT_EQ(again.kind, Kind::kAuthorized) << again.error;
  EXPECT_EQ(again.node->id, first.node->id);
  // Same single-use key with a new node key is a second use.
  EXPECT_EQ(Reg(1, 102, key, "box").error, "authkey already used");
  // A fresh key re-registers in place with a new node key.
  auto rekey = Reg(1, 103, NewKey(), "box");
  ASSERT_EQ(rekey.kind, Kind::kAuthorized) << rekey.error;
  EXPECT_EQ(rekey.node->id, first.node->id);
  EXPECT_EQ(rekey.node->ipv4, first.node->ipv4);
  EXPECT_EQ(rekey.node->given_name, "box");
  EXPECT_EQ(tn_->snapshot()->nodes.size(), 1u);
  EXPECT_EQ(tn_->snapshot()->FindByNodeKey(N(101)), nullptr);
}

TEST_F(TailnetTest, RestartWithoutAuthReturnsCurrentState) {
  auto first = Reg(1, 101, NewKey());
  auto again = Reg(1, 101, "");
  EXPECT_EQ(again.kind, Kind::kAuthorized);
  EXPECT_EQ(again.node->id, first.node->id);
  EXPECT_EQ(again.node->version, first.node->version);  // nothing changed
  auto thief = Reg(9, 101, "");
  EXPECT_EQ(thief.kind, Kind::kRefused);
  EXPECT_EQ(thief.error, "node key already in use by another machine");
  // An unknown node key without a pre-auth key is someone to log in.
  EXPECT_EQ(Reg(1, 555, "").kind, Kind::kLoginRequired);
}

TEST_F(TailnetTest, LogoutSetsExpiryAndThenNodeKeyExpired) {
  auto first = Reg(1, 101, NewKey());
  auto out = Logout(1, 101);
  EXPECT_EQ(out.kind, Kind::kLoggedOut);
  ASSERT_TRUE(out.node);
  EXPECT_EQ(out.node->expiry, clock_.Now());
  EXPECT_EQ(Reg(1, 101, "").kind, Kind::kNodeKeyExpired);
  // A new node key after expiry needs a login (or a key).
  EXPECT_EQ(Reg(1, 102, "", "host", 101).kind, Kind::kLoginRequired);
  // A new key brings it back with the same id and no expiry.
  auto back = Reg(1, 102, NewKey());
  ASSERT_EQ(back.kind, Kind::kAuthorized) << back.error;
  EXPECT_EQ(back.node->id, first.node->id);
  EXPECT_TRUE(IsZeroTime(back.node->expiry));
}

TEST_F(TailnetTest, EphemeralLogoutDeletes) {
  Reg(1, 101, NewKey(false, true));
  EXPECT_EQ(Logout(1, 101).kind, Kind::kLoggedOut);
  EXPECT_TRUE(tn_->snapshot()->nodes.empty());
}

TEST_F(TailnetTest, NewNodeKeyNeedsALoginThatKeepsTheNode) {
  auto first = Reg(1, 101, NewKey());
  // `tailscale up --force-reauth`: a fresh node key naming the old one, and no auth key.
  EXPECT_EQ(Reg(1, 102, "", "host", 101).kind, Kind::kLoginRequired);
  EXPECT_EQ(tn_->snapshot()->FindByNodeKey(N(102)), nullptr);
  auto back = Login(1, 102, alice_.id, "host", 101);
  ASSERT_EQ(back.kind, Kind::kAuthorized) << back.error;
  EXPECT_EQ(back.node->id, first.node->id);
  EXPECT_EQ(back.node->ipv4, first.node->ipv4);
  EXPECT_EQ(back.node->ipv6, first.node->ipv6);
  EXPECT_EQ(back.node->node_key, N(102));
  EXPECT_EQ(tn_->snapshot()->FindByNodeKey(N(101)), nullptr);
  EXPECT_EQ(tn_->snapshot()->nodes.size(), 1u);
  // Its next start is a plain restart.
  EXPECT_EQ(Reg(1, 102, "").kind, Kind::kAuthorized);
  // Another machine cannot log in with someone else's node key.
  EXPECT_EQ(Login(2, 102, alice_.id).error, "node key already in use by another machine");
}

TEST_F(TailnetTest, InteractiveLoginCreatesANodeForTheUser) {
  auto out = Login(5, 105, alice_.id, "laptop");
  ASSERT_EQ(out.kind, Kind::kAuthorized) << out.error;
  EXPECT_EQ(out.node->user_id, alice_.id);
  EXPECT_EQ(out.user->name, "alice");
  EXPECT_FALSE(out.node->ephemeral);
  EXPECT_EQ(out.node->given_name, "laptop");
  // The same machine logged in as another user is another node; alice's stays.
  auto bob = tn_->CreateUser("bob").value();
  auto as_bob = Login(5, 106, bob.id, "laptop");
  ASSERT_EQ(as_bob.kind, Kind::kAuthorized) << as_bob.error;
  EXPECT_NE(as_bob.node->id, out.node->id);
  EXPECT_EQ(tn_->snapshot()->nodes.size(), 2u);
  // An unknown user is an error, not a node.
  auto nobody = tn_->RegisterInteractive(Input(6, 107, ""), 999);
  ASSERT_FALSE(nobody);
  EXPECT_EQ(nobody.error().code, Errc::kNotFound);
  EXPECT_EQ(tn_->snapshot()->nodes.size(), 2u);
}

TEST_F(TailnetTest, InteractiveLoginRefusesTagsTheUserDoesNotOwn) {
  auto in = Input(7, 108, "", "tagged");
  in.request_tags = {"tag:server"};
  auto out = tn_->RegisterInteractive(in, alice_.id).value();
  EXPECT_EQ(out.kind, Kind::kRefused);
  EXPECT_EQ(out.error, "requested tags [tag:server] are invalid or not permitted");
  EXPECT_TRUE(tn_->snapshot()->nodes.empty());
}

TEST_F(TailnetTest, GivenNamesAreUniqueAcrossUsers) {
  ASSERT_TRUE(tn_->CreateUser("bob"));
  std::string key_a = NewKey(true), key_b = NewKey(true, false, ZeroTime(), "bob");
  EXPECT_EQ(Reg(1, 101, key_a, "web").node->given_name, "web");
  EXPECT_EQ(Reg(2, 102, key_b, "web").node->given_name, "web-1");
  EXPECT_EQ(Reg(3, 103, key_a, "web").node->given_name, "web-2");
  EXPECT_EQ(Reg(4, 104, key_a, "***").node->given_name, "node");
  auto n1 = tn_->snapshot()->FindByNodeKey(N(102))->id;
  EXPECT_EQ(tn_->RenameNode(n1, "web").error().code, Errc::kAlreadyExists);
  EXPECT_EQ(tn_->RenameNode(n1, "Bad Name").error().code, Errc::kInvalidArgument);
  EXPECT_EQ(tn_->RenameNode(n1, "db").value().given_name, "db");
}

TEST_F(TailnetTest, ManyNodesGetDistinctAddressesThatSurviveRestart) {
  std::string key = NewKey(true);
  std::set<std::string> v4, v6;
  for (int i = 1; i <= 1000; ++i) {
    auto out = Reg(i, 10000 + i, key);
    ASSERT_EQ(out.kind, Kind::kAuthorized) << out.error;
    EXPECT_TRUE(v4.insert(out.node->ipv4->to_string()).second);
    EXPECT_TRUE(v6.insert(out.node->ipv6->to_string()).second);
  }
  auto before = tn_->snapshot();
  Reopen();
  auto after = tn_->snapshot();
  ASSERT_EQ(after->nodes.size(), 1000u);
  for (const auto& [id, node] : before->nodes) {
    const model::Node* again = after->FindNode(id);
    ASSERT_NE(again, nullptr);
    EXPECT_EQ(again->ipv4, node->ipv4);
    EXPECT_EQ(again->ipv6, node->ipv6);
    EXPECT_EQ(again->given_name, node->given_name);
    EXPECT_EQ(again->node_key, node->node_key);
  }
  // New allocations after restart do not collide with loaded ones.
  auto extra = Reg(5000, 50000, key);
  EXPECT_FALSE(v4.contains(extra.node->ipv4->to_string()));
}

TEST_F(TailnetTest, DeletedNodeFreesAddressAfterRestart) {
  std::string key = NewKey(true);
  auto a = Reg(1, 101, key);
  Reg(2, 102, key);
  ASSERT_TRUE(tn_->DeleteNode(a.node->id));
  Reopen();
  auto c = Reg(3, 103, key);
  EXPECT_EQ(c.node->ipv4, a.node->ipv4);
  EXPECT_NE(c.node->id, a.node->id);  // ids are never reused
}

TEST_F(TailnetTest, UsersAdmin) {
  EXPECT_EQ(tn_->CreateUser("alice").error().code, Errc::kAlreadyExists);
  EXPECT_EQ(tn_->CreateUser("Not Valid").error().code, Errc::kInvalidArgument);
  Reg(1, 101, NewKey());
  EXPECT_EQ(tn_->DeleteUser("alice").error().code, Errc::kFailedPrecondition);
  ASSERT_TRUE(tn_->CreateUser("bob"));
  NewKey(false, false, ZeroTime(), "bob");
  EXPECT_EQ(tn_->ListPreAuthKeys("bob").size(), 1u);
  ASSERT_TRUE(tn_->DeleteUser("bob"));
  EXPECT_TRUE(tn_->ListPreAuthKeys("bob").empty());
  EXPECT_EQ(tn_->ListUsers().size(), 1u);
  Reopen();
  EXPECT_EQ(tn_->ListUsers().size(), 1u);
  EXPECT_EQ(tn_->ListPreAuthKeys().size(), 1u);
  EXPECT_TRUE(tn_->ListPreAuthKeys()[0].used);
}

TEST_F(TailnetTest, MapUpdateRequiresMachineKeyAndReportsChangeKinds) {
  auto node = Reg(1, 101, NewKey(), "box").node.value();
  MapUpdate u;
  u.endpoints = std::vector<std::string>{"1.2.3.4:41641"};
  auto wrong = tn_->ApplyMapUpdate(M(2), N(101), u);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, Errc::kPermissionDenied);
  EXPECT_EQ(tn_->ApplyMapUpdate(M(1), N(999), u).error().code, Errc::kNotFound);

  boost::asio::io_context io;
  std::vector<Change> seen;
  tn_->Subscribe(io.get_executor(), [&](std::shared_ptr<const Snapshot>, const Changes& c) {
    seen.insert(seen.end(), c.begin(), c.end());
  });
  ASSERT_TRUE(tn_->ApplyMapUpdate(M(1), N(101), u));
  auto published = tn_->snapshot();
  ASSERT_TRUE(tn_->ApplyMapUpdate(M(1), N(101), u));  // unchanged: no change
  EXPECT_EQ(tn_->snapshot(), published);               // ...and no new snapshot
  MapUpdate hi;
  hi.hostinfo_json = R"({"Hostname":"box","NetInfo":{"PreferredDERP":1}})";
  ASSERT_TRUE(tn_->ApplyMapUpdate(M(1), N(101), hi));  // NetInfo only: stored, no change
  hi.hostinfo_json = R"({"Hostname":"renamed"})";
  auto after = tn_->ApplyMapUpdate(M(1), N(101), hi).value();
  EXPECT_EQ(after.given_name, "renamed");
  EXPECT_NE(after.hostinfo_json.find("PreferredDERP"), std::string::npos);  // NetInfo kept
  io.poll();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].kind, ChangeKind::kNodePatched);
  EXPECT_EQ(seen[1].kind, ChangeKind::kNodeUpdated);
  EXPECT_EQ(seen[1].node, node.id);
  // An admin-chosen name survives hostname changes.
  ASSERT_TRUE(tn_->RenameNode(node.id, "chosen"));
  hi.hostinfo_json = R"({"Hostname":"again"})";
  EXPECT_EQ(tn_->ApplyMapUpdate(M(1), N(101), hi).value().given_name, "chosen");
}

// Hostinfo comes from the client: a Hostname of another JSON type keeps the node's name, and
// the update is stored rather than failing.
TEST_F(TailnetTest, MapUpdateWithANonStringHostnameKeepsTheName) {
  ASSERT_TRUE(Reg(1, 101, NewKey(), "box").node);
  MapUpdate hi;
  hi.hostinfo_json = R"({"Hostname":5,"OS":"linux"})";
  auto after = tn_->ApplyMapUpdate(M(1), N(101), hi);
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(after->hostname, "box");
  EXPECT_EQ(after->given_name, "box");
}

TEST_F(TailnetTest, ChangeFeedKindsAndOrder) {
  boost::asio::io_context io;
  std::vector<Change> seen;
  uint64_t last_version = 0;
  bool ordered = true;
  auto sub = tn_->Subscribe(io.get_executor(), [&](std::shared_ptr<const Snapshot> s,
                                                   const Changes& c) {
    ordered = ordered && s->version > last_version;
    last_version = s->version;
    seen.insert(seen.end(), c.begin(), c.end());
  });
  auto id = Reg(1, 101, NewKey()).node->id;
  tn_->StreamOpened(id);
  tn_->StreamOpened(id);
  tn_->StreamClosed(id);
  EXPECT_TRUE(tn_->snapshot()->FindNode(id)->online);
  tn_->StreamClosed(id);
  ASSERT_TRUE(tn_->ExpireNode(id));
  ASSERT_TRUE(tn_->DeleteNode(id));
  io.poll();
  std::vector<ChangeKind> kinds;
  for (const auto& c : seen) kinds.push_back(c.kind);
  EXPECT_EQ(kinds, (std::vector<ChangeKind>{ChangeKind::kNodeAdded, ChangeKind::kNodeOnline,
                                            ChangeKind::kNodeOffline, ChangeKind::kNodePatched,
                                            ChangeKind::kNodeRemoved}));
  EXPECT_TRUE(ordered);
  tn_->Unsubscribe(sub);
  Reg(2, 102, NewKey());
  io.restart();
  io.poll();
  EXPECT_EQ(seen.size(), 5u);
}

TEST_F(TailnetTest, LastSeenPersistsAndEphemeralNodesAreCollected) {
  auto id = Reg(1, 101, NewKey(false, true)).node->id;
  auto keep = Reg(2, 102, NewKey()).node->id;
  tn_->StreamOpened(id);
  tn_->StreamOpened(keep);
  tn_->StreamClosed(keep);
  tn_->StreamClosed(id);
  clock_.Advance(seconds(60));
  EXPECT_EQ(tn_->RunMaintenance(), 0u);
  tn_->StreamOpened(id);  // came back in time: deletion cancelled
  clock_.Advance(seconds(600));
  EXPECT_EQ(tn_->RunMaintenance(), 0u);
  tn_->StreamClosed(id);
  clock_.Advance(settings_.ephemeral_inactivity_timeout);
  EXPECT_EQ(tn_->RunMaintenance(), 1u);
  EXPECT_EQ(tn_->snapshot()->FindNode(id), nullptr);
  Reopen();
  EXPECT_EQ(tn_->snapshot()->FindNode(id), nullptr);
  const model::Node* kept = tn_->snapshot()->FindNode(keep);
  ASSERT_NE(kept, nullptr);
  EXPECT_FALSE(IsZeroTime(kept->last_seen));
  EXPECT_FALSE(kept->online);
}

TEST_F(TailnetTest, SnapshotVersionsIncrease) {
  auto v0 = tn_->snapshot()->version;
  auto out = Reg(1, 101, NewKey());
  auto v1 = tn_->snapshot()->version;
  EXPECT_GT(v1, v0);
  EXPECT_EQ(out.node->version, v1);
  ASSERT_TRUE(tn_->RenameNode(out.node->id, "x"));
  EXPECT_GT(tn_->snapshot()->FindNode(out.node->id)->version, v1);
}

}  // namespace
}  // namespace keel::tailnet
