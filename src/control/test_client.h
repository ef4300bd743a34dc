#pragma once
// In-process Tailscale-like client for control tests: GET /key, the /ts2021 upgrade, the
// Noise handshake and an nghttp2 client session over the Noise stream, plus map-frame
// decoding. Test-only; runs on one io_context thread.

#include <nghttp2/nghttp2.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "crypto/keys.h"
#include "noise/stream.h"

namespace keel::control::testing {

// One plain HTTP/1.1 request; returns {status, body}.
boost::asio::awaitable<std::pair<int, std::string>> HttpGet(uint16_t port, std::string target);

// Upgrades to TS2021 and completes the handshake; `early` receives the early payload JSON.
boost::asio::awaitable<std::unique_ptr<noise::NoiseStream>> DialNoise(
    uint16_t port, const crypto::PrivateKey& machine, const crypto::MachinePublic& control,
    uint16_t capver, std::string* early);

class H2Client {
 public:
  struct Stream {
    int status = 0;
    std::string body;
    bool closed = false;
    std::string request_body;
    size_t sent = 0;
  };

  explicit H2Client(std::unique_ptr<noise::NoiseStream> conn);
  ~H2Client();

  int32_t Post(const std::string& path, std::string body);
  const Stream& stream(int32_t id) const { return streams_.at(id); }
  // Sends what nghttp2 has queued, then reads until `done()` or the connection ends.
  boost::asio::awaitable<bool> PumpUntil(std::function<bool()> done);
  void Close() { conn_->Close(); }

 private:
  static ssize_t Send(nghttp2_session*, const uint8_t*, size_t, int, void*);
  boost::asio::awaitable<bool> Flush();

  std::unique_ptr<noise::NoiseStream> conn_;
  nghttp2_session* session_ = nullptr;
  std::string out_;
  std::map<int32_t, Stream> streams_;
};

// Splits a map response body into decoded JSON messages (frames: LE length + zstd).
std::vector<nlohmann::json> DecodeFrames(const std::string& body);

}  // namespace keel::control::testing
