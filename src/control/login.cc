// Interactive login over /machine/register (control.md §1.3 B). The client is sent to
// <server_url>/register/<auth-id>; it then repeats the request with Followup naming that URL
// and keel holds the follow-up until the login is decided (`keel auth register` or `auth
// reject`, the API, or an identity provider), so a waiting client costs one idle HTTP/2 stream
// and no retries. The pending registration lives in AuthRequests, not the store: a keel
// restart forgets it and the client's next follow-up simply gets a fresh URL.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "base/run_blocking.h"
#include "control/control_metrics.h"
#include "control/server_internal.h"

namespace keel::control {
namespace {

namespace asio = boost::asio;
using Verdict = tailnet::AuthRequests::Verdict;

constexpr std::string_view kRegisterPath = "/register/";

// The auth id at the end of a Followup URL ("" when it names none).
std::string AuthIdOf(std::string_view followup) {
  size_t at = followup.rfind(kRegisterPath);
  if (at == std::string_view::npos) return "";
  return std::string(followup.substr(at + kRegisterPath.size()));
}

tailcfg::RegisterResponse Refusal(std::string message) {
  tailcfg::RegisterResponse r;
  r.error = std::move(message);
  return r;
}

}  // namespace

asio::awaitable<void> AwaitVerdict(ServerState& impl, const tailnet::AuthRequests::Request& r) {
  auto executor = co_await asio::this_coro::executor;
  auto wake = std::make_shared<asio::steady_timer>(executor);
  // A little past the deadline, so that Find reports the request expired.
  wake->expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      impl.auth->TimeLeft(r) + std::chrono::milliseconds(50)));
  impl.auth->OnDecided(r.id, executor, [wake] { wake->cancel(); });
  co_await wake->async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<tailcfg::RegisterResponse> HandleLogin(std::shared_ptr<ServerState> impl,
                                                       std::shared_ptr<tailnet::RegisterInput> input,
                                                       std::string followup,
                                                       std::shared_ptr<http::H2Stream> stream) {
  if (impl->auth == nullptr) {
    co_return Refusal("interactive login is not enabled on this server; use --auth-key");
  }
  const tailnet::RegisterInput& in = *input;
  if (!followup.empty()) {
    auto pending = impl->auth->Find(AuthIdOf(followup));
    // Only the machine and node key that started a login may wait on it.
    if (pending && pending->registration && pending->registration->machine_key == in.machine_key &&
        pending->registration->node_key == in.node_key) {
      if (pending->verdict == Verdict::kPending) co_await AwaitVerdict(*impl, *pending);
      if (stream->closed()) co_return tailcfg::RegisterResponse{};
      auto decided = impl->auth->Find(pending->id);
      // tailscaled repeats a refused follow-up with backoff until someone runs `tailscale up`
      // again; it hears the refusal once, and then waits on a fresh login instead.
      if (decided && decided->verdict == Verdict::kRejected &&
          impl->auth->FirstRejectionReport(decided->id)) {
        metrics::Registrations("refused").Increment();
        impl->log->info("login {} for {} was rejected", pending->id, in.node_key.ToText());
        co_return Refusal(decided->reason.empty() ? "keel: an admin rejected this login"
                                                  : decided->reason);
      }
      // Approved, or expired (an approval can race the deadline): the node key is registered
      // by now, or a fresh login follows below.
      auto call = [impl, input] { return impl->tailnet.Register(*input); };  // named: run_blocking.h
      auto outcome = co_await RunBlocking(impl->pool, std::move(call));
      if (!outcome) co_return Refusal(outcome.error().message);
      if (outcome->kind != tailnet::RegisterOutcome::Kind::kLoginRequired) {
        metrics::Registrations(outcome->kind == tailnet::RegisterOutcome::Kind::kAuthorized
                                   ? "authorized"
                                   : "refused")
            .Increment();
        impl->log->info("login {} completed: {} from {} is {}", pending->id,
                        in.node_key.ToText(), in.machine_key.ToText(),
                        outcome->node ? "node " + std::to_string(outcome->node->id) : "refused");
        co_return ToRegisterResponse(*outcome);
      }
    }
  }
  bool created = false;
  auto request = impl->auth->CreateRegistration(in, &created);
  std::string url = impl->settings.server_url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  url += std::string(kRegisterPath) + request.id;
  metrics::Registrations("login_required").Increment();
  // Logged once per login, not per request: a client that restarts while waiting asks again.
  if (created) {
    impl->log->info("register {} from {}: login required at {}", in.node_key.ToText(),
                    in.machine_key.ToText(), url);
  }
  tailcfg::RegisterResponse r;
  r.auth_url = std::move(url);
  co_return r;
}

}  // namespace keel::control
