// The pre-auth key endpoints of AdminApi: list, create, expire and delete.

#include "api/admin_api.h"
#include "api/render.h"
#include "api/request.h"
#include "base/run_blocking.h"

namespace keel::api {

using http::Request;
using nlohmann::json;

AdminApi::Reply AdminApi::PreAuthKeys(const Request& req) {
  if (req.method == "GET") {
    // Headscale 0.29 lists every key; ?user= (id or name) narrows it, as older releases did.
    std::string user_name;
    if (auto filter = req.Query("user"); filter && !filter->empty()) {
      auto user = ResolveUser(*filter);
      if (!user) co_return user.error();
      user_name = user->name;
    }
    auto keys = co_await RunBlocking(pool_, [&] { return tailnet_.ListPreAuthKeys(user_name); });
    auto snap = tailnet_.snapshot();
    json out = json::array();
    for (const auto& k : keys) out.push_back(PreAuthKeyJson(k, *snap));
    co_return JsonReply(200, {{"preAuthKeys", std::move(out)}});
  }
  if (req.method == "DELETE") {  // DELETE preauthkey?id=N
    auto id = ParseId(req.Query("id").value_or(""), "pre-auth key");
    if (!id) co_return id.error();
    auto r = co_await RunBlocking(pool_, [&] { return tailnet_.DeletePreAuthKey(*id); });
    if (!r) co_return r.error();
    logger_->info("deleted pre-auth key {}", *id);
    co_return JsonReply(200, json::object());
  }
  if (req.method != "POST") co_return MethodNotAllowed(req);
  auto body = ParseBody(req.body);
  if (!body) co_return body.error();
  // "user" is an id in Headscale 0.29 (a string or a number); a name is taken too.
  std::string user_ref;
  if (auto it = body->find("user"); it != body->end() && !it->is_null()) {
    if (it->is_string()) {
      user_ref = it->get<std::string>();
    } else if (it->is_number_unsigned()) {
      user_ref = std::to_string(it->get<uint64_t>());
    } else {
      co_return BadRequest("field \"user\" must be a user id or name");
    }
  }
  auto reusable = Field<bool>(*body, "reusable");
  auto ephemeral = Field<bool>(*body, "ephemeral");
  auto expiration_text = Field<std::string>(*body, "expiration");
  auto tags = Field<std::vector<std::string>>(*body, "aclTags");
  if (!reusable) co_return reusable.error();
  if (!ephemeral) co_return ephemeral.error();
  if (!expiration_text) co_return expiration_text.error();
  if (!tags) co_return tags.error();
  if (user_ref.empty() || user_ref == "0") {
    co_return BadRequest("field \"user\" is required: keel's pre-auth keys belong to a user");
  }
  auto user = ResolveUser(user_ref);
  if (!user) co_return user.error();
  SystemTime expiration = ZeroTime();
  if (!expiration_text->empty()) {
    auto t = ParseTime(*expiration_text);
    if (!t) co_return BadRequest("expiration \"" + *expiration_text + "\" is not RFC 3339");
    expiration = *t;
  }
  auto created = co_await RunBlocking(pool_, [&] {
    return tailnet_.CreatePreAuthKey(user->name, *reusable, *ephemeral, expiration, *tags);
  });
  if (!created) co_return created.error();
  logger_->info("created pre-auth key {} for user {}", created->key.prefix, user->name);
  co_return JsonReply(200, {{"preAuthKey", PreAuthKeyJson(created->key, *tailnet_.snapshot(),
                                                          created->secret_text)}});
}

// POST preauthkey/expire {"id"}; {"key"} (the whole key or its prefix) is taken too.
AdminApi::Reply AdminApi::ExpirePreAuthKey(const Request& req) {
  auto body = ParseBody(req.body);
  if (!body) co_return body.error();
  auto id = IdField(*body, "id");
  auto key = Field<std::string>(*body, "key");
  if (!id) co_return id.error();
  if (!key) co_return key.error();
  std::string target = *key;
  if (*id != 0) {
    for (const auto& k : tailnet_.ListPreAuthKeys()) {
      if (k.id == *id) target = k.prefix;
    }
    if (target.empty()) {
      co_return MakeError(Errc::kNotFound, "pre-auth key " + std::to_string(*id) + " not found");
    }
  }
  if (target.empty()) co_return BadRequest("field \"id\" is required");
  auto r = co_await RunBlocking(pool_, [&] { return tailnet_.ExpirePreAuthKey(target); });
  if (!r) co_return r.error();
  logger_->info("expired a pre-auth key");  // the text may be the full secret: never logged
  co_return JsonReply(200, json::object());
}

}  // namespace keel::api
