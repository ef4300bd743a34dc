// The TS2021 Noise layer a /ts2021 client reaches before anything else: the IK responder on
// any initiation, and the transport records after a real handshake. Plain bytes cannot forge
// a Poly1305 tag, so byte 0 picks a mode and, for the record modes, the harness itself seals
// fuzz-chosen plaintext with the client's keys and mixes in raw garbage; the fuzzer then
// controls contents, record boundaries and how the byte stream is cut.
//
//   mode 0: RespondToInitiation on the raw input
//   mode 1: a valid initiation XORed with the input (reaches the checks after the framing)
//   mode 2: RecordReader::Feed on a built record stream, fed in fuzz-chosen pieces
//   mode 3: the same stream through NoiseStream over a MemoryStream, read and answered
//
// Keys are fixed, so one input always means the same bytes.

#include <boost/asio/io_context.hpp>
#include <cstdlib>

#include "crypto/x25519.h"
#include "fuzz_stream.h"
#include "noise/handshake.h"
#include "noise/record.h"
#include "noise/stream.h"
#include "harness.h"

namespace {

using keel::fuzz::Check;
using keel::fuzz::FixedKey;

namespace asio = boost::asio;
using keel::Bytes;
using keel::fuzz::InputCursor;
namespace crypto = keel::crypto;
namespace noise = keel::noise;

// One handshake, done once: the initiation and both sides' transport keys.
struct Session {
  crypto::PrivateKey control = FixedKey(0x11);
  crypto::PrivateKey server_ephemeral = FixedKey(0x22);
  std::array<uint8_t, noise::kInitiationSize> initiation{};
  noise::CipherKeys server_keys{};
  noise::CipherKeys client_keys{};
  Bytes response;

  Session() {
    crypto::MachinePublic control_pub(crypto::PublicFromPrivate(control));
    noise::ClientHandshake client(FixedKey(0x33), control_pub, 106, FixedKey(0x44));
    initiation = client.initiation();
    auto server = noise::RespondToInitiation(initiation, control, server_ephemeral);
    Check(server.has_value());
    server_keys = server->keys;
    response.assign(server->response.begin(), server->response.end());
    auto keys = client.ReadResponse(server->response);
    Check(keys.has_value());
    client_keys = *keys;
  }
};

const Session& TheSession() {
  static const Session session;
  return session;
}

// The client's byte stream: a sequence of pieces, each either sealed fuzz plaintext or raw
// fuzz bytes. `plaintext` is what an honest reader must produce while `all_sealed` holds.
struct RecordStream {
  Bytes wire;
  Bytes plaintext;
  bool all_sealed = true;
};

RecordStream BuildRecords(InputCursor& in) {
  RecordStream out;
  noise::RecordWriter writer(TheSession().client_keys.send);
  size_t pieces = in.Byte() % 8;
  for (size_t i = 0; i < pieces && !in.empty(); ++i) {
    uint8_t op = in.Byte();
    // Lengths just past kMaxPlaintextSize, so the writer's own split is reached; bigger ones
    // add nothing but time.
    size_t len = static_cast<size_t>(in.U16()) % 4200;
    auto piece = in.Take(len);
    if (op % 4 != 3) {
      Check(writer.Append(piece, out.wire).has_value());
      out.plaintext.insert(out.plaintext.end(), piece.begin(), piece.end());
    } else {
      out.wire.insert(out.wire.end(), piece.begin(), piece.end());
      if (!piece.empty()) out.all_sealed = false;
    }
  }
  return out;
}

void FeedRecords(InputCursor& in) {
  auto chunks = keel::fuzz::ChunkSizes(in, 4);
  RecordStream stream = BuildRecords(in);
  noise::RecordReader reader(TheSession().server_keys.recv);
  Bytes got;
  std::span<const uint8_t> rest(stream.wire);
  bool ok = true;
  for (size_t i = 0; !rest.empty() && ok; ++i) {
    size_t n = chunks[i % chunks.size()];
    n = n == 0 ? rest.size() : std::min(n, rest.size());
    ok = reader.Feed(rest.first(n), got).has_value();
    rest = rest.subspan(n);
  }
  if (stream.all_sealed) {
    Check(ok && !reader.HasPartialRecord() && got == stream.plaintext);
  }
  if (!ok) Check(reader.failed());
}

asio::awaitable<void> ReadAndAnswer(noise::NoiseStream& noise_stream, InputCursor& in,
                                    const RecordStream& stream) {
  size_t read_size = 1 + static_cast<size_t>(in.Byte()) * 17;  // 1 .. a whole record
  Bytes got;
  Bytes buf(read_size);
  bool clean_end = false;
  int reads = 0;
  for (;;) {
    auto n = co_await noise_stream.ReadSome(buf);
    if (!n) break;
    if (*n == 0) {
      clean_end = true;
      break;
    }
    got.insert(got.end(), buf.begin(), buf.begin() + static_cast<ptrdiff_t>(*n));
    // Answer the first reads as a server does, so the writer side runs too (every read would
    // make one record per byte when reads are tiny: slow, and no new paths).
    if (++reads <= 4) {
      auto w = co_await noise_stream.WriteAll(std::span(buf).first(*n));
      Check(w.has_value());
    }
  }
  if (stream.all_sealed) Check(clean_end && got == stream.plaintext);
  noise_stream.Close();
}

void StreamRecords(InputCursor& in) {
  static asio::io_context io;
  auto chunks = keel::fuzz::ChunkSizes(in, 4);
  RecordStream stream = BuildRecords(in);
  auto memory = std::make_unique<keel::fuzz::MemoryStream>(io.get_executor(), stream.wire, chunks);
  // What the server writes back must open with the client's keys, after the raw prefix.
  const Session& s = TheSession();
  Bytes answer;
  memory->OnWrite([&](std::span<const uint8_t> d) { answer.insert(answer.end(), d.begin(), d.end()); });
  noise::NoiseStream noise_stream(std::move(memory), s.server_keys, s.response);
  keel::fuzz::RunToCompletion(io, ReadAndAnswer(noise_stream, in, stream));
  if (answer.empty()) return;
  Check(answer.size() >= s.response.size() &&
        std::equal(s.response.begin(), s.response.end(), answer.begin()));
  noise::RecordReader client_reader(s.client_keys.recv);
  Bytes echoed;
  Check(client_reader.Feed(std::span(answer).subspan(s.response.size()), echoed).has_value());
  Check(!client_reader.HasPartialRecord());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  InputCursor in(std::span(data, size));
  const Session& s = TheSession();
  switch (in.Byte() % 4) {
    case 0: {
      auto r = noise::RespondToInitiation(in.Rest(), s.control, s.server_ephemeral);
      if (r) Check(r->keys.recv != r->keys.send);
      break;
    }
    case 1: {
      std::array<uint8_t, noise::kInitiationSize> init = s.initiation;
      auto x = in.Rest();
      for (size_t i = 0; i < x.size() && i < init.size(); ++i) init[i] ^= x[i];
      auto r = noise::RespondToInitiation(init, s.control, s.server_ephemeral);
      // The untouched initiation must still be accepted.
      if (x.empty()) Check(r.has_value() && r->keys.recv == s.client_keys.send);
      break;
    }
    case 2:
      FeedRecords(in);
      break;
    default:
      StreamRecords(in);
      break;
  }
  return 0;
}
