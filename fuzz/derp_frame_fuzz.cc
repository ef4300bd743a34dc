// DERP as a client reaches it: the frame reader, the ClientInfo box the relay opens, and the
// relay's per-connection state machine, all over in-memory streams (fuzz_stream.h).
//
// Byte 0 picks the mode:
//   bit 0 clear: FrameReader (small frame limit) over the input, every frame through the
//                validated decoders and OpenClientInfo;
//   bit 0 set:   the real Relay serving connection A, whose bytes the harness builds from ops
//                (raw bytes, packets to a second connected client B or to itself, any frame
//                type with any payload), after a valid sealed ClientInfo (bit 1: with the
//                mesh key, so mesh-only frames are accepted; bit 2: no ClientInfo at all;
//                bit 3: the sealed JSON comes from the input).
// Plain bytes cannot open a NaCl box, so the harness seals ClientInfo with fixed keys.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdlib>
#include <string>

#include "base/log.h"
#include "crypto/naclbox.h"
#include "crypto/x25519.h"
#include "derp/frame_reader.h"
#include "derp/relay.h"
#include "fuzz_stream.h"
#include "harness.h"

namespace {

using keel::fuzz::Check;
using keel::fuzz::FixedKey;

namespace asio = boost::asio;
using keel::Bytes;
using keel::fuzz::InputCursor;
using keel::fuzz::MemoryStream;
namespace crypto = keel::crypto;
namespace derp = keel::derp;

constexpr char kMeshKey[] = "1111111111111111111111111111111111111111111111111111111111111111";

struct World {
  asio::io_context io;
  crypto::PrivateKey server_key = FixedKey(0x51);
  crypto::PrivateKey client_a = FixedKey(0x52);
  crypto::PrivateKey client_b = FixedKey(0x53);
  crypto::Key32 server_pub = crypto::PublicFromPrivate(server_key);
  crypto::Key32 a_pub = crypto::PublicFromPrivate(client_a);
  crypto::Key32 b_pub = crypto::PublicFromPrivate(client_b);
  std::unique_ptr<derp::Relay> relay;

  World() {
    derp::RelaySettings settings;
    settings.server_key = server_key;
    settings.mesh_key = kMeshKey;
    settings.queue_limit = 4;  // small, so drops are reached
    relay = std::make_unique<derp::Relay>(io.get_executor(), settings, keel::GetLogger("fuzz-derp"));
  }

  static std::string ClientInfoJson(bool mesh) {
    return mesh ? std::string(R"({"version":2,"meshKey":")") + kMeshKey + "\"}"
                : R"({"version":2,"CanAckPings":true})";
  }

