#include "control/test_client.h"

#include <zstd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "base/bytes.h"
#include "control/frame.h"
#include "crypto/x25519.h"
#include "http/tcp_byte_stream.h"
#include "noise/handshake.h"

namespace keel::control::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using asio::awaitable;
using asio::ip::tcp;

awaitable<tcp::socket> Connect(uint16_t port) {
  tcp::socket s(co_await asio::this_coro::executor);
  co_await s.async_connect({asio::ip::make_address("127.0.0.1"), port}, asio::use_awaitable);
  co_return s;
}

// Reads the response head; returns it and leaves anything after it in `rest`.
awaitable<std::string> ReadHead(tcp::socket& s, std::string& rest) {
  std::string buf;
  char chunk[4096];
  size_t end;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
    size_t n = co_await s.async_read_some(asio::buffer(chunk), asio::use_awaitable);
    buf.append(chunk, n);
  }
  rest = buf.substr(end + 4);
  co_return buf.substr(0, end + 4);
}

awaitable<bool> ReadExact(ByteStream& s, std::span<uint8_t> out) {
  size_t got = 0;
  while (got < out.size()) {
    auto n = co_await s.ReadSome(out.subspan(got));
    if (!n || *n == 0) co_return false;
    got += *n;
  }
  co_return true;
}

// Client side of the WebSocket transport: each write is one binary message, reads
// concatenate message payloads.
class WsClientStream final : public ByteStream {
 public:
  explicit WsClientStream(tcp::socket s) : ws_(std::move(s)) {}

  // Returns the HTTP status of the handshake answer (101 on success).
  awaitable<int> Handshake(const std::string& target, const std::string& subprotocol) {
    ws_.set_option(websocket::stream_base::decorator([subprotocol](websocket::request_type& req) {
      if (!subprotocol.empty()) req.set(beast::http::field::sec_websocket_protocol, subprotocol);
    }));
    ws_.binary(true);
    websocket::response_type res;
    auto [ec] = co_await ws_.async_handshake(res, "127.0.0.1", target, asio::as_tuple(asio::use_awaitable));
    (void)ec;
    co_return static_cast<int>(res.result_int());
  }

  awaitable<Result<size_t>> ReadSome(std::span<uint8_t> out) override {
    while (true) {
      auto [ec, n] = co_await ws_.async_read_some(asio::buffer(out.data(), out.size()),
                                                  asio::as_tuple(asio::use_awaitable));
      if (ec == websocket::error::closed) co_return size_t{0};
      if (ec) co_return MakeError(Errc::kUnavailable, "websocket read: " + ec.message());
      if (n > 0) co_return n;
    }
  }

  awaitable<Result<void>> WriteAll(std::span<const uint8_t> data) override {
    auto [ec, n] = co_await ws_.async_write(asio::buffer(data.data(), data.size()),
                                            asio::as_tuple(asio::use_awaitable));
    if (ec) co_return MakeError(Errc::kUnavailable, "websocket write: " + ec.message());
    co_return Result<void>();
  }

  void Close() override {
    boost::system::error_code ec;
    ws_.next_layer().shutdown(tcp::socket::shutdown_both, ec);
    ws_.next_layer().close(ec);
  }

  asio::any_io_executor executor() override { return ws_.get_executor(); }

 private:
  websocket::stream<tcp::socket> ws_;
};

}  // namespace

awaitable<std::pair<int, std::string>> HttpGet(uint16_t port, std::string target) {
  tcp::socket s = co_await Connect(port);
  std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  co_await asio::async_write(s, asio::buffer(req), asio::use_awaitable);
  std::string body;
  std::string head = co_await ReadHead(s, body);
  int status = std::stoi(head.substr(9, 3));
  size_t length = 0;
  if (auto p = head.find("ontent-Length: "); p != std::string::npos) length = std::stoul(head.substr(p + 15));
  if (auto p = head.find("ontent-length: "); p != std::string::npos) length = std::stoul(head.substr(p + 15));
  char chunk[4096];
  while (body.size() < length) {
    size_t n = co_await s.async_read_some(asio::buffer(chunk), asio::use_awaitable);
    body.append(chunk, n);
  }
  co_return std::pair{status, body};
}

