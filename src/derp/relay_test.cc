// The relay behind keel's plain HTTP server, driven by blocking in-test DERP clients over
// loopback. The relay runs on an io_context thread.
#include "derp/relay.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <set>
#include <thread>

#include "base/log.h"
#include "derp/stun.h"
#include "derp/stun_server.h"
#include "derp/test_client.h"

namespace keel::derp {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using testing::TestClient;

class RelayTest : public ::testing::Test {
 protected:
  template <class Fn>
  auto OnIo(Fn fn) {
    return testing::RunOnIo(io_, std::move(fn));
  }
  void Start(RelaySettings settings = {}) {
    if (getenv("DERP_TEST_DEBUG")) SetLogLevel("debug");
    settings.server_key = crypto::GeneratePrivateKey();
    if (!settings.verify_client) {
      settings.verify_client = [this](const crypto::NodePublic& k) { return !refused_.contains(k); };
    }
    relay_ = std::make_unique<Relay>(io_.get_executor(), std::move(settings), GetLogger("derp"));
    relay_->RegisterRoutes(router_);
    server_ = std::make_unique<http::Server>(io_.get_executor(), router_, http::ServerSettings{},
                                             GetLogger("http"));
    port_ = server_->ListenTcp("127.0.0.1", 0).value();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~RelayTest() override {
    if (thread_.joinable()) {
      OnIo([this] {
        server_->Stop();
        relay_->Stop();
        if (stun_) stun_->Stop();
        return 0;
      });
      work_.reset();
      io_.stop();
      thread_.join();
    }
  }
  RelayStats Stats() {
    return OnIo([this] { return relay_->stats(); });
  }
  std::unique_ptr<TestClient> Connected() {
    auto c = std::make_unique<TestClient>(port_, nullptr);
    EXPECT_TRUE(c->Connect(relay_->public_key()));
    return c;
  }
  // A ping round trip: everything the relay did for earlier frames of `c` is done after it.
  void Sync(TestClient& c) {
    Bytes ping = {1, 2, 3, 4, 5, 6, 7, 8};
    ASSERT_TRUE(c.WriteFrame(FrameType::kPing, ping));
    auto f = c.ReadNonKeepAlive();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->type, 0x13);
    EXPECT_EQ(f->payload, ping);
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  http::Router router_;
  std::unique_ptr<Relay> relay_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<StunServer> stun_;
  std::set<crypto::NodePublic> refused_;
  uint16_t port_ = 0;
  std::thread thread_;
};

TEST_F(RelayTest, SendIsDeliveredWithSourceKey) {
  Start();
  auto a = Connected();
  auto b = Connected();
  Sync(*b);  // b is registered
  Bytes pkt = {9, 8, 7};
  ASSERT_TRUE(a->Send(b->public_key(), pkt));
  auto f = b->ReadNonKeepAlive();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type, 0x05);
  ASSERT_EQ(f->payload.size(), 35u);
  EXPECT_TRUE(std::equal(f->payload.begin(), f->payload.begin() + 32,
                         a->public_key().raw().begin()));
  EXPECT_EQ(Bytes(f->payload.begin() + 32, f->payload.end()), pkt);
  auto s = Stats();
  EXPECT_EQ(s.packets_delivered, 1u);
  EXPECT_EQ(s.current_clients, 2u);
  EXPECT_EQ(OnIo([&] { return relay_->PacketsBetween(a->public_key(), b->public_key()); }), 1u);
}

TEST_F(RelayTest, FastStartOnPlainHttpGetsNoUpgradeResponse) {
  Start();
  TestClient a(port_, nullptr);
  // The first bytes back must be the ServerKey frame, not "HTTP/1.1 101".
  ASSERT_TRUE(a.Connect(relay_->public_key(), /*fast_start=*/true));
  auto b = Connected();
  ASSERT_TRUE(b->Send(a.public_key(), Bytes{4, 2}));
  auto f = a.ReadNonKeepAlive();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type, static_cast<uint8_t>(FrameType::kRecvPacket));
}

TEST_F(RelayTest, UnknownPeerIsDroppedAndDiscoGetsNotHere) {
  Start();
  auto a = Connected();
  auto nobody = crypto::NodePublic(crypto::PublicFromPrivate(crypto::GeneratePrivateKey()));
  ASSERT_TRUE(a->Send(nobody, Bytes{1, 2, 3}));
  Sync(*a);  // nothing arrived before the pong
  EXPECT_EQ(Stats().packets_dropped_unknown_dest, 1u);
  Bytes disco(62, 0);
  std::copy(kDiscoMagic.begin(), kDiscoMagic.end(), disco.begin());
  ASSERT_TRUE(a->Send(nobody, disco));
  auto f = a->ReadNonKeepAlive();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type, 0x08);
  ASSERT_EQ(f->payload.size(), 33u);
  EXPECT_EQ(f->payload[32], 0x01);  // NotHere
}

