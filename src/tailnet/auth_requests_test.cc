#include "tailnet/auth_requests.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "crypto/x25519.h"
#include "tailnet/test_fixture.h"

namespace keel::tailnet {
namespace {

using std::chrono::seconds;
using Verdict = AuthRequests::Verdict;

// Runs what is ready; an io_context that ran out of work must be restarted to run again.
void RunReady(boost::asio::io_context& io) {
  io.restart();
  io.poll();
}

TEST(AuthRequests, ApproveWakesWaitersOnce) {
  FakeClock clock;
  AuthRequests auth(clock, seconds(60));
  auto r = auth.CreateSshCheck(1, 2);
  EXPECT_TRUE(r.id.starts_with("keel-authreq-"));
  EXPECT_EQ(r.id.size(), 13u + 24u);
  EXPECT_NE(auth.CreateSshCheck(1, 2).id, r.id);
  boost::asio::io_context io;
  int woken = 0;
  auth.OnDecided(r.id, io.get_executor(), [&] { ++woken; });
  RunReady(io);
  EXPECT_EQ(woken, 0);
  ASSERT_TRUE(auth.Decide(r.id, true));
  RunReady(io);
  EXPECT_EQ(woken, 1);
  EXPECT_EQ(auth.Find(r.id)->verdict, Verdict::kApproved);
  auto again = auth.Decide(r.id, false);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::kFailedPrecondition);
  EXPECT_EQ(auth.Decide("keel-authreq-unknown", true).error().code, Errc::kNotFound);
}

TEST(AuthRequests, UndecidedRequestsExpire) {
  FakeClock clock;
  AuthRequests auth(clock, seconds(10));
  auto r = auth.CreateSshCheck(1, 2);
  boost::asio::io_context io;
  int woken = 0;
  auth.OnDecided(r.id, io.get_executor(), [&] { ++woken; });
  clock.Advance(seconds(9));
  EXPECT_EQ(auth.Find(r.id)->verdict, Verdict::kPending);
  clock.Advance(seconds(2));
  EXPECT_EQ(auth.Find(r.id)->verdict, Verdict::kExpired);
  RunReady(io);
  EXPECT_EQ(woken, 1);
  auto late = auth.Decide(r.id, true);
  ASSERT_FALSE(late);
  EXPECT_NE(late.error().message.find("expired"), std::string::npos);
  // A waiter that arrives after the verdict is called at once.
  auth.OnDecided(r.id, io.get_executor(), [&] { ++woken; });
  RunReady(io);
  EXPECT_EQ(woken, 2);
}

TEST(AuthRequests, ApprovalsAreRememberedForAPeriod) {
  FakeClock clock;
  AuthRequests auth(clock, seconds(10));
  EXPECT_FALSE(auth.ApprovedWithin(1, 2, seconds(60)));
  auth.RememberApproval(1, 2);
  EXPECT_TRUE(auth.ApprovedWithin(1, 2, seconds(60)));
  EXPECT_FALSE(auth.ApprovedWithin(2, 1, seconds(60)));
  clock.Advance(seconds(61));
  EXPECT_FALSE(auth.ApprovedWithin(1, 2, seconds(60)));
  auth.RememberApproval(1, 2);
  auth.ForgetApprovals();
  EXPECT_FALSE(auth.ApprovedWithin(1, 2, seconds(60)));
}

TEST(AuthRequests, LoginsAreReusedUntilDecidedAndCarryTheReason) {
  FakeClock clock;
  AuthRequests auth(clock, seconds(60));
  RegisterInput in;
  in.machine_key = crypto::MachinePublic(crypto::PublicFromPrivate(crypto::GeneratePrivateKey()));
  in.node_key = crypto::NodePublic(crypto::PublicFromPrivate(crypto::GeneratePrivateKey()));
  in.hostname = "laptop";
  bool created = false;
  auto first = auth.CreateRegistration(in, &created);
  EXPECT_TRUE(created);
  EXPECT_TRUE(first.id.starts_with("keel-authreq-"));
  ASSERT_TRUE(first.registration);
  EXPECT_EQ(first.registration->hostname, "laptop");
  EXPECT_EQ(auth.TimeLeft(first), seconds(60));

  // The same machine and node key asking again (a restarted tailscaled) gets the same id, with
  // what it asks now.
  in.hostname = "laptop-2";
  auto again = auth.CreateRegistration(in, &created);
  EXPECT_FALSE(created);
  EXPECT_EQ(again.id, first.id);
  EXPECT_EQ(auth.Find(first.id)->registration->hostname, "laptop-2");
  // Another node key is another login.
  RegisterInput other = in;
  other.node_key = crypto::NodePublic(crypto::PublicFromPrivate(crypto::GeneratePrivateKey()));
  EXPECT_NE(auth.CreateRegistration(other).id, first.id);

  EXPECT_FALSE(auth.FirstRejectionReport(first.id));  // still pending
  ASSERT_TRUE(auth.Decide(first.id, false, "not this one"));
  EXPECT_EQ(auth.Find(first.id)->reason, "not this one");
  EXPECT_TRUE(auth.FirstRejectionReport(first.id));
  EXPECT_FALSE(auth.FirstRejectionReport(first.id));
  // Once decided, asking again starts a new login.
  auto fresh = auth.CreateRegistration(in, &created);
  EXPECT_TRUE(created);
  EXPECT_NE(fresh.id, first.id);
  clock.Advance(seconds(61));
  EXPECT_EQ(auth.TimeLeft(fresh), seconds(0));
  EXPECT_EQ(auth.Find(fresh.id)->verdict, Verdict::kExpired);
}

}  // namespace
}  // namespace keel::tailnet
