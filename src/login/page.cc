#include "login/page.h"

namespace keel::login {
namespace {

// No script may run and nothing may be loaded from anywhere: the pages carry their own style,
// and their only form (confirming an OIDC login) posts back to keel.
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'";

constexpr std::string_view kStyle =
    "body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;"
    "line-height:1.5;color:#1a1a1a;background:#fff}"
    "h1{font-size:1.5rem}"
    "pre,code{background:#f2f2f2;border-radius:4px}"
    "button{font:inherit;padding:.5rem 1.25rem;border-radius:4px;border:1px solid #1a1a1a;"
    "background:#1a1a1a;color:#fff;cursor:pointer}"
    "pre{padding:.75rem;white-space:pre-wrap;overflow-wrap:anywhere}"
    "code{padding:0 .25rem;overflow-wrap:anywhere}"
    "pre code{padding:0;background:none}";

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

http::Response HtmlPage(int status, std::string_view title, std::string_view body_html) {
  std::string html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                     "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                     "<title>";
  html += HtmlEscape(title);
  html += " · keel</title>\n<style>";
  html += kStyle;
  html += "</style>\n</head>\n<body>\n<main>\n<h1>";
  html += HtmlEscape(title);
  html += "</h1>\n";
  html += body_html;
  html += "\n</main>\n</body>\n</html>\n";
  return http::Response{status,
                        {{"Content-Type", "text/html; charset=utf-8"},
                         {"Content-Security-Policy", std::string(kContentSecurityPolicy)},
                         {"Cache-Control", "no-store"},
                         {"X-Frame-Options", "DENY"},
                         {"X-Content-Type-Options", "nosniff"},
                         {"Referrer-Policy", "no-referrer"}},
                        std::move(html)};
}

}  // namespace keel::login
