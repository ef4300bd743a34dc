#pragma once
// Test-only: an OpenID Provider in the test process (discovery, JWKS, token and userinfo
// endpoints over keel's own HTTP server on its own thread), so unit tests can drive the code
// exchange and token checks without a network. The real provider is exercised by the e2e
// tests (npm's oidc-provider).

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "base/bytes.h"
#include "base/log.h"
#include "http/server.h"
#include "oidc/random.h"
#include "oidc/test_signer.h"

namespace keel::oidc {

class TestProvider {
 public:
  TestProvider() : signer_(TestSigner::Rsa("test-key-1")) {
    router_.Handle("/.well-known/openid-configuration", [this](http::Request) -> Reply {
      co_return http::Response::Json(200, discovery_override_.empty() ? Discovery().dump()
                                                                      : discovery_override_);
    });
    router_.Handle("/jwks", [this](http::Request) -> Reply {
      std::lock_guard lock(mu_);
      ++jwks_fetches_;
      co_return http::Response::Json(200, signer_.Jwks());
    });
    router_.Handle("/token", [this](http::Request req) -> Reply { co_return Token(req); });
    router_.Handle("/userinfo", [this](http::Request req) -> Reply {
      std::lock_guard lock(mu_);
      if (req.Header("Authorization") != "Bearer access-" + last_code_) {
        co_return http::Response::Json(401, R"({"error":"invalid_token"})");
      }
      co_return http::Response::Json(200, userinfo_.dump());
    });
    server_ = std::make_unique<http::Server>(io_.get_executor(), router_, http::ServerSettings{},
                                             GetLogger("test_idp"));
    port_ = server_->ListenTcp("127.0.0.1", 0).value();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~TestProvider() {
    std::promise<void> stopped;
    boost::asio::post(io_, [&] {
      server_->Stop();
      stopped.set_value();
    });
    stopped.get_future().wait();
    io_.stop();
    thread_.join();
  }

  std::string issuer() const { return "http://127.0.0.1:" + std::to_string(port_); }
  static constexpr const char* kClientId = "keel";
  static constexpr const char* kClientSecret = "s3cret-of-keel";

  nlohmann::json Discovery() const {
    return {{"issuer", issuer()},
            {"authorization_endpoint", issuer() + "/auth"},
            {"token_endpoint", issuer() + "/token"},
            {"userinfo_endpoint", issuer() + "/userinfo"},
            {"jwks_uri", issuer() + "/jwks"},
            {"id_token_signing_alg_values_supported", {"RS256"}},
            {"code_challenge_methods_supported", {"S256"}}};
  }
  void OverrideDiscovery(std::string doc) { discovery_override_ = std::move(doc); }

  // A code the token endpoint will trade once for an ID token of `claims` (iss, aud and exp
  // filled in unless given), when `challenge` (if any) matches the verifier sent.
  std::string IssueCode(nlohmann::json claims, std::string challenge = "") {
    claims.emplace("iss", issuer());
    claims.emplace("aud", kClientId);
    claims.emplace("exp", std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                                  .count() + 3600);
    std::lock_guard lock(mu_);
    std::string code = RandomToken(16);
    codes_[code] = {signer_.Sign(claims), std::move(challenge)};
    return code;
  }
  void SetUserInfo(nlohmann::json info) {
    std::lock_guard lock(mu_);
    userinfo_ = std::move(info);
  }
  // Replaces the signing key (a rotation): tokens signed before no longer verify.
  void RotateKey(std::string kid) {
    std::lock_guard lock(mu_);
    signer_ = TestSigner::Rsa(std::move(kid));
  }
  int jwks_fetches() {
    std::lock_guard lock(mu_);
    return jwks_fetches_;
  }
  std::string last_token_request() {
    std::lock_guard lock(mu_);
    return last_token_request_;
  }

 private:
  using Reply = boost::asio::awaitable<http::Response>;
  struct Issued {
    std::string id_token;
    std::string challenge;
  };

  http::Response Token(const http::Request& req) {
    std::lock_guard lock(mu_);
    last_token_request_ = req.body;
    std::string basic = "Basic " + Base64Encode(AsBytes(std::string(kClientId) + ":" + kClientSecret));
    if (req.Header("Authorization") != basic) return http::Response::Json(401, R"({"error":"invalid_client"})");
    auto field = [&](const std::string& key) {
      http::Request form;
      form.query = req.body;
      return form.Query(key).value_or("");
    };
    auto it = codes_.find(field("code"));
    if (it == codes_.end()) return http::Response::Json(400, R"({"error":"invalid_grant"})");
    Issued issued = it->second;
    codes_.erase(it);  // a code is good once
    if (!issued.challenge.empty() && S256Challenge(field("code_verifier")) != issued.challenge) {
      return http::Response::Json(400, R"({"error":"invalid_grant"})");
    }
    last_code_ = field("code");
    return http::Response::Json(200, nlohmann::json{{"id_token", issued.id_token},
                                                    {"access_token", "access-" + last_code_},
                                                    {"token_type", "Bearer"}}
                                         .dump());
  }

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{io_.get_executor()};
  http::Router router_;
  std::unique_ptr<http::Server> server_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  TestSigner signer_;
  std::map<std::string, Issued> codes_;
  nlohmann::json userinfo_ = nlohmann::json::object();
  std::string last_code_;
  std::string last_token_request_;
  std::string discovery_override_;
  int jwks_fetches_ = 0;
};

}  // namespace keel::oidc
