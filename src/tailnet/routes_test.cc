// Routes in the tailnet: approval, primary election among online routers, sticky failover,
// autoApprovers, and what survives a restart.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tailnet/tailnet.h"
#include "tailnet/test_fixture.h"

namespace keel::tailnet {
namespace {

using Routes = std::vector<std::string>;

crypto::Key32 K(int n) {
  crypto::Key32 k{};
  k[0] = static_cast<uint8_t>(n);
  k[31] = 2;
  return k;
}

class RoutesTest : public TailnetFixture {
 protected:
  void SetUp() override {
    TailnetFixture::SetUp();
    ASSERT_TRUE(tn_->CreateUser("alice", "", "alice@example.com"));
    key_ = tn_->CreatePreAuthKey("alice", true, false, ZeroTime()).value().secret_text;
  }

  // Registers node n announcing `routes` and opens its map stream (online).
  model::NodeId Router(int n, const Routes& routes) {
    RegisterInput in;
    in.machine_key = crypto::MachinePublic(K(n));
    in.node_key = crypto::NodePublic(K(100 + n));
    in.auth_key = key_;
    in.hostname = "r" + std::to_string(n);
    in.hostinfo_json = Hostinfo(in.hostname, routes);
    auto out = tn_->Register(in).value();
    EXPECT_EQ(out.kind, RegisterOutcome::Kind::kAuthorized) << out.error;
    tn_->StreamOpened(out.node->id);
    return out.node->id;
  }

  void Announce(int n, const Routes& routes) {
    MapUpdate u;
    u.hostinfo_json = Hostinfo("r" + std::to_string(n), routes);
    ASSERT_TRUE(tn_->ApplyMapUpdate(crypto::MachinePublic(K(n)), crypto::NodePublic(K(100 + n)), u));
  }

  static std::string Hostinfo(const std::string& name, const Routes& routes) {
    nlohmann::json j = {{"Hostname", name}, {"RoutableIPs", routes}};
    return j.dump();
  }

  const model::Node& Node(model::NodeId id) { return *tn_->snapshot()->FindNode(id); }

