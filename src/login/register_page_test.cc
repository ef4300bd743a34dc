#include "login/register_page.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <optional>

#include "crypto/x25519.h"
#include "tailnet/test_fixture.h"

namespace keel::login {
namespace {

using std::chrono::seconds;

class RegisterPageTest : public ::testing::Test {
 protected:
  tailnet::AuthRequests::Request NewLogin(std::string hostname) {
    tailnet::RegisterInput in;
    in.machine_key = crypto::MachinePublic(crypto::PublicFromPrivate(crypto::GeneratePrivateKey()));
    in.node_key = crypto::NodePublic(crypto::PublicFromPrivate(crypto::GeneratePrivateKey()));
    in.hostname = std::move(hostname);
    return auth_.CreateRegistration(in);
  }

  tailnet::FakeClock clock_;
  tailnet::AuthRequests auth_{clock_, seconds(600)};
  RegisterPage page_{auth_};
};

TEST_F(RegisterPageTest, PendingLoginShowsTheCommandWithEverythingEscaped) {
  auto login = NewLogin("<script>alert(1)</script>");
  auto r = page_.Render(login.id);
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("keel auth register --auth-id " + login.id + " --user USERNAME"),
            std::string::npos);
  EXPECT_NE(r.body.find("POST /api/v1/auth/register"), std::string::npos);
  EXPECT_NE(r.body.find("keel auth reject --auth-id " + login.id), std::string::npos);
  EXPECT_NE(r.body.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_EQ(r.body.find("<script>"), std::string::npos);
  EXPECT_NE(r.body.find(login.registration->machine_key.ToText()), std::string::npos);
}

TEST_F(RegisterPageTest, UnknownIdsAndSshChecksAreNotFound) {
  EXPECT_EQ(page_.Render("keel-authreq-nope").status, 404);
  EXPECT_EQ(page_.Render("").status, 404);
  auto login = NewLogin("laptop");
  EXPECT_EQ(page_.Render(login.id + "/x").status, 404);
  auto check = auth_.CreateSshCheck(1, 2);
  EXPECT_EQ(page_.Render(check.id).status, 404);  // not a login: nothing to show
}

TEST_F(RegisterPageTest, DecidedAndExpiredLoginsSayHowTheyEnded) {
  auto approved = NewLogin("laptop");
  ASSERT_TRUE(auth_.Decide(approved.id, true));
  auto r = page_.Render(approved.id);
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("Device registered"), std::string::npos);

  auto rejected = NewLogin("phone");
  ASSERT_TRUE(auth_.Decide(rejected.id, false, "not <yours>"));
  r = page_.Render(rejected.id);
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("not &lt;yours&gt;"), std::string::npos);

  auto late = NewLogin("tablet");
  clock_.Advance(seconds(601));
  r = page_.Render(late.id);
  EXPECT_EQ(r.status, 410);
  EXPECT_NE(r.body.find("tailscale up"), std::string::npos);
}

TEST_F(RegisterPageTest, ServedUnderRegisterForGetOnly) {
  http::Router router;
  page_.RegisterRoutes(router);
  auto login = NewLogin("laptop");
  const http::Handler* h = router.Find("/register/" + login.id);
  ASSERT_NE(h, nullptr);
  boost::asio::io_context io;
  auto run = [&](std::string method) {
    http::Request req;
    req.method = std::move(method);
    req.path = "/register/" + login.id;
    std::optional<http::Response> out;
    boost::asio::co_spawn(io, (*h)(req), [&](std::exception_ptr, http::Response r) { out = r; });
    io.restart();
    io.run();
    return out.value();
  };
  EXPECT_EQ(run("GET").status, 200);
  EXPECT_EQ(run("POST").status, 405);
}

}  // namespace
}  // namespace keel::login
