// Two (or three) relays in one process, meshed over their TLS listeners: clients homed on
// different relays reach each other through ForwardPacket.
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <thread>

#include "base/log.h"
#include "derp/test_client.h"
#include "derp/tls_server.h"

namespace keel::derp {
namespace {

namespace asio = boost::asio;
using testing::TestClient;

const std::string kMeshKey(64, 'c');

class MeshTest : public ::testing::Test {
 protected:
  struct Node {
    std::unique_ptr<Relay> relay;
    std::unique_ptr<TlsServer> tls;
    uint16_t port = 0;
    std::string url() const { return "https://127.0.0.1:" + std::to_string(port) + "/derp"; }
  };

  template <class Fn>
  auto OnIo(Fn fn) {
    return testing::RunOnIo(io_, std::move(fn));
  }

  MeshTest() : client_ctx_(asio::ssl::context::tls_client) {
    if (getenv("DERP_TEST_DEBUG")) SetLogLevel("debug");
    cert_ = GenerateSelfSignedCertificate("127.0.0.1").value();
    client_ctx_.set_verify_mode(asio::ssl::verify_none);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~MeshTest() override {
    OnIo([this] {
      for (auto& n : nodes_) {
        n->tls->Stop();
        n->relay->Stop();
      }
      return 0;
    });
    work_.reset();
    io_.stop();
    thread_.join();
  }

  Node& AddNode(std::string mesh_key) {
    return *OnIo([&] {
      auto n = std::make_unique<Node>();
      RelaySettings s;
      s.server_key = crypto::GeneratePrivateKey();
      s.mesh_key = mesh_key;
      n->relay = std::make_unique<Relay>(io_.get_executor(), std::move(s), GetLogger("derp"));
      n->tls = TlsServer::Create(io_.get_executor(), *n->relay, cert_, {}, GetLogger("derp-tls"))
                   .value();
      n->port = n->tls->Listen("127.0.0.1", 0).value();
      nodes_.push_back(std::move(n));
      return nodes_.back().get();
    });
  }

  // Polls `pred` on the I/O thread for up to 5 s.
  template <class Pred>
  bool Eventually(Pred pred) {
    for (int i = 0; i < 500; ++i) {
      if (OnIo(pred)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  TlsCertificate cert_;
  asio::ssl::context client_ctx_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::thread thread_;
};

void ExpectPacket(TestClient& to, const TestClient& from, const Bytes& packet) {
  auto f = to.ReadNonKeepAlive();
  ASSERT_TRUE(f);
  ASSERT_EQ(f->type, static_cast<uint8_t>(FrameType::kRecvPacket));
  ASSERT_EQ(f->payload.size(), 32 + packet.size());
  EXPECT_TRUE(std::equal(from.public_key().raw().begin(), from.public_key().raw().end(),
                         f->payload.begin()));
  EXPECT_TRUE(std::equal(packet.begin(), packet.end(), f->payload.begin() + 32));
}

TEST_F(MeshTest, ClientsOnDifferentRelaysReachEachOther) {
  Node& a = AddNode(kMeshKey);
  Node& b = AddNode(kMeshKey);
  OnIo([&] {
    EXPECT_TRUE(a.relay->AddMeshPeer(b.url()));
    EXPECT_TRUE(a.relay->AddMeshPeer(a.url()));  // self: detected and dropped
    EXPECT_TRUE(b.relay->AddMeshPeer(a.url()));
    return 0;
  });
  ASSERT_TRUE(Eventually([&] {
    return a.relay->stats().mesh_links_up == 1 && b.relay->stats().mesh_links_up == 1;
  }));

  TestClient c1(a.port, &client_ctx_);
  ASSERT_TRUE(c1.Connect(a.relay->public_key()));
  TestClient c2(b.port, &client_ctx_);
  ASSERT_TRUE(c2.Connect(b.relay->public_key(), /*fast_start=*/true));
  ASSERT_TRUE(Eventually([&] {
    return a.relay->IsReachableViaMesh(c2.public_key()) &&
           b.relay->IsReachableViaMesh(c1.public_key());
  }));
  // A relay never learns its own key or its local clients as remote.
  OnIo([&] {
    EXPECT_FALSE(a.relay->IsReachableViaMesh(crypto::NodePublic(a.relay->public_key())));
    EXPECT_FALSE(a.relay->IsReachableViaMesh(c1.public_key()));
    return 0;
  });

  Bytes hello = {'h', 'i', 1, 2, 3};
  ASSERT_TRUE(c1.Send(c2.public_key(), hello));
  ExpectPacket(c2, c1, hello);
  Bytes back = {'y', 'o'};
  ASSERT_TRUE(c2.Send(c1.public_key(), back));
  ExpectPacket(c1, c2, back);
  OnIo([&] {
    EXPECT_EQ(a.relay->stats().packets_forwarded, 1u);
    EXPECT_EQ(b.relay->stats().packets_forwarded, 1u);
    EXPECT_EQ(b.relay->PacketsBetween(c1.public_key(), c2.public_key()), 1u);
    return 0;
  });

  // When c2 leaves B, A forgets it and tells c1, which heard from c2 through A.
  c2.Close();
  EXPECT_TRUE(Eventually([&] { return !a.relay->IsReachableViaMesh(c2.public_key()); }));
  auto gone = c1.ReadNonKeepAlive();
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->type, static_cast<uint8_t>(FrameType::kPeerGone));
  ASSERT_EQ(gone->payload.size(), 33u);
  EXPECT_TRUE(std::equal(gone->payload.begin(), gone->payload.begin() + 32,
                         c2.public_key().raw().begin()));
  EXPECT_EQ(gone->payload[32], static_cast<uint8_t>(PeerGoneReason::kDisconnected));
}

TEST_F(MeshTest, WrongMeshKeyLearnsNothing) {
  Node& a = AddNode(kMeshKey);
  Node& intruder = AddNode(std::string(64, 'd'));
  TestClient c1(a.port, &client_ctx_);
  ASSERT_TRUE(c1.Connect(a.relay->public_key()));
  OnIo([&] { return intruder.relay->AddMeshPeer(a.url()).has_value(); });
  // A refuses WatchConns from a non-mesh client and closes the connection.
  ASSERT_TRUE(Eventually([&] { return a.relay->stats().bad_input_closes >= 1; }));
  OnIo([&] {
    EXPECT_FALSE(intruder.relay->IsReachableViaMesh(c1.public_key()));
    return 0;
  });
}

TEST_F(MeshTest, AddMeshPeerValidates) {
  Node& a = AddNode("");
  OnIo([&] {
    EXPECT_FALSE(a.relay->AddMeshPeer("https://127.0.0.1:1/derp"));  // no mesh key
    return 0;
  });
  Node& b = AddNode(kMeshKey);
  OnIo([&] {
    EXPECT_FALSE(b.relay->AddMeshPeer("http://127.0.0.1:1/derp"));
    EXPECT_FALSE(b.relay->AddMeshPeer("https://:1/derp"));
    EXPECT_FALSE(b.relay->AddMeshPeer("https://127.0.0.1:x/derp"));
    EXPECT_TRUE(b.relay->AddMeshPeer("https://[::1]:1/derp"));
    return 0;
  });
}

}  // namespace
}  // namespace keel::derp