awaitable<Upgraded> UpgradeNative(uint16_t port, std::string handshake) {
  tcp::socket s = co_await Connect(port);
  std::string req = "POST /ts2021 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: upgrade\r\n"
                    "Upgrade: tailscale-control-protocol\r\nX-Tailscale-Handshake: " +
                    handshake + "\r\nContent-Length: 0\r\n\r\n";
  co_await asio::async_write(s, asio::buffer(req), asio::use_awaitable);
  std::string rest;
  std::string head = co_await ReadHead(s, rest);
  Upgraded out;
  out.status = std::stoi(head.substr(9, 3));
  if (out.status == 101) out.raw = std::make_unique<http::TcpByteStream>(std::move(s), std::move(rest));
  co_return out;
}

awaitable<Upgraded> UpgradeWebSocket(uint16_t port, std::string target, std::string subprotocol) {
  auto ws = std::make_unique<WsClientStream>(co_await Connect(port));
  Upgraded out;
  out.status = co_await ws->Handshake(target, subprotocol);
  if (out.status == 101) out.raw = std::move(ws);
  co_return out;
}

awaitable<Result<noise::CipherKeys>> ReadHandshakeResponse(ByteStream& raw, noise::ClientHandshake& hs) {
  // Both answers start with type and a big-endian length; only the error frame's length varies.
  Bytes answer(3);
  if (!co_await ReadExact(raw, answer)) co_return MakeError(Errc::kUnavailable, "closed before the response");
  size_t rest = answer[0] == 0x03 ? (size_t(answer[1]) << 8 | answer[2]) : noise::kResponseSize - 3;
  answer.resize(3 + rest);
  if (!co_await ReadExact(raw, std::span<uint8_t>(answer).subspan(3))) {
    co_return MakeError(Errc::kUnavailable, "closed inside the response");
  }
  co_return hs.ReadResponse(answer);
}

awaitable<std::string> ReadUntilClosed(ByteStream& s) {
  std::string got;
  std::array<uint8_t, 4096> buf;
  while (true) {
    auto n = co_await s.ReadSome(buf);
    if (!n || *n == 0) co_return got;
    got.append(AsChars(std::span<const uint8_t>(buf.data(), *n)));
  }
}

awaitable<std::unique_ptr<noise::NoiseStream>> DialNoise(uint16_t port, const crypto::PrivateKey& machine,
                                                         const crypto::MachinePublic& control,
                                                         uint16_t capver, std::string* early) {
  noise::ClientHandshake hs(machine, control, capver, crypto::GeneratePrivateKey());
  Upgraded up = co_await UpgradeNative(port, Base64Encode(hs.initiation()));
  if (!up.raw) co_return nullptr;
  auto keys = co_await ReadHandshakeResponse(*up.raw, hs);
  if (!keys) co_return nullptr;
  auto conn = std::make_unique<noise::NoiseStream>(std::move(up.raw), *keys);
  if (capver >= 49) {
    std::array<uint8_t, 9> prefix;
    if (!co_await ReadExact(*conn, prefix)) co_return nullptr;
    uint32_t n = uint32_t(prefix[5]) << 24 | uint32_t(prefix[6]) << 16 | uint32_t(prefix[7]) << 8 | prefix[8];
    Bytes json(n);
    if (!co_await ReadExact(*conn, json)) co_return nullptr;
    if (early) *early = std::string(AsChars(prefix).substr(0, 5)) + std::string(AsChars(json));
  }
  co_return conn;
}

awaitable<std::unique_ptr<noise::NoiseStream>> DialNoiseWebSocket(uint16_t port, const crypto::PrivateKey& machine,
                                                                  const crypto::MachinePublic& control,
                                                                  uint16_t capver) {
  noise::ClientHandshake hs(machine, control, capver, crypto::GeneratePrivateKey());
  std::string target = "/ts2021?X-Tailscale-Handshake=" + PercentEncode(Base64Encode(hs.initiation()));
  Upgraded up = co_await UpgradeWebSocket(port, std::move(target), "tailscale-control-protocol");
  if (!up.raw) co_return nullptr;
  auto keys = co_await ReadHandshakeResponse(*up.raw, hs);
  if (!keys) co_return nullptr;
  co_return std::make_unique<noise::NoiseStream>(std::move(up.raw), *keys);
}

