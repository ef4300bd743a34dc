#include "login/register_page.h"

#include "login/page.h"

namespace keel::login {

RegisterPage::RegisterPage(tailnet::AuthRequests& auth, OidcLogin* oidc) : auth_(auth), oidc_(oidc) {}

void RegisterPage::RegisterRoutes(http::Router& router) {
  router.HandlePrefix(std::string(kRegisterPath),
                      [this](http::Request req) -> boost::asio::awaitable<http::Response> {
                        if (req.method != "GET" && req.method != "HEAD") {
                          co_return HtmlPage(405, "Method not allowed",
                                             "<p>This page is only read.</p>");
                        }
                        std::string id = req.path.substr(kRegisterPath.size());
                        if (oidc_ != nullptr && req.method == "GET" && id.find('/') == std::string::npos) {
                          if (auth_.FindPendingLogin(id)) co_return co_await oidc_->Start(id);
                        }
                        co_return Render(id);
                      });
}

http::Response RegisterPage::Render(std::string_view auth_id) {
  using Verdict = tailnet::AuthRequests::Verdict;
  auto request = auth_id.empty() || auth_id.find('/') != std::string_view::npos
                     ? std::nullopt
                     : auth_.Find(std::string(auth_id));
  if (!request || !request->registration) {
    return HtmlPage(404, "Unknown login",
                    "<p>This login link names no device waiting to join. It may be mistyped, or "
                    "keel restarted since it was made.</p>\n"
                    "<p>Run <code>tailscale up</code> again for a new link.</p>");
  }
  const tailnet::RegisterInput& in = *request->registration;
  std::string device = HtmlEscape(in.hostname.empty() ? "This device" : in.hostname);
  std::string id = HtmlEscape(request->id);
  switch (request->verdict) {
    case Verdict::kApproved:
      return HtmlPage(200, "Device registered",
                      "<p><strong>" + device + "</strong> has joined the tailnet. "
                      "<code>tailscale up</code> has finished; you can close this page.</p>");
    case Verdict::kRejected:
      return HtmlPage(403, "Login refused",
                      "<p>An administrator refused <strong>" + device + "</strong>" +
                          (request->reason.empty() ? std::string(".")
                                                   : ": " + HtmlEscape(request->reason)) +
                          "</p>");
    case Verdict::kExpired:
      return HtmlPage(410, "Login expired",
                      "<p>Nobody completed this login in time. Run <code>tailscale up</code> "
                      "again for a new link.</p>");
    case Verdict::kPending: break;
  }
  return HtmlPage(
      200, "Device waiting to join",
      "<p><strong>" + device + "</strong> is waiting to join this tailnet. An administrator "
      "completes its registration by running, on the keel server:</p>\n"
      "<pre><code>keel auth register --auth-id " + id + " --user USERNAME</code></pre>\n"
      "<p>or through the API, with an API key: <code>POST /api/v1/auth/register</code> and the "
      "body <code>{\"authId\": \"" + id + "\", \"user\": \"USERNAME\"}</code>.</p>\n"
      "<p>To refuse it: <code>keel auth reject --auth-id " + id + "</code>.</p>\n"
      "<p>Machine key: <code>" + HtmlEscape(in.machine_key.ToText()) + "</code><br>\n"
      "This link expires at " +
      HtmlEscape(FormatTime(std::chrono::floor<std::chrono::seconds>(request->expires))) +
      ". <code>tailscale up</code> finishes on its own once the device is registered.</p>");
}

}  // namespace keel::login
