// The HTTP surface of the relay on a plain keel::http::Router (derp.md §1.1-§1.5).
#include <algorithm>
#include <boost/asio/use_awaitable.hpp>
#include <cctype>

#include "derp/relay_internal.h"

namespace keel::derp {

namespace asio = boost::asio;

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return out;
}

bool ValidChallenge(std::string_view c) {
  if (c.empty() || c.size() > 64) return false;
  return std::all_of(c.begin(), c.end(), [](unsigned char ch) {
    return std::isalnum(ch) || ch == '.' || ch == '_' || ch == ':' || ch == '-';
  });
}

asio::awaitable<http::Response> ProbeHandler(http::Request request) {
  co_return ProbeResponse(request).value_or(http::Response::Text(404, "not found\n"));
}

asio::awaitable<http::Response> NoUpgradeHandler(http::Request) {
  co_return http::Response::Text(426, "DERP requires connection upgrade");
}

asio::awaitable<std::optional<http::Response>> UpgradeHandler(Relay* relay, http::Request request,
                                                              http::Upgrader& up) {
  auto kind = ClassifyDerpUpgrade(request);
  if (kind == DerpUpgradeKind::kNone) {
    co_return http::Response::Text(426, "DERP requires connection upgrade");
  }
  // A fast-start client expects no 101 and has already sent its ClientInfo behind the request.
  // (No co_await inside ?: : GCC 12 miscompiles it.)
  Result<std::unique_ptr<ByteStream>> stream = MakeError(Errc::kInternal, "unset");
  if (kind == DerpUpgradeKind::kWebSocket) {
    stream = co_await up.AcceptWebSocket("derp");
  } else if (WantsFastStart(request)) {
    stream = up.TakeOver();
  } else {
    stream = co_await up.Accept(DerpUpgradeHeaders(relay->public_key()));
  }
  if (!stream) co_return std::nullopt;
  co_await relay->Serve(std::move(*stream), request.remote);
  co_return std::nullopt;
}

}  // namespace

http::Headers DerpUpgradeHeaders(const crypto::Key32& server_public) {
  return {{"Upgrade", "DERP"},
          {"Connection", "Upgrade"},
          {"Derp-Version", std::to_string(kProtocolVersion)},
          {"Derp-Public-Key", HexEncode(server_public)}};
}

DerpUpgradeKind ClassifyDerpUpgrade(const http::Request& request) {
  std::string upgrade = Lower(request.Header("Upgrade"));
  if (upgrade == "derp") return DerpUpgradeKind::kRaw;
  if (upgrade != "websocket") return DerpUpgradeKind::kNone;
  // A WebSocket without the "derp" subprotocol is a legacy client speaking raw framing.
  std::string protocols = Lower(request.Header("Sec-WebSocket-Protocol"));
  size_t pos = 0;
  while (pos <= protocols.size()) {
    size_t comma = protocols.find(',', pos);
    if (comma == std::string::npos) comma = protocols.size();
    std::string token = protocols.substr(pos, comma - pos);
    token.erase(0, token.find_first_not_of(" \t"));
    token.erase(token.find_last_not_of(" \t") + 1);
    if (token == "derp") return DerpUpgradeKind::kWebSocket;
    pos = comma + 1;
  }
  return DerpUpgradeKind::kRaw;
}

bool WantsFastStart(const http::Request& request) {
  return request.Header("Derp-Fast-Start") == "1";
}

std::optional<http::Response> ProbeResponse(const http::Request& request) {
  if (request.path == "/derp/probe" || request.path == "/derp/latency-check") {
    if (request.method != "GET" && request.method != "HEAD") {
      return http::Response::Text(405, "bogus probe method\n");
    }
    http::Response r;
    r.status = 200;
    r.headers.emplace_back("Access-Control-Allow-Origin", "*");
    return r;
  }
  if (request.path == "/generate_204") {
    http::Response r;
    r.status = 204;
    r.headers.emplace_back("Cache-Control",
                           "no-cache, no-store, must-revalidate, no-transform, max-age=0");
    std::string_view challenge = request.Header("X-Tailscale-Challenge");
    if (ValidChallenge(challenge)) {
      r.headers.emplace_back("X-Tailscale-Response", "response " + std::string(challenge));
    }
    return r;
  }
  return std::nullopt;
}

void Relay::RegisterRoutes(http::Router& router) {
  router.HandleUpgrade("/derp", [this](http::Request r, http::Upgrader& up) {
    return UpgradeHandler(this, std::move(r), up);
  });
  router.Handle("/derp", NoUpgradeHandler);
  for (const char* path : {"/derp/probe", "/derp/latency-check", "/generate_204"}) {
    router.Handle(path, ProbeHandler);
  }
}

}  // namespace keel::derp