  Bytes ClientInfo(const crypto::PrivateKey& priv, const crypto::Key32& pub,
                   std::string_view json) const {
    Bytes payload(pub.begin(), pub.end());
    Bytes sealed = crypto::BoxSeal(keel::AsBytes(json), priv, server_pub).value();
    payload.insert(payload.end(), sealed.begin(), sealed.end());
    return derp::EncodeFrame(derp::FrameType::kClientInfo, payload);
  }
};

World& TheWorld() {
  static World* world = new World;  // never destroyed: the relay outlives every input
  return *world;
}

// Every decoder a relay applies to a client's frame; results are only checked for sanity.
void DecodeAll(const derp::Frame& f) {
  auto p = f.payload;
  if (auto ci = derp::ParseClientInfo(p)) Check(ci->sealed.size() + derp::kKeySize == p.size());
  if (auto opened = derp::OpenClientInfo(p, TheWorld().server_key)) {
    Check(opened->client_public == derp::ParseClientInfo(p)->client_public);
  }
  if (auto s = derp::ParseSendPacket(p)) Check(s->packet.size() <= derp::kMaxPacketSize);
  if (auto fw = derp::ParseForwardPacket(p)) Check(fw->packet.size() <= derp::kMaxPacketSize);
  (void)derp::ParseNotePreferred(p);
  (void)derp::ParseClosePeer(p);
  (void)derp::ParseWatchConns(p);
  (void)derp::ParsePing(p);
  (void)derp::IsDiscoPacket(p);
}

asio::awaitable<void> ReadFrames(std::unique_ptr<MemoryStream> stream, size_t max_frame) {
  derp::FrameReader reader(*stream, max_frame);
  for (;;) {
    auto f = co_await reader.ReadFrame();
    if (!f) break;
    Check(f->payload.size() <= max_frame);
    DecodeAll(*f);
  }
}

// Connection A's bytes, from ops over the rest of the input.
Bytes BuildClientBytes(InputCursor& in, const World& w) {
  Bytes out;
  size_t ops = in.Byte() % 16;
  for (size_t i = 0; i < ops && !in.empty(); ++i) {
    uint8_t op = in.Byte();
    auto body = in.Take(in.Byte());
    auto frame = [&](derp::FrameType type, std::span<const uint8_t> prefix) {
      Bytes payload(prefix.begin(), prefix.end());
      payload.insert(payload.end(), body.begin(), body.end());
      Bytes f = derp::EncodeFrame(type, payload);
      out.insert(out.end(), f.begin(), f.end());
    };
    switch (op % 5) {
      case 0:
        out.insert(out.end(), body.begin(), body.end());
        break;
      case 1:
        frame(derp::FrameType::kSendPacket, w.b_pub);
        break;
      case 2:
        frame(derp::FrameType::kSendPacket, w.a_pub);
        break;
      case 3: {  // a mesh peer forwarding from A to B
        Bytes keys(w.a_pub.begin(), w.a_pub.end());
        keys.insert(keys.end(), w.b_pub.begin(), w.b_pub.end());
        frame(derp::FrameType::kForwardPacket, keys);
        break;
      }
      default: {  // any type, any payload
        Bytes f = derp::EncodeFrame(static_cast<derp::FrameType>(op >> 3), body);
        out.insert(out.end(), f.begin(), f.end());
        break;
      }
    }
  }
  return out;
}

void ServeRelay(uint8_t mode, InputCursor& in) {
  World& w = TheWorld();
  auto chunks = keel::fuzz::ChunkSizes(in, 3);
  Bytes a_bytes;
  // Any client can seal any JSON with its own key: with bit 3 the input chooses it.
  std::string json = World::ClientInfoJson(mode & 2);
  if (mode & 8) json = keel::AsChars(in.Take(in.Byte()));
  if (!(mode & 4)) a_bytes = w.ClientInfo(w.client_a, w.a_pub, json);
  Bytes ops = BuildClientBytes(in, w);
  a_bytes.insert(a_bytes.end(), ops.begin(), ops.end());
  // B: admitted, then quiet until A is done, so packets for it queue up.
  Bytes b_bytes = w.ClientInfo(w.client_b, w.b_pub, World::ClientInfoJson(false));
  auto b = std::make_unique<MemoryStream>(w.io.get_executor(), b_bytes, std::vector<size_t>{},
                                          /*hang_at_end=*/true);
  MemoryStream* b_raw = b.get();
  auto a = std::make_unique<MemoryStream>(w.io.get_executor(), a_bytes, chunks);
  bool a_done = false, b_done = false;
  asio::co_spawn(w.io, w.relay->Serve(std::move(b), "127.0.0.1:2"), [&](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
    b_done = true;
  });
  w.io.restart();
  w.io.poll();  // B registers before A starts
  asio::co_spawn(w.io, w.relay->Serve(std::move(a), "127.0.0.1:1"), [&](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
    a_done = true;
    b_raw->Close();  // still owned by B's connection, which ends now
  });
  while (!(a_done && b_done)) {
    if (w.io.run_one() == 0) break;
  }
  w.io.restart();
  w.io.poll();
  Check(a_done && b_done);
  Check(!w.relay->IsConnected(keel::crypto::NodePublic(w.a_pub)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  InputCursor in(std::span(data, size));
  uint8_t mode = in.Byte();
  if (mode & 1) {
    ServeRelay(mode, in);
    return 0;
  }
  static asio::io_context io;
  auto chunks = keel::fuzz::ChunkSizes(in, 3);
  size_t max_frame = 16 + static_cast<size_t>(in.Byte()) * 64;
  auto stream = std::make_unique<MemoryStream>(io.get_executor(), in.Rest(), chunks);
  keel::fuzz::RunToCompletion(io, ReadFrames(std::move(stream), max_frame));
  return 0;
}
