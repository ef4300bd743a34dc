#pragma once
// A minimal blocking DERP client for tests: dials the relay over TCP or TLS, upgrades /derp
// (optionally with fast start), does the ClientInfo/ServerInfo handshake and reads frames.
// Every operation runs on the client's own io_context with a timeout. Test-only.

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>

#include "crypto/naclbox.h"
#include "crypto/x25519.h"
#include "derp/frame.h"

namespace keel::derp::testing {

// Runs `fn` on the thread running `io` and returns its result: how tests read relay state,
// which belongs to the I/O thread.
template <class Fn>
auto RunOnIo(boost::asio::io_context& io, Fn fn) {
  std::packaged_task<decltype(fn())()> task(std::move(fn));
  auto fut = task.get_future();
  boost::asio::post(io, [&task] { task(); });
  return fut.get();
}

struct ReadFrameResult {
  uint8_t type = 0;
  Bytes payload;
};

class TestClient {
 public:
  using tcp = boost::asio::ip::tcp;

  // `tls_ctx` null means plain TCP.
  TestClient(uint16_t port, boost::asio::ssl::context* tls_ctx, std::string host = "127.0.0.1")
      : key_(crypto::GeneratePrivateKey()), pub_(crypto::PublicFromPrivate(key_)), socket_(ioc_) {
    tcp::endpoint ep(boost::asio::ip::make_address(host), port);
    socket_.connect(ep);
    socket_.set_option(tcp::no_delay(true));
    if (tls_ctx != nullptr) {
      tls_ = std::make_unique<boost::asio::ssl::stream<tcp::socket&>>(socket_, *tls_ctx);
      tls_->handshake(boost::asio::ssl::stream_base::client);
    }
  }

  const crypto::PrivateKey& key() const { return key_; }
  void set_key(const crypto::PrivateKey& k) {
    key_ = k;
    pub_ = crypto::NodePublic(crypto::PublicFromPrivate(key_));
  }
  // A reference to a member, so `public_key().raw().begin()` and `.end()` name one array.
  const crypto::NodePublic& public_key() const { return pub_; }
  boost::asio::ssl::stream<tcp::socket&>* tls() { return tls_.get(); }

  bool Write(std::span<const uint8_t> data) {
    return Run([&](auto handler) {
      if (tls_) boost::asio::async_write(*tls_, boost::asio::buffer(data.data(), data.size()), handler);
      else boost::asio::async_write(socket_, boost::asio::buffer(data.data(), data.size()), handler);
    });
  }
  bool WriteText(std::string_view s) { return Write(AsBytes(s)); }
  bool WriteFrame(FrameType type, std::span<const uint8_t> payload) {
    return Write(EncodeFrame(type, payload));
  }

  bool ReadExact(uint8_t* out, size_t n, std::chrono::milliseconds timeout = kTimeout) {
    return Run([&](auto handler) {
      if (tls_) boost::asio::async_read(*tls_, boost::asio::buffer(out, n), handler);
      else boost::asio::async_read(socket_, boost::asio::buffer(out, n), handler);
    }, timeout);
  }

  // Reads the HTTP response head byte by byte so no DERP bytes are consumed.
  std::string ReadResponseHead() {
    std::string head;
    uint8_t ch;
    while (head.size() < 4096 && ReadExact(&ch, 1)) {
      head.push_back(static_cast<char>(ch));
      if (head.ends_with("\r\n\r\n")) break;
    }
    return head;
  }

  std::optional<ReadFrameResult> ReadFrame(std::chrono::milliseconds timeout = kTimeout) {
    uint8_t h[5];
    if (!ReadExact(h, 5, timeout)) return std::nullopt;
    FrameHeader hdr = DecodeHeader(h);
    ReadFrameResult r{hdr.type, Bytes(hdr.length)};
    if (hdr.length > 0 && !ReadExact(r.payload.data(), hdr.length, timeout)) return std::nullopt;
    return r;
  }
  // Next frame that is not a KeepAlive.
  std::optional<ReadFrameResult> ReadNonKeepAlive() {
    for (;;) {
      auto f = ReadFrame();
      if (!f || f->type != static_cast<uint8_t>(FrameType::kKeepAlive)) return f;
    }
  }

