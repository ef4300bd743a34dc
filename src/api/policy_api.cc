// The policy endpoints of AdminApi: read, replace (database mode) and check the policy.

#include <nlohmann/json.hpp>

#include "api/admin_api.h"
#include "api/render.h"
#include "base/run_blocking.h"

namespace keel::api {
namespace {

using http::Request;
using http::Response;
using nlohmann::json;

// The "policy" string of a {"policy": text} body.
Result<std::string> PolicyText(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("policy") || !j["policy"].is_string()) {
    return MakeError(Errc::kInvalidArgument, R"(request body must be {"policy": "<policy text>"})");
  }
  return j["policy"].get<std::string>();
}

}  // namespace

AdminApi::Reply AdminApi::Policy(const Request& req) {
  if (req.method == "GET") {
    auto info = co_await RunBlocking(pool_, [&] { return tailnet_.GetPolicy(); });
    co_return JsonReply(200, {{"policy", info.text}, {"updatedAt", TimeJson(info.updated_at)}});
  }
  if (req.method != "PUT" && req.method != "POST") co_return MethodNotAllowed(req);
  if (policy_file_) {
    co_return MakeError(Errc::kFailedPrecondition,
                        "policy.mode is file; edit " +
                            (policy_file_->empty() ? std::string("the file named by policy.path")
                                                   : *policy_file_) +
                            " and send SIGHUP");
  }
  auto text = PolicyText(req.body);
  if (!text) co_return text.error();
  auto set = co_await RunBlocking(
      pool_, [&] { return tailnet_.SetPolicy(*text, tailnet::PolicySource::kDatabase); });
  if (!set) co_return set.error();
  logger_->info("policy replaced through the admin API");
  auto info = co_await RunBlocking(pool_, [&] { return tailnet_.GetPolicy(); });
  co_return JsonReply(200, {{"policy", info.text}, {"updatedAt", TimeJson(info.updated_at)}});
}

AdminApi::Reply AdminApi::CheckPolicy(const Request& req) {
  if (req.method != "POST") co_return MethodNotAllowed(req);
  auto text = PolicyText(req.body);
  if (!text) co_return text.error();
  auto checked = co_await RunBlocking(pool_, [&] { return tailnet_.CheckPolicy(*text); });
  if (!checked) co_return checked.error();
  co_return JsonReply(200, json::object());
}

}  // namespace keel::api
