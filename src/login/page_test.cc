#include "login/page.h"

#include <gtest/gtest.h>

namespace keel::login {
namespace {

std::string HeaderOf(const http::Response& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

TEST(HtmlEscape, EscapesMarkupAndQuotes) {
  EXPECT_EQ(HtmlEscape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  EXPECT_EQ(HtmlEscape("plain text-1.2"), "plain text-1.2");
  EXPECT_EQ(HtmlEscape(""), "");
}

TEST(HtmlPage, IsACompletePageWithSecurityHeaders) {
  auto r = HtmlPage(410, "Gone <now>", "<p>body</p>");
  EXPECT_EQ(r.status, 410);
  EXPECT_EQ(HeaderOf(r, "Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(HeaderOf(r, "Cache-Control"), "no-store");
  EXPECT_EQ(HeaderOf(r, "X-Frame-Options"), "DENY");
  EXPECT_EQ(HeaderOf(r, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(HeaderOf(r, "Referrer-Policy"), "no-referrer");
  std::string csp = HeaderOf(r, "Content-Security-Policy");
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos);
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_TRUE(r.body.starts_with("<!DOCTYPE html>"));
  EXPECT_NE(r.body.find("<html lang=\"en\">"), std::string::npos);
  EXPECT_NE(r.body.find("<h1>Gone &lt;now&gt;</h1>"), std::string::npos);
  EXPECT_NE(r.body.find("<p>body</p>"), std::string::npos);
  // Self-contained: nothing to fetch, nothing to run.
  EXPECT_EQ(r.body.find("<script"), std::string::npos);
  EXPECT_EQ(r.body.find("src="), std::string::npos);
  EXPECT_EQ(r.body.find("href="), std::string::npos);
}

}  // namespace
}  // namespace keel::login
