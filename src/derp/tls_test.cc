// TLS certificate handling and DERP over the relay's own TLS listener.
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <filesystem>
#include <future>
#include <map>
#include <thread>

#include "base/io_threads.h"
#include "base/log.h"
#include "derp/test_client.h"
#include "derp/tls_cert.h"
#include "derp/tls_server.h"

namespace keel::derp {
namespace {

namespace asio = boost::asio;
using testing::TestClient;

std::string Sha256Hex(const Bytes& der) {
  std::array<uint8_t, 32> d;
  SHA256(der.data(), der.size(), d.data());
  return HexEncode(d);
}

Bytes DerOf(X509* x) {
  int n = i2d_X509(x, nullptr);
  Bytes der(n);
  unsigned char* p = der.data();
  i2d_X509(x, &p);
  return der;
}

TEST(TlsCertTest, SelfSignedPinIsSha256OfLeafDer) {
  auto cert = GenerateSelfSignedCertificate("127.0.0.1").value();
  BIO* bio = BIO_new_mem_buf(cert.chain_pem.data(), static_cast<int>(cert.chain_pem.size()));
  X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ASSERT_NE(x, nullptr);
  Bytes der = DerOf(x);
  EXPECT_EQ(der, cert.leaf_der);
  EXPECT_EQ(cert.pin, "sha256-raw:" + Sha256Hex(der));
  EXPECT_EQ(cert.pin.size(), 11u + 64u);
  EXPECT_EQ(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(x, "::1", 0), 1);
  EXPECT_EQ(X509_check_host(x, "localhost", 0, 0, nullptr), 1);
  X509_free(x);
  auto named = GenerateSelfSignedCertificate("derp.example.com").value();
  BIO* b2 = BIO_new_mem_buf(named.chain_pem.data(), static_cast<int>(named.chain_pem.size()));
  X509* x2 = PEM_read_bio_X509(b2, nullptr, nullptr, nullptr);
  BIO_free(b2);
  EXPECT_EQ(X509_check_host(x2, "derp.example.com", 0, 0, nullptr), 1);
  X509_free(x2);
}

TEST(TlsCertTest, PersistedAcrossLoads) {
  auto dir = std::filesystem::temp_directory_path() / ("derp_tls_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto first = LoadOrCreateSelfSigned(dir.string(), "127.0.0.1").value();
  auto second = LoadOrCreateSelfSigned(dir.string(), "127.0.0.1").value();
  EXPECT_EQ(first.pin, second.pin);
  auto perms = std::filesystem::status(dir / "derp-127.0.0.1.key").permissions();
  EXPECT_EQ(perms & std::filesystem::perms::group_read, std::filesystem::perms::none);
  auto loaded = LoadTlsCertificate((dir / "derp-127.0.0.1.crt").string(),
                                   (dir / "derp-127.0.0.1.key").string()).value();
  EXPECT_EQ(loaded.pin, first.pin);
  EXPECT_FALSE(LoadTlsCertificate((dir / "nope.crt").string(), (dir / "nope.key").string()));
  std::filesystem::remove_all(dir);
}

class TlsRelayTest : public ::testing::Test {
 protected:
  TlsRelayTest() : client_ctx_(asio::ssl::context::tls_client) {
    RelaySettings s;
    s.server_key = crypto::GeneratePrivateKey();
    relay_ = std::make_unique<Relay>(io_.get_executor(), std::move(s), GetLogger("derp"));
    cert_ = GenerateSelfSignedCertificate("127.0.0.1").value();
    tls_ = TlsServer::Create(io_.get_executor(), *relay_, cert_, {}, GetLogger("derp-tls")).value();
    port_ = tls_->Listen("127.0.0.1", 0).value();
    port6_ = tls_->Listen("::1", 0).value();
    client_ctx_.set_verify_mode(asio::ssl::verify_none);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~TlsRelayTest() override {
    std::promise<void> done;
    asio::post(io_, [&] {
      tls_->Stop();
      relay_->Stop();
      done.set_value();
    });
    done.get_future().get();
    work_.reset();
    io_.stop();
    thread_.join();
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::unique_ptr<Relay> relay_;
  TlsCertificate cert_;
  std::unique_ptr<TlsServer> tls_;
  asio::ssl::context client_ctx_;
  uint16_t port_ = 0;
  uint16_t port6_ = 0;
  std::thread thread_;
};

TEST_F(TlsRelayTest, PresentsPinnedLeafAndMetaCert) {
  TestClient c(port_, &client_ctx_);
  SSL* ssl = c.tls()->native_handle();
  X509* leaf = SSL_get0_peer_certificate(ssl);
  ASSERT_NE(leaf, nullptr);
  EXPECT_EQ("sha256-raw:" + Sha256Hex(DerOf(leaf)), cert_.pin);
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
  ASSERT_NE(chain, nullptr);
  ASSERT_EQ(sk_X509_num(chain), 2);  // leaf + meta cert, no intermediates
  X509* meta = sk_X509_value(chain, 1);
  char cn[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(meta), NID_commonName, cn, sizeof cn);
  EXPECT_EQ(std::string(cn), "derpkey" + HexEncode(relay_->public_key()));
  EXPECT_EQ(ASN1_INTEGER_get(X509_get0_serialNumber(meta)), 2);
}

TEST_F(TlsRelayTest, DerpOverTlsWithAndWithoutFastStart) {
  TestClient a(port_, &client_ctx_);
  ASSERT_TRUE(a.Connect(relay_->public_key(), /*fast_start=*/false));
  TestClient b(port6_, &client_ctx_, "::1");
  ASSERT_TRUE(b.Connect(relay_->public_key(), /*fast_start=*/true));
  Bytes ping = {1, 2, 3, 4, 5, 6, 7, 8};
  ASSERT_TRUE(b.WriteFrame(FrameType::kPing, ping));
  ASSERT_EQ(b.ReadNonKeepAlive()->type, 0x13);
  ASSERT_TRUE(a.Send(b.public_key(), Bytes{5, 5}));
  auto f = b.ReadNonKeepAlive();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type, 0x05);
  EXPECT_EQ(f->payload.size(), 34u);
}

TEST_F(TlsRelayTest, BrokenTlsClosesOnlyThatConnection) {
  TestClient a(port_, &client_ctx_);
  ASSERT_TRUE(a.Connect(relay_->public_key()));
  {
    TestClient plain(port_, nullptr);  // plaintext HTTP where a ClientHello belongs
    ASSERT_TRUE(plain.WriteText("GET /derp HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_TRUE(plain.ClosedByPeer());
  }
  {
    TestClient half(port_, nullptr);  // the start of a ClientHello, then gone
    ASSERT_TRUE(half.Write(Bytes{0x16, 0x03, 0x01, 0x02, 0x00, 0x01}));
  }
  for (int i = 0; i < 20; ++i) {
    // Handshake done, then gone at once: the server's next write (its session tickets) meets
    // a closed socket, which must be an error for that connection, not a signal for the process.
    TestClient gone(port_, &client_ctx_);
  }
  TestClient b(port_, &client_ctx_);
  ASSERT_TRUE(b.Connect(relay_->public_key(), /*fast_start=*/true));
  ASSERT_TRUE(a.Send(b.public_key(), Bytes{7}));
  auto f = b.ReadNonKeepAlive();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type, static_cast<uint8_t>(FrameType::kRecvPacket));
}

TEST_F(TlsRelayTest, ProbesOverTls) {
  TestClient c(port_, &client_ctx_);
  ASSERT_TRUE(c.WriteText("GET /derp/latency-check HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  EXPECT_TRUE(c.ReadResponseHead().starts_with("HTTP/1.1 200"));
  // Keep-alive: a second request on the same connection.
  ASSERT_TRUE(c.WriteText("GET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  auto head = c.ReadResponseHead();
  EXPECT_TRUE(head.starts_with("HTTP/1.1 404")) << head;
}

// Connections spread over two loops besides the relay's own, as `keel serve` runs them.
class MultiLoopRelayTest : public ::testing::Test {
 protected:
  MultiLoopRelayTest() : client_ctx_(asio::ssl::context::tls_client) {
    RelaySettings s;
    s.server_key = crypto::GeneratePrivateKey();
    relay_ = std::make_unique<Relay>(io_.get_executor(), std::move(s), GetLogger("derp"));
    TlsServerSettings ts;
    ts.conn_executor = [this] { return loops_.Next(); };
    auto cert = GenerateSelfSignedCertificate("127.0.0.1").value();
    tls_ = TlsServer::Create(io_.get_executor(), *relay_, cert, ts, GetLogger("derp-tls")).value();
    port_ = tls_->Listen("127.0.0.1", 0).value();
    client_ctx_.set_verify_mode(asio::ssl::verify_none);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~MultiLoopRelayTest() override {
    if (!stopped_) StopAll();
    work_.reset();
    io_.stop();
    thread_.join();
  }
  // Stops the listener and the relay, then lets the loops drain; returns how long that took.
  std::chrono::milliseconds StopAll() {
    stopped_ = true;
    auto start = std::chrono::steady_clock::now();
    testing::RunOnIo(io_, [this] {
      tls_->Stop();
      relay_->Stop();
      return 0;
    });
    loops_.Join();
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 start);
  }
  std::unique_ptr<TestClient> Connected() {
    auto c = std::make_unique<TestClient>(port_, &client_ctx_);
    EXPECT_TRUE(c->Connect(relay_->public_key()));
    return c;
  }
  RelayStats Stats() {
    return testing::RunOnIo(io_, [this] { return relay_->stats(); });
  }

  IoThreads loops_{2};  // first member: destroyed after everything placed on it
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::unique_ptr<Relay> relay_;
  std::unique_ptr<TlsServer> tls_;
  asio::ssl::context client_ctx_;
  uint16_t port_ = 0;
  std::thread thread_;
  bool stopped_ = false;
};

TEST_F(MultiLoopRelayTest, EveryPairDeliversInOrderAcrossLoops) {
  // Accepts alternate between the two loops, so this mixes same-loop and cross-loop pairs.
  constexpr int kClients = 4;
  constexpr uint8_t kPerPair = 10;  // 30 inbound per client, under the queue limit of 32
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(Connected());
  for (int i = 0; i < kClients; ++i) {
    for (int j = 0; j < kClients; ++j) {
      if (i == j) continue;
      for (uint8_t n = 0; n < kPerPair; ++n) {
        ASSERT_TRUE(clients[i]->Send(clients[j]->public_key(), Bytes{static_cast<uint8_t>(i), n}));
      }
    }
  }
  for (int j = 0; j < kClients; ++j) {
    std::map<int, uint8_t> next;  // sender -> next sequence number expected
    for (int k = 0; k < (kClients - 1) * kPerPair; ++k) {
      auto f = clients[j]->ReadNonKeepAlive();
      ASSERT_TRUE(f) << "client " << j << " got " << k << " packets";
      ASSERT_EQ(f->type, static_cast<uint8_t>(FrameType::kRecvPacket));
      ASSERT_EQ(f->payload.size(), 32u + 2u);
      int from = f->payload[32];
      ASSERT_TRUE(std::equal(f->payload.begin(), f->payload.begin() + 32,
                             clients[from]->public_key().raw().begin()));
      EXPECT_EQ(f->payload[33], next[from]++) << "from " << from << " to " << j;
    }
  }
  auto stats = Stats();
  EXPECT_EQ(stats.packets_delivered, uint64_t{kClients * (kClients - 1) * kPerPair});
  EXPECT_EQ(stats.packets_dropped_queue_full, 0u);
  EXPECT_EQ(stats.current_clients, uint64_t{kClients});
}

TEST_F(MultiLoopRelayTest, PeerGoneCrossesLoops) {
  auto a = Connected();  // first loop
  auto b = Connected();  // second loop
  ASSERT_TRUE(a->Send(b->public_key(), Bytes{1}));
  ASSERT_EQ(b->ReadNonKeepAlive()->type, static_cast<uint8_t>(FrameType::kRecvPacket));
  a.reset();
  auto f = b->ReadNonKeepAlive();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type, static_cast<uint8_t>(FrameType::kPeerGone));
  EXPECT_EQ(f->payload.size(), 33u);
}

TEST_F(MultiLoopRelayTest, StopClosesConnectionsOnEveryLoop) {
  auto a = Connected();
  auto b = Connected();
  TestClient idle(port_, &client_ctx_);  // TLS up, no upgrade yet: still the listener's
  EXPECT_LT(StopAll(), std::chrono::milliseconds(1500));  // drained, not cut off at the grace
  EXPECT_TRUE(a->ClosedByPeer());
  EXPECT_TRUE(b->ClosedByPeer());
  EXPECT_TRUE(idle.ClosedByPeer());
}

}  // namespace
}  // namespace keel::derp