TEST_F(RelayTest, PeerGoneWhenSenderDisconnects) {
  Start();
  auto a = Connected();
  auto b = Connected();
  Sync(*b);
  ASSERT_TRUE(a->Send(b->public_key(), Bytes{1}));
  ASSERT_EQ(b->ReadNonKeepAlive()->type, 0x05);
  auto a_key = a->public_key();
  a->Close();
  auto f = b->ReadNonKeepAlive();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type, 0x08);
  EXPECT_TRUE(std::equal(a_key.raw().begin(), a_key.raw().end(), f->payload.begin()));
  EXPECT_EQ(f->payload[32], 0x00);
}

TEST_F(RelayTest, KeepAliveWhenIdle) {
  RelaySettings s;
  s.keepalive_interval = std::chrono::milliseconds(50);
  s.keepalive_jitter = std::chrono::milliseconds(0);
  Start(std::move(s));
  auto a = Connected();
  auto f = a->ReadFrame();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type, 0x06);
  EXPECT_GE(Stats().keepalives_sent, 1u);
}

TEST_F(RelayTest, GarbageClosesOnlyThatConnection) {
  Start();
  auto a = Connected();
  auto b = Connected();
  Sync(*b);
  // Oversize frame after the handshake.
  auto bad = Connected();
  ASSERT_TRUE(bad->Write(Bytes{0x04, 0xFF, 0xFF, 0xFF, 0xFF}));
  EXPECT_TRUE(bad->ClosedByPeer());
  // Garbage instead of ClientInfo.
  TestClient junk(port_, nullptr);
  ASSERT_TRUE(junk.WriteText(junk.UpgradeRequest(false)));
  ASSERT_TRUE(junk.ReadResponseHead().starts_with("HTTP/1.1 101"));
  ASSERT_TRUE(junk.ReadFrame());  // ServerKey
  ASSERT_TRUE(junk.WriteText("this is not DERP at all"));
  EXPECT_TRUE(junk.ClosedByPeer());
  // A ClientInfo sealed for a different server.
  TestClient wrong(port_, nullptr);
  ASSERT_TRUE(wrong.WriteText(wrong.UpgradeRequest(false)));
  ASSERT_TRUE(wrong.ReadResponseHead().starts_with("HTTP/1.1 101"));
  ASSERT_TRUE(wrong.ReadFrame());
  ASSERT_TRUE(wrong.Write(wrong.ClientInfoFrame(crypto::PublicFromPrivate(crypto::GeneratePrivateKey()), "{}")));
  EXPECT_TRUE(wrong.ClosedByPeer());
  // A SendPacket too short to hold a key.
  auto shorty = Connected();
  ASSERT_TRUE(shorty->WriteFrame(FrameType::kSendPacket, Bytes(10)));
  EXPECT_TRUE(shorty->ClosedByPeer());
  // Privileged frame without a mesh key.
  auto nomesh = Connected();
  ASSERT_TRUE(nomesh->WriteFrame(FrameType::kWatchConns, {}));
  EXPECT_TRUE(nomesh->ClosedByPeer());

  EXPECT_EQ(Stats().bad_input_closes, 5u);
  ASSERT_TRUE(a->Send(b->public_key(), Bytes{42}));
  auto f = b->ReadNonKeepAlive();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type, 0x05);
}

TEST_F(RelayTest, UnknownFrameTypesAreSkipped) {
  Start();
  auto a = Connected();
  ASSERT_TRUE(a->WriteFrame(static_cast<FrameType>(0x0B), Bytes(100, 1)));
  ASSERT_TRUE(a->WriteFrame(FrameType::kPong, Bytes(8, 0)));
  ASSERT_TRUE(a->WriteFrame(FrameType::kNotePreferred, Bytes{1}));
  Sync(*a);
  EXPECT_EQ(Stats().unknown_frames, 2u);
}