  std::string UpgradeRequest(bool fast_start) const {
    std::string req = "GET /derp HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: DERP\r\nConnection: Upgrade\r\n";
    if (fast_start) req += "Derp-Fast-Start: 1\r\n";
    return req + "\r\n";
  }

  Bytes ClientInfoFrame(const crypto::Key32& server_pub, std::string json) const {
    auto sealed = crypto::BoxSeal(AsBytes(json), key_, server_pub).value();
    crypto::Key32 pub = crypto::PublicFromPrivate(key_);
    Bytes payload(pub.begin(), pub.end());
    payload.insert(payload.end(), sealed.begin(), sealed.end());
    return EncodeFrame(FrameType::kClientInfo, payload);
  }

  // Upgrade plus handshake. Returns true once a ServerInfo that opens with the server key has
  // arrived. With fast start the ClientInfo follows the request in the same write.
  bool Connect(const crypto::Key32& server_pub, bool fast_start = false,
               std::string json = R"({"version":2,"CanAckPings":true})") {
    std::string req = UpgradeRequest(fast_start);
    if (fast_start) {
      Bytes all(req.begin(), req.end());
      Bytes ci = ClientInfoFrame(server_pub, json);
      all.insert(all.end(), ci.begin(), ci.end());
      if (!Write(all)) return false;
    } else {
      if (!WriteText(req)) return false;
      if (!ReadResponseHead().starts_with("HTTP/1.1 101")) return false;
    }
    auto sk = ReadFrame();
    if (!sk || sk->type != 0x01 || sk->payload.size() != 40) return false;
    if (!std::equal(server_pub.begin(), server_pub.end(), sk->payload.begin() + 8)) return false;
    if (!fast_start && !Write(ClientInfoFrame(server_pub, json))) return false;
    auto si = ReadFrame();
    if (!si || si->type != 0x03) return false;
    auto opened = crypto::BoxOpen(si->payload, key_, server_pub);
    return opened && AsChars(*opened).find("\"version\":2") != std::string_view::npos;
  }

  bool Send(const crypto::NodePublic& dst, std::span<const uint8_t> packet) {
    Bytes payload(dst.raw().begin(), dst.raw().end());
    payload.insert(payload.end(), packet.begin(), packet.end());
    return WriteFrame(FrameType::kSendPacket, payload);
  }

  // True when the peer closed the connection (EOF or reset) within the timeout.
  bool ClosedByPeer() {
    for (int i = 0; i < 100; ++i) {
      uint8_t b;
      boost::system::error_code ec;
      bool done = false;
      auto handler = [&](boost::system::error_code e, size_t) { ec = e; done = true; };
      if (tls_) boost::asio::async_read(*tls_, boost::asio::buffer(&b, 1), handler);
      else boost::asio::async_read(socket_, boost::asio::buffer(&b, 1), handler);
      ioc_.restart();
      ioc_.run_for(kTimeout);
      if (!done) {
        socket_.cancel();
        ioc_.restart();
        ioc_.run();
        return false;
      }
      if (ec) return true;
    }
    return false;
  }

  void Close() {
    boost::system::error_code ec;
    socket_.close(ec);
  }

  static constexpr std::chrono::milliseconds kTimeout{5000};

 private:
  template <class Op>
  bool Run(Op op, std::chrono::milliseconds timeout = kTimeout) {
    boost::system::error_code ec;
    bool done = false;
    op([&](boost::system::error_code e, size_t) {
      ec = e;
      done = true;
    });
    ioc_.restart();
    ioc_.run_for(timeout);
    if (!done) {
      socket_.cancel();
      ioc_.restart();
      ioc_.run();
      return false;
    }
    return !ec;
  }

  crypto::PrivateKey key_;
  crypto::NodePublic pub_;
  boost::asio::io_context ioc_;
  tcp::socket socket_;
  std::unique_ptr<boost::asio::ssl::stream<tcp::socket&>> tls_;
};

}  // namespace keel::derp::testing
