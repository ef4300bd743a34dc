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
#include "noise/handshake.h"
#include "noise/stream.h"

namespace keel::control::testing {

// One plain HTTP/1.1 request; returns {status, body}.
boost::asio::awaitable<std::pair<int, std::string>> HttpGet(uint16_t port, std::string target);

// Upgrades to TS2021 and completes the handshake; `early` receives the early payload (magic
// and JSON). The payload is consumed even when `early` is null.
boost::asio::awaitable<std::unique_ptr<noise::NoiseStream>> DialNoise(
    uint16_t port, const crypto::PrivateKey& machine, const crypto::MachinePublic& control,
    uint16_t capver, std::string* early);

// The same over the WebSocket form of the upgrade (no early payload there).
boost::asio::awaitable<std::unique_ptr<noise::NoiseStream>> DialNoiseWebSocket(
    uint16_t port, const crypto::PrivateKey& machine, const crypto::MachinePublic& control,
    uint16_t capver);

// An upgrade attempt: the HTTP status and, on 101, the raw transport after it.
struct Upgraded {
  int status = 0;
  std::unique_ptr<ByteStream> raw;
};

// POST /ts2021 with Upgrade: tailscale-control-protocol and `handshake` (base64 text, sent as
// is) in X-Tailscale-Handshake.
boost::asio::awaitable<Upgraded> UpgradeNative(uint16_t port, std::string handshake);

// A WebSocket client handshake for `target` offering `subprotocol` (none when empty); on
// success `raw` carries binary messages.
boost::asio::awaitable<Upgraded> UpgradeWebSocket(uint16_t port, std::string target,
                                                  std::string subprotocol);

// Reads the server's handshake answer (51-byte response, or an error frame) from `raw` and
// passes it to `hs`.
boost::asio::awaitable<Result<noise::CipherKeys>> ReadHandshakeResponse(ByteStream& raw,
                                                                        noise::ClientHandshake& hs);

// Reads until the peer closes (EOF or error); returns everything read before that.
boost::asio::awaitable<std::string> ReadUntilClosed(ByteStream& s);

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
  // Announces a stream flow-control window of `bytes`; 0 lets the server send no body bytes,
  // like a client that stopped reading.
  void SetInitialWindow(uint32_t bytes);
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