TEST_F(RelayTest, VerifyClientRefusal) {
  Start();
  TestClient c(port_, nullptr);
  OnIo([&] { return refused_.insert(c.public_key()).second; });
  ASSERT_TRUE(c.WriteText(c.UpgradeRequest(false)));
  ASSERT_TRUE(c.ReadResponseHead().starts_with("HTTP/1.1 101"));
  ASSERT_TRUE(c.ReadFrame());
  ASSERT_TRUE(c.Write(c.ClientInfoFrame(relay_->public_key(), R"({"version":2})")));
  EXPECT_TRUE(c.ClosedByPeer());
  EXPECT_EQ(Stats().clients_rejected, 1u);
  EXPECT_FALSE(OnIo([&] { return relay_->IsConnected(c.public_key()); }));
}

TEST_F(RelayTest, NewestDuplicateConnectionReceives) {
  Start();
  auto a = Connected();
  auto b1 = Connected();
  auto b2 = std::make_unique<TestClient>(port_, nullptr);
  b2->set_key(b1->key());
  ASSERT_TRUE(b2->Connect(relay_->public_key()));
  Sync(*b2);
  ASSERT_TRUE(a->Send(b1->public_key(), Bytes{1}));
  auto f = b2->ReadNonKeepAlive();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type, 0x05);
  Sync(*b1);  // b1 got nothing before its pong
  b2->Close();
  // Once the newest is gone the older connection takes over, with no PeerGone for b.
  for (int i = 0; i < 100 && OnIo([&] { return relay_->stats().current_connections; }) != 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(a->Send(b1->public_key(), Bytes{2}));
  f = b1->ReadNonKeepAlive();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type, 0x05);
  EXPECT_EQ(f->payload.back(), 2);
}

TEST_F(RelayTest, FullQueueDropsPackets) {
  RelaySettings s;
  s.queue_limit = 4;
  Start(std::move(s));
  auto a = Connected();
  auto b = Connected();  // never reads, so its socket buffers and then its queue fill up
  Sync(*b);
  Bytes big(60000, 0x55);
  for (int i = 0; i < 400 && Stats().packets_dropped_queue_full == 0; ++i) {
    ASSERT_TRUE(a->Send(b->public_key(), big));
  }
  EXPECT_GT(Stats().packets_dropped_queue_full, 0u);
  Sync(*a);  // the sender is unaffected
}

TEST_F(RelayTest, WebSocketSubprotocolDerp) {
  Start();
  asio::io_context cio;
  beast::websocket::stream<asio::ip::tcp::socket> ws(cio);
  ws.next_layer().connect({asio::ip::make_address("127.0.0.1"), port_});
  ws.set_option(beast::websocket::stream_base::decorator(
      [](beast::websocket::request_type& req) { req.set("Sec-WebSocket-Protocol", "derp"); }));
  ws.handshake("127.0.0.1", "/derp");
  ws.binary(true);
  // Message boundaries carry no meaning: collect bytes until whole frames are there.
  Bytes in;
  auto read_frame = [&]() {
    for (;;) {
      if (in.size() >= 5 && in.size() >= 5 + DecodeHeader(in).length) {
        size_t n = 5 + DecodeHeader(in).length;
        Bytes frame(in.begin(), in.begin() + n);
        in.erase(in.begin(), in.begin() + n);
        return frame;
      }
      beast::flat_buffer buf;
      ws.read(buf);
      auto data = static_cast<const uint8_t*>(buf.data().data());
      in.insert(in.end(), data, data + buf.size());
    }
  };
  Bytes server_key = read_frame();
  ASSERT_EQ(server_key[0], 0x01);
  TestClient helper(port_, nullptr);  // only for its key and ClientInfo encoding
  Bytes ci = helper.ClientInfoFrame(relay_->public_key(), R"({"version":2})");
  ws.write(asio::buffer(ci.data(), 10));  // split across two messages
  ws.write(asio::buffer(ci.data() + 10, ci.size() - 10));
  Bytes server_info = read_frame();
  EXPECT_EQ(server_info[0], 0x03);
  EXPECT_TRUE(OnIo([&] { return relay_->IsConnected(helper.public_key()); }));
}

TEST_F(RelayTest, HealthIsBroadcast) {
  Start();
  auto a = Connected();
  OnIo([&] {
    relay_->SetHealth("maintenance");
    return 0;
  });
  auto f = a->ReadNonKeepAlive();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type, 0x14);
  EXPECT_EQ(AsChars(f->payload), "maintenance");
}

