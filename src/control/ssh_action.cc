// Tailscale SSH "check" rules: the destination's tailscaled holds an incoming SSH connection
// and asks keel what to do, fetching the rule's holdAndDelegate URL over its Noise channel.
//
// The first fetch gets, at once, a message for the person connecting (shown as an SSH banner)
// and a second URL naming a new auth request. The second fetch is a long poll: keel answers
// when an admin approves or rejects (`keel auth approve|reject --auth-id ID`) or when the
// request expires, which counts as a rejection. An approval is remembered for the policy's
// check period, so the pair is not asked again until it runs out.

#include <charconv>
#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "control/server_internal.h"
#include "policy/compiler.h"

namespace keel::control {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using nlohmann::json;
using Verdict = tailnet::AuthRequests::Verdict;

std::optional<model::NodeId> ParseId(std::string_view s) {
  model::NodeId id = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return id;
}

void ReplyAction(http::H2Stream& stream, const json& action) {
  Reply(stream, 200, action.dump(), "application/json");
}

json Accept() {
  return {{"accept", true}, {"allowAgentForwarding", true}, {"allowLocalPortForwarding", true},
          {"allowRemotePortForwarding", true}};
}

json Reject(std::string message) { return {{"reject", true}, {"message", std::move(message)}}; }

// Starts an auth request and tells the client where to wait for its verdict.
json Hold(ServerState& impl, model::NodeId src, model::NodeId dst, const std::string& local_user,
          const std::string& src_name, const std::string& dst_name) {
  auto r = impl.auth->CreateSshCheck(src, dst);
  impl.log->info("SSH check: {} -> {} as {} waits for approval: keel auth approve --auth-id {}",
                 src_name, dst_name, local_user, r.id);
  std::string url = "https://unused" + std::string(kSshActionPath) + std::to_string(src) + "/to/" +
                    std::to_string(dst) + "?auth_id=" + r.id +
                    "&local_user=" + PercentEncode(local_user);
  return {{"message", "# keel: this SSH connection needs an admin's approval.\n"
                      "# Ask them to run: keel auth approve --auth-id " + r.id + "\n"},
          {"holdAndDelegate", url}};
}

}  // namespace

awaitable<void> HandleSshAction(std::shared_ptr<ServerState> impl, crypto::MachinePublic machine,
                                http::Request req, std::shared_ptr<http::H2Stream> stream) {
  // "<src>/to/<dst>"
  std::string_view rest = std::string_view(req.path).substr(kSshActionPath.size());
  size_t to = rest.find("/to/");
  auto src = to == std::string_view::npos ? std::nullopt : ParseId(rest.substr(0, to));
  auto dst = to == std::string_view::npos ? std::nullopt : ParseId(rest.substr(to + 4));
  if (!src || !dst) co_return Reply(*stream, 400, "keel: want /machine/ssh/action/<src>/to/<dst>");
  auto snap = impl->tailnet.snapshot();
  const model::Node* dst_node = snap->FindNode(*dst);
  const model::Node* src_node = snap->FindNode(*src);
  if (!dst_node || !src_node) co_return Reply(*stream, 404, "keel: unknown node");
  // Only the destination asks about connections to itself.
  if (dst_node->machine_key != machine) co_return Reply(*stream, 403, "keel: not the destination node");
  if (!impl->auth) co_return ReplyAction(*stream, Reject("keel: SSH check is not enabled on this server\n"));
  std::string local_user = req.Query("local_user").value_or("");
  std::string src_name = src_node->given_name, dst_name = dst_node->given_name;

  auto auth_id = req.Query("auth_id");
  std::optional<tailnet::AuthRequests::Request> pending;
  if (auth_id) pending = impl->auth->Find(*auth_id);
  if (auth_id && pending && (pending->src != *src || pending->dst != *dst)) {
    co_return Reply(*stream, 400, "keel: auth request is for another connection");
  }
  if (!pending) {
    // A first fetch, or a follow-up whose request keel no longer knows (e.g. after a restart).
    auto period = std::chrono::seconds(snap->policy ? snap->policy->SshCheckPeriodSeconds() : 0);
    if (!auth_id && period.count() > 0 && impl->auth->ApprovedWithin(*src, *dst, period)) {
      co_return ReplyAction(*stream, Accept());
    }
    co_return ReplyAction(*stream, Hold(*impl, *src, *dst, local_user, src_name, dst_name));
  }

  // The long poll: wait for the verdict (or the deadline); a closed stream cancels the wait.
  co_await AwaitVerdict(*impl, *pending);
  if (stream->closed()) co_return;
  auto decided = impl->auth->Find(pending->id);
  Verdict v = decided ? decided->verdict : Verdict::kExpired;
  if (v == Verdict::kPending) v = Verdict::kExpired;  // the deadline passed with no verdict yet
  if (v == Verdict::kApproved) {
    impl->auth->RememberApproval(*src, *dst);
    impl->log->info("SSH check {}: {} -> {} approved", pending->id, src_name, dst_name);
    co_return ReplyAction(*stream, Accept());
  }
  impl->log->info("SSH check {}: {} -> {} {}", pending->id, src_name, dst_name,
                  v == Verdict::kRejected ? "rejected" : "expired without an answer");
  co_return ReplyAction(*stream, Reject(v == Verdict::kRejected
                                            ? "keel: an admin rejected this SSH connection\n"
                                            : "keel: this SSH connection was not approved in time\n"));
}

}  // namespace keel::control
