// The auth endpoints of AdminApi: completing or refusing what waits in AuthRequests.
// - POST auth/register {"authId","user"}: completes a waiting `tailscale up` for that user
//   (Headscale 0.29's AuthRegister); node/register?user=&key= is its older spelling.
// - POST auth/approve | auth/reject {"authId"}: decides an SSH check; reject also refuses a
//   login, whose client then shows the message.

#include "api/admin_api.h"
#include "api/request.h"
#include "base/run_blocking.h"

namespace keel::api {
namespace {

using http::Request;
using nlohmann::json;

// The auth id from a JSON body ("authId", or the proto's own "auth_id").
Result<std::string> AuthIdOf(const json& body) {
  auto id = Field<std::string>(body, "authId");
  if (id && id->empty()) id = Field<std::string>(body, "auth_id");
  if (!id) return id.error();
  if (id->empty()) return BadRequest("field \"authId\" is required");
  return id;
}

}  // namespace

AdminApi::Reply AdminApi::DecideAuth(const Request& req, bool approve) {
  auto body = ParseBody(req.body);
  if (!body) co_return body.error();
  auto id = AuthIdOf(*body);
  if (!id) co_return id.error();
  if (!auth_) co_return MakeError(Errc::kNotFound, "no pending auth request " + *id);
  auto pending = auth_->Find(*id);
  if (approve && pending && pending->registration) {
    co_return BadRequest("auth request " + *id + " is a login: it needs a user (keel auth "
                         "register --auth-id " + *id + " --user NAME)");
  }
  auto r = auth_->Decide(*id, approve,
                         pending && pending->registration ? "keel: an admin rejected this login"
                                                          : "");
  if (!r) co_return r.error();
  logger_->info("auth request {} {}", *id, approve ? "approved" : "rejected");
  co_return JsonReply(200, json::object());
}

AdminApi::Reply AdminApi::RegisterLogin(const Request& req, bool legacy_node_register) {
  std::string id, user_text;
  if (legacy_node_register) {
    id = req.Query("key").value_or("");
    user_text = req.Query("user").value_or("");
  } else {
    auto body = ParseBody(req.body);
    if (!body) co_return body.error();
    auto found = AuthIdOf(*body);
    if (!found) co_return found.error();
    id = *found;
    auto user = Field<std::string>(*body, "user");
    if (!user) co_return user.error();
    user_text = *user;
  }
  if (id.empty()) co_return BadRequest("the auth id (key) is required");
  if (user_text.empty()) co_return BadRequest("field \"user\" is required");
  auto user = ResolveUser(user_text);
  if (!user) co_return user.error();
  auto pending = auth_ ? auth_->Find(id) : std::nullopt;
  if (!pending || !pending->registration) {
    co_return MakeError(Errc::kNotFound, "no pending login " + id);
  }
  if (pending->verdict != tailnet::AuthRequests::Verdict::kPending) {
    co_return MakeError(Errc::kFailedPrecondition,
                        "login " + id + " is no longer pending (" +
                            (pending->verdict == tailnet::AuthRequests::Verdict::kExpired
                                 ? "it expired; run tailscale up again"
                                 : "already decided") +
                            ")");
  }
  model::UserId uid = user->id;
  auto call = [this, id, uid] { return tailnet::CompleteLogin(tailnet_, *auth_, id, uid); };
  auto outcome = co_await RunBlocking(pool_, std::move(call));  // named: run_blocking.h
  if (!outcome) co_return outcome.error();
  // Refused (e.g. tags this user may not apply): the client learns why too.
  if (outcome->kind == tailnet::RegisterOutcome::Kind::kRefused) {
    co_return MakeError(Errc::kPermissionDenied, outcome->error);
  }
  logger_->info("login {} registered node {} ({}) for user {}", id, outcome->node->id,
                outcome->node->given_name, user->name);
  co_return co_await NodeReply(outcome->node->id, *outcome->node);
}

}  // namespace keel::api