TEST_F(RelayTest, MeshWatchForwardAndClose) {
  RelaySettings s;
  s.mesh_key = std::string(64, 'a');
  Start(std::move(s));
  auto b = Connected();
  Sync(*b);
  auto mesh = std::make_unique<TestClient>(port_, nullptr);
  ASSERT_TRUE(mesh->Connect(relay_->public_key(), false,
                            R"({"version":2,"meshKey":")" + std::string(64, 'a') + "\"}"));
  ASSERT_TRUE(mesh->WriteFrame(FrameType::kWatchConns, {}));
  // PeerPresent for b, and for the mesh connection itself.
  int present = 0;
  while (present < 2) {
    auto f = mesh->ReadNonKeepAlive();
    ASSERT_TRUE(f);
    ASSERT_EQ(f->type, 0x09);
    ASSERT_EQ(f->payload.size(), 51u);
    ++present;
  }
  // ForwardPacket from a remote key to b.
  auto remote = crypto::NodePublic(crypto::PublicFromPrivate(crypto::GeneratePrivateKey()));
  Bytes fwd(remote.raw().begin(), remote.raw().end());
  fwd.insert(fwd.end(), b->public_key().raw().begin(), b->public_key().raw().end());
  fwd.push_back(77);
  ASSERT_TRUE(mesh->WriteFrame(FrameType::kForwardPacket, fwd));
  auto got = b->ReadNonKeepAlive();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->type, 0x05);
  EXPECT_TRUE(std::equal(remote.raw().begin(), remote.raw().end(), got->payload.begin()));
  // ClosePeer b: b is closed and the watcher hears PeerGone.
  ASSERT_TRUE(mesh->WriteFrame(FrameType::kClosePeer, b->public_key().raw()));
  EXPECT_TRUE(b->ClosedByPeer());
  auto gone = mesh->ReadNonKeepAlive();
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->type, 0x08);
}

TEST_F(RelayTest, HttpEndpoints) {
  Start();
  auto get = [&](std::string req) {
    TestClient c(port_, nullptr);
    EXPECT_TRUE(c.WriteText(req));
    return c.ReadResponseHead();
  };
  EXPECT_TRUE(get("GET /derp/probe HTTP/1.1\r\nHost: x\r\n\r\n").starts_with("HTTP/1.1 200"));
  EXPECT_TRUE(get("HEAD /derp/latency-check HTTP/1.1\r\nHost: x\r\n\r\n").starts_with("HTTP/1.1 200"));
  EXPECT_TRUE(get("POST /derp/probe HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
                  .starts_with("HTTP/1.1 405"));
  auto g204 = get("GET /generate_204 HTTP/1.1\r\nHost: x\r\nX-Tailscale-Challenge: abc\r\n\r\n");
  EXPECT_TRUE(g204.starts_with("HTTP/1.1 204"));
  EXPECT_NE(g204.find("response abc"), std::string::npos);
  EXPECT_TRUE(get("GET /derp HTTP/1.1\r\nHost: x\r\n\r\n").starts_with("HTTP/1.1 426"));
}

TEST_F(RelayTest, StunBindingRequests) {
  Start();
  stun_ = std::make_unique<StunServer>(io_.get_executor(), GetLogger("stun"));
  uint16_t p4 = stun_->Listen("127.0.0.1", 0).value();
  uint16_t p6 = stun_->Listen("::1", 0).value();
  for (auto [host, port] : {std::pair{"127.0.0.1", p4}, std::pair{"::1", p6}}) {
    asio::io_context cio;
    asio::ip::udp::endpoint server(asio::ip::make_address(host), port);
    asio::ip::udp::socket sock(cio, asio::ip::udp::endpoint(server.protocol(), 0));
    timeval tv{5, 0};
    ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sock.send_to(asio::buffer(std::string("junk")), server);
    StunTxId tx{};
    tx[0] = 0x42;
    sock.send_to(asio::buffer(BuildStunBindingRequest(tx)), server);
    std::array<uint8_t, 256> buf;
    asio::ip::udp::endpoint from;
    size_t n = ::recv(sock.native_handle(), buf.data(), buf.size(), 0);
    ASSERT_GT(static_cast<ssize_t>(n), 0) << host;
    asio::ip::udp::endpoint observed(server.address(), sock.local_endpoint().port());
    Bytes want = BuildStunBindingResponse(tx, observed);
    EXPECT_EQ(Bytes(buf.begin(), buf.begin() + n), want) << host;
  }
  auto s = OnIo([&] { return stun_->stats(); });
  EXPECT_EQ(s.requests, 2u);
  EXPECT_EQ(s.junk, 2u);
}

}  // namespace
}  // namespace keel::derp