  std::string key_;
};

TEST_F(RoutesTest, AnnouncedRoutesTakeEffectOnlyWhenApproved) {
  auto r = Router(1, {"10.0.0.0/24", "0.0.0.0/0", "::/0"});
  EXPECT_EQ(Node(r).announced_routes, (Routes{"0.0.0.0/0", "10.0.0.0/24", "::/0"}));
  EXPECT_TRUE(Node(r).routes_in_effect.empty());
  EXPECT_TRUE(Node(r).primary_routes.empty());

  ASSERT_TRUE(tn_->ApproveRoutes(r, {"10.0.0.0/24"}));
  EXPECT_EQ(Node(r).routes_in_effect, Routes{"10.0.0.0/24"});
  EXPECT_EQ(Node(r).primary_routes, Routes{"10.0.0.0/24"});

  ASSERT_TRUE(tn_->ApproveRoutes(r, {"10.0.0.0/24", "::/0"}));  // an exit route: both families
  EXPECT_EQ(Node(r).approved_routes, (Routes{"0.0.0.0/0", "10.0.0.0/24", "::/0"}));
  EXPECT_EQ(Node(r).primary_routes, Routes{"10.0.0.0/24"});  // exit routes have no primary

  ASSERT_TRUE(tn_->ApproveRoutes(r, {}));
  EXPECT_TRUE(Node(r).routes_in_effect.empty());
  EXPECT_TRUE(Node(r).primary_routes.empty());
}

TEST_F(RoutesTest, RefusedApprovalsChangeNothing) {
  auto r = Router(1, {"10.0.0.0/24"});
  ASSERT_TRUE(tn_->ApproveRoutes(r, {"10.0.0.0/24"}));
  uint64_t version = Node(r).version;
  for (const Routes& bad : {Routes{"10.0.0.1/24"}, Routes{"10.0.0.0/24", "nope"},
                            Routes{"10.9.0.0/24"}, Routes{"0.0.0.0/0"}}) {
    EXPECT_FALSE(tn_->ApproveRoutes(r, bad)) << bad.back();
  }
  EXPECT_FALSE(tn_->ApproveRoutes(999, {"10.0.0.0/24"}));
  EXPECT_EQ(Node(r).version, version);
  EXPECT_EQ(Node(r).approved_routes, Routes{"10.0.0.0/24"});
}

TEST_F(RoutesTest, PrimaryFailsOverAndDoesNotFailBack) {
  auto r1 = Router(1, {"10.0.0.0/24"});
  auto r2 = Router(2, {"10.0.0.0/24"});
  ASSERT_TRUE(tn_->ApproveRoutes(r2, {"10.0.0.0/24"}));
  ASSERT_TRUE(tn_->ApproveRoutes(r1, {"10.0.0.0/24"}));
  // r2 was approved first, so it is primary and keeps it although r1 has the lower id.
  EXPECT_EQ(Node(r2).primary_routes, Routes{"10.0.0.0/24"});
  EXPECT_TRUE(Node(r1).primary_routes.empty());

  tn_->StreamClosed(r2);
  EXPECT_EQ(Node(r1).primary_routes, Routes{"10.0.0.0/24"});
  EXPECT_TRUE(Node(r2).primary_routes.empty());
  EXPECT_EQ(Node(r2).routes_in_effect, Routes{"10.0.0.0/24"});  // still approved, just offline

  tn_->StreamOpened(r2);  // back online: r1 stays primary
  EXPECT_EQ(Node(r1).primary_routes, Routes{"10.0.0.0/24"});
  EXPECT_TRUE(Node(r2).primary_routes.empty());

  Announce(1, {});  // r1 stops announcing: r2 takes over
  EXPECT_TRUE(Node(r1).routes_in_effect.empty());
  EXPECT_EQ(Node(r2).primary_routes, Routes{"10.0.0.0/24"});

  ASSERT_TRUE(tn_->DeleteNode(r2));
  EXPECT_TRUE(tn_->snapshot()->routers.contains(r1) == false);
}

TEST_F(RoutesTest, UnhealthyPrimaryLosesItsPrefixToAHealthyRouter) {
  auto r1 = Router(1, {"10.0.0.0/24"});
  auto r2 = Router(2, {"10.0.0.0/24"});
  auto r3 = Router(3, {"10.0.0.0/24"});
  for (auto r : {r1, r2, r3}) ASSERT_TRUE(tn_->ApproveRoutes(r, {"10.0.0.0/24"}));
  ASSERT_EQ(Node(r1).primary_routes, Routes{"10.0.0.0/24"});

  tn_->SetRouterHealth({{r1, false}, {r2, false}, {r3, true}});  // the first healthy one wins
  EXPECT_TRUE(Node(r1).primary_routes.empty());
  EXPECT_EQ(Node(r3).primary_routes, Routes{"10.0.0.0/24"});
  EXPECT_TRUE(Node(r1).online);  // still connected, just silent

  tn_->SetRouterHealth({{r1, true}, {r2, true}});  // answering again: no failback
  EXPECT_EQ(Node(r3).primary_routes, Routes{"10.0.0.0/24"});

  tn_->SetRouterHealth({{r1, false}, {r2, false}, {r3, false}});  // nobody answers: r3 keeps it
  EXPECT_EQ(Node(r3).primary_routes, Routes{"10.0.0.0/24"});
  tn_->SetRouterHealth({{r2, true}});
  EXPECT_EQ(Node(r2).primary_routes, Routes{"10.0.0.0/24"});

  tn_->StreamClosed(r3);
  tn_->StreamOpened(r3);  // reconnecting proves it alive
  EXPECT_FALSE(Node(r3).unhealthy);
  EXPECT_TRUE(Node(r1).unhealthy);
  tn_->SetRouterHealth({{404, false}});  // unknown nodes are ignored
}

TEST_F(RoutesTest, AutoApproversApproveWithoutAnAdmin) {
  ASSERT_TRUE(tn_->SetPolicy(R"({
    "acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}],
    "autoApprovers": {"routes": {"10.1.0.0/16": ["alice@example.com"]}, "exitNode": []},
  })", PolicySource::kDatabase));
  auto r = Router(1, {"10.1.2.0/24", "10.7.0.0/24"});
  EXPECT_EQ(Node(r).routes_in_effect, Routes{"10.1.2.0/24"});
  EXPECT_EQ(Node(r).primary_routes, Routes{"10.1.2.0/24"});
  ASSERT_TRUE(tn_->ApproveRoutes(r, {"10.7.0.0/24"}));  // the admin adds the other one
  EXPECT_EQ(Node(r).routes_in_effect, (Routes{"10.1.2.0/24", "10.7.0.0/24"}));
  ASSERT_TRUE(tn_->SetPolicy("", PolicySource::kDatabase));  // no policy, no auto-approval
  EXPECT_EQ(Node(r).routes_in_effect, Routes{"10.7.0.0/24"});
}

TEST_F(RoutesTest, ApprovalsSurviveARestart) {
  auto r = Router(1, {"10.0.0.0/24"});
  ASSERT_TRUE(tn_->ApproveRoutes(r, {"10.0.0.0/24"}));
  Reopen();
  EXPECT_EQ(Node(r).announced_routes, Routes{"10.0.0.0/24"});
  EXPECT_EQ(Node(r).routes_in_effect, Routes{"10.0.0.0/24"});
  EXPECT_TRUE(Node(r).primary_routes.empty());  // nobody is online after a restart
  tn_->StreamOpened(r);
  EXPECT_EQ(Node(r).primary_routes, Routes{"10.0.0.0/24"});
}

}  // namespace
}  // namespace keel::tailnet