H2Client::H2Client(std::unique_ptr<noise::NoiseStream> conn) : conn_(std::move(conn)) {
  nghttp2_session_callbacks* cb;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_send_callback(cb, &H2Client::Send);
  nghttp2_session_callbacks_set_on_header_callback(
      cb, [](nghttp2_session*, const nghttp2_frame* f, const uint8_t* name, size_t name_len,
             const uint8_t* value, size_t value_len, uint8_t, void* self) -> int {
        if (std::string_view(reinterpret_cast<const char*>(name), name_len) == ":status") {
          auto& st = static_cast<H2Client*>(self)->streams_[f->hd.stream_id];
          st.status = std::stoi(std::string(reinterpret_cast<const char*>(value), value_len));
        }
        return 0;
      });
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
      cb, [](nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len, void* self) -> int {
        static_cast<H2Client*>(self)->streams_[id].body.append(reinterpret_cast<const char*>(data), len);
        return 0;
      });
  nghttp2_session_callbacks_set_on_stream_close_callback(
      cb, [](nghttp2_session*, int32_t id, uint32_t, void* self) -> int {
        static_cast<H2Client*>(self)->streams_[id].closed = true;
        return 0;
      });
  nghttp2_session_client_new(&session_, cb, this);
  nghttp2_session_callbacks_del(cb);
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, nullptr, 0);
}

H2Client::~H2Client() { nghttp2_session_del(session_); }

ssize_t H2Client::Send(nghttp2_session*, const uint8_t* data, size_t len, int, void* self) {
  static_cast<H2Client*>(self)->out_.append(reinterpret_cast<const char*>(data), len);
  return static_cast<ssize_t>(len);
}

void H2Client::SetInitialWindow(uint32_t bytes) {
  nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, bytes}};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv, 1);
}

int32_t H2Client::Post(const std::string& path, std::string body) {
  auto nv = [](const char* n, const std::string& v) {
    return nghttp2_nv{(uint8_t*)n, (uint8_t*)v.data(), strlen(n), v.size(), NGHTTP2_NV_FLAG_NONE};
  };
  std::string method = "POST", scheme = "https", authority = "127.0.0.1";
  std::vector<nghttp2_nv> headers = {nv(":method", method), nv(":scheme", scheme),
                                     nv(":authority", authority), nv(":path", path)};
  nghttp2_data_provider provider{};
  provider.read_callback = [](nghttp2_session* s, int32_t id, uint8_t* buf, size_t len, uint32_t* flags,
                              nghttp2_data_source*, void* self) -> ssize_t {
    (void)s;
    auto& st = static_cast<H2Client*>(self)->streams_[id];
    size_t n = std::min(len, st.request_body.size() - st.sent);
    memcpy(buf, st.request_body.data() + st.sent, n);
    st.sent += n;
    if (st.sent == st.request_body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  };
  // The body must be in place before nghttp2 asks for it, which happens on the next send.
  int32_t id = nghttp2_submit_request(session_, nullptr, headers.data(), headers.size(), &provider, nullptr);
  streams_[id].request_body = std::move(body);
  return id;
}

awaitable<bool> H2Client::Flush() {
  if (nghttp2_session_send(session_) != 0) co_return false;
  if (out_.empty()) co_return true;
  std::string data = std::move(out_);
  out_.clear();
  auto r = co_await conn_->WriteAll(AsBytes(data));
  co_return bool(r);
}

awaitable<bool> H2Client::PumpUntil(std::function<bool()> done) {
  std::array<uint8_t, 16384> buf;
  while (true) {
    if (!co_await Flush()) co_return false;
    if (done()) co_return true;
    auto n = co_await conn_->ReadSome(buf);
    if (!n || *n == 0) co_return false;
    if (nghttp2_session_mem_recv(session_, buf.data(), *n) < 0) co_return false;
  }
}

std::vector<nlohmann::json> DecodeFrames(const std::string& body) {
  std::vector<nlohmann::json> out;
  size_t pos = 0;
  while (pos + 4 <= body.size()) {
    uint32_t n = FrameLength(std::string_view(body).substr(pos));
    if (pos + 4 + n > body.size()) break;
    const char* payload = body.data() + pos + 4;
    std::string json(ZSTD_getFrameContentSize(payload, n), '\0');
    size_t got = ZSTD_decompress(json.data(), json.size(), payload, n);
    out.push_back(ZSTD_isError(got) ? nlohmann::json("zstd error") : nlohmann::json::parse(json));
    pos += 4 + n;
  }
  return out;
}

}  // namespace keel::control::testing
