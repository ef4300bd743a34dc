#include "http/message.h"

#include <gtest/gtest.h>

namespace keel::http {
namespace {

TEST(MessageTest, HeaderIsCaseInsensitive) {
  Request req;
  req.headers = {
      {"Content-Type", "a"}, {"X-Tailscale-Handshake", "b"}, {"x-tailscale-handshake", "c"}};
  EXPECT_EQ(req.Header("content-type"), "a");
  EXPECT_EQ(req.Header("X-TAILSCALE-HANDSHAKE"), "b");
  EXPECT_EQ(req.Header("missing"), "");
}

TEST(MessageTest, QueryDecodes) {
  Request req;
  req.query = "v=68&X-Tailscale-Handshake=ab%2Bcd%2F%3D%3D&empty&sp=a+b%20c&bad=%zz";
  EXPECT_EQ(req.Query("v"), "68");
  EXPECT_EQ(req.Query("X-Tailscale-Handshake"), "ab+cd/==");
  EXPECT_EQ(req.Query("empty"), "");
  EXPECT_EQ(req.Query("sp"), "a b c");
  EXPECT_EQ(req.Query("bad"), "%zz");
  EXPECT_EQ(req.Query("x-tailscale-handshake"), std::nullopt);  // keys are case-sensitive
  EXPECT_EQ(req.Query("missing"), std::nullopt);
}

TEST(MessageTest, CookiesAcrossHeaders) {
  Request req;
  req.headers = {{"cookie", "a=1; keel_x=abc=def;b=2"}, {"Cookie", "later=3"}};
  EXPECT_EQ(req.Cookie("keel_x"), "abc=def");
  EXPECT_EQ(req.Cookie("b"), "2");
  EXPECT_EQ(req.Cookie("later"), "3");
  EXPECT_EQ(req.Cookie("keel"), std::nullopt);
  EXPECT_EQ(FormValue("csrf=a%2Bb&x=1", "csrf"), "a+b");
}

TEST(MessageTest, ResponseHelpers) {
  auto t = Response::Text(404, "nope");
  EXPECT_EQ(t.status, 404);
  EXPECT_EQ(t.body, "nope");
  ASSERT_EQ(t.headers.size(), 1u);
  EXPECT_EQ(t.headers[0].second, "text/plain; charset=utf-8");
  auto j = Response::Json(200, "{}");
  EXPECT_EQ(j.headers[0].second, "application/json");
}

}  // namespace
}  // namespace keel::http
