// The /ts2021 upgrade and everything behind it, served by a real ControlServer (Tailnet over
// an in-memory SQLite store) through keel's HTTP/1.1 connection code. Byte 0 picks the mode:
//   0x80 set: raw — the input is the whole client byte stream (the upgrade request, its
//             X-Tailscale-Handshake, then whatever follows);
//   else:     a session — the harness performs a valid Noise handshake for a registered
//             machine, then sends the rest of the input as sealed transport records: either
//             as HTTP/2 frames after the client preface (0x40 set), or as the body of one
//             request to a /machine path that byte 1 picks, framed by nghttp2's own client.
// The low bits of byte 0 cut the records (and raw writes) into pieces of that size.
// Plain mutation cannot forge AEAD tags, hence the sealing; the server's ephemeral key stays
// random, as it must, which only costs determinism of the bytes sent back.

#include <nghttp2/nghttp2.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "base/clock.h"
#include "control/server.h"
#include "crypto/x25519.h"
#include "loopback_http.h"
#include "noise/handshake.h"
#include "noise/record.h"
#include "store/sqlite_store.h"
#include "tailnet/tailnet.h"
#include "harness.h"

namespace {

using keel::fuzz::FixedKey;

namespace asio = boost::asio;
using keel::fuzz::LocalSocket;

// One control server for the whole run, with one machine already registered so that a
// session's map and helper requests get past the "unknown node" answers.
struct World {
  asio::io_context io;
  asio::thread_pool pool{1};
  keel::RealClock clock;
  std::unique_ptr<keel::store::SqliteStore> store;
  std::unique_ptr<keel::tailnet::Tailnet> tailnet;
  std::unique_ptr<keel::control::ControlServer> control;
  keel::http::Router router;
  keel::crypto::PrivateKey machine = FixedKey(7);
  keel::crypto::PrivateKey node = FixedKey(9);
  keel::crypto::MachinePublic control_public;

  World() {
    keel::SetLogLevel("off");  // a line per input would cost more than the input
    store = keel::store::SqliteStore::Open(":memory:").value();
    tailnet = std::make_unique<keel::tailnet::Tailnet>(keel::tailnet::Settings{}, *store, clock,
                                                       keel::GetLogger("tailnet"));
    tailnet->Load().value();
    tailnet->CreateUser("alice", "Alice", "alice@example.com").value();
    auto key = tailnet->CreatePreAuthKey("alice", true, false, keel::ZeroTime()).value();
    keel::tailnet::RegisterInput in;
    in.machine_key = keel::crypto::MachinePublic(keel::crypto::PublicFromPrivate(machine));
    in.node_key = keel::crypto::NodePublic(keel::crypto::PublicFromPrivate(node));
    in.auth_key = key.secret_text;
    in.hostname = "fuzz";
    in.hostinfo_json = R"({"Hostname":"fuzz","OS":"linux"})";
    tailnet->Register(in).value();

    keel::control::Settings s;
    s.derp_map = nlohmann::json::parse(
        R"({"Regions":{"900":{"RegionID":900,"RegionCode":"own","Nodes":[{"Name":"900a","RegionID":900,"HostName":"127.0.0.1"}]}}})");
    // One fixed machine sends every input: its request budget must not run dry mid-run.
    s.limits.request_rate = s.limits.any_request_rate = 1e9;
    s.limits.request_burst = s.limits.any_request_burst = 1e9;
    s.ha_probe_interval = std::chrono::seconds(0);
    keel::control::ServerKeys keys{FixedKey(1), FixedKey(2)};
    control_public = keel::crypto::MachinePublic(keel::crypto::PublicFromPrivate(keys.noise));
    control = std::make_unique<keel::control::ControlServer>(s, keys, *tailnet, pool, io.get_executor(),
                                                             keel::GetLogger("control"));
    control->RegisterRoutes(router);
  }
};

World& TheWorld() {
  static World* world = new World;
  return *world;
}

constexpr const char* kPaths[] = {
    "/machine/register", "/machine/map",       "/machine/set-dns", "/machine/update-health",
    "/machine/id-token", "/machine/ssh/action/1/2/3", "/machine/unknown", "/key?v=130",
};

// HTTP/2 client bytes (preface, SETTINGS, HEADERS, DATA) of one POST of `body` to `path`,
// made by nghttp2's client so the frames are exactly what a real client sends.
std::string H2Request(const std::string& path, const std::string& body) {
  struct Out {
    std::string bytes;
    std::string body;
    size_t sent = 0;
  } out{{}, body, 0};
  nghttp2_session_callbacks* cb;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_send_callback(
      cb, [](nghttp2_session*, const uint8_t* d, size_t n, int, void* u) -> ssize_t {
        static_cast<Out*>(u)->bytes.append(reinterpret_cast<const char*>(d), n);
        return static_cast<ssize_t>(n);
      });
  nghttp2_session* session;
  nghttp2_session_client_new(&session, cb, &out);
  nghttp2_session_callbacks_del(cb);
  nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0);
  auto nv = [](const char* name, const std::string& value) {
    return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name)),
                      reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), strlen(name),
                      value.size(), NGHTTP2_NV_FLAG_NONE};
  };
  std::string method = "POST", scheme = "http", authority = "fuzz", length = std::to_string(body.size());
  nghttp2_nv headers[] = {nv(":method", method), nv(":scheme", scheme), nv(":authority", authority),
                          nv(":path", path), nv("content-length", length)};
  nghttp2_data_provider provider;
  provider.source.ptr = &out;
  provider.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t len, uint32_t* flags,
                              nghttp2_data_source* src, void*) -> ssize_t {
    auto* o = static_cast<Out*>(src->ptr);
    size_t n = std::min(len, o->body.size() - o->sent);
    memcpy(buf, o->body.data() + o->sent, n);
    o->sent += n;
    if (o->sent == o->body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  };
  nghttp2_submit_request(session, nullptr, headers, std::size(headers), &provider, nullptr);
  nghttp2_session_send(session);
  nghttp2_session_del(session);
  return out.bytes;
}

// Upgrades with a valid handshake, then sends `plaintext` sealed in records of `cut` bytes.
asio::awaitable<void> Session(LocalSocket& s, uint16_t capver, std::string plaintext, size_t cut) {
  World& w = TheWorld();
  keel::noise::ClientHandshake hs(w.machine, w.control_public, capver, FixedKey(11));
  std::string req = "POST /ts2021 HTTP/1.1\r\nHost: fuzz\r\nConnection: upgrade\r\n"
                    "Upgrade: tailscale-control-protocol\r\nX-Tailscale-Handshake: " +
                    keel::Base64Encode(hs.initiation()) + "\r\n\r\n";
  co_await keel::fuzz::WriteChunks(s, std::span(reinterpret_cast<const uint8_t*>(req.data()), req.size()),
                                   req.size());
  // The 101 head, then the 51-byte response (or a shorter error frame and a close).
  asio::streambuf in;
  boost::system::error_code ec;
  size_t head = co_await asio::async_read_until(s, in, "\r\n\r\n", asio::redirect_error(asio::use_awaitable, ec));
  if (!ec) in.consume(head);
  while (!ec && in.size() < keel::noise::kResponseSize) {
    auto more = in.prepare(512);
    size_t n = co_await s.async_read_some(more, asio::redirect_error(asio::use_awaitable, ec));
    in.commit(n);
  }
  std::optional<keel::noise::CipherKeys> keys;
  if (!ec) {
    auto data = static_cast<const uint8_t*>(in.data().data());
    auto got = hs.ReadResponse(std::span(data, keel::noise::kResponseSize));
    if (got) keys = *got;
  }
  keel::Bytes wire;
  if (keys) {
    keel::noise::RecordWriter writer(keys->send);
    auto bytes = std::span(reinterpret_cast<const uint8_t*>(plaintext.data()), plaintext.size());
    cut = std::max<size_t>(cut, 1);
    for (size_t at = 0; at < bytes.size(); at += cut) {
      (void)writer.Append(bytes.subspan(at, std::min(cut, bytes.size() - at)), wire);
    }
  }
  using namespace asio::experimental::awaitable_operators;
  auto send = [&]() -> asio::awaitable<void> {
    co_await keel::fuzz::WriteChunks(s, wire, wire.size());
    boost::system::error_code ignored;
    s.shutdown(LocalSocket::shutdown_send, ignored);
  };
  co_await (send() && keel::fuzz::Drain(s));
}

constexpr uint16_t kCapVers[] = {30, 39, 48, 49, 88, 106, 130, 145};
constexpr char kH2Preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  World& w = TheWorld();
  keel::fuzz::LoopbackHttp http(w.io, w.router);
  uint8_t mode = data[0], pick = data[1];
  std::string rest(reinterpret_cast<const char*>(data + 2), size - 2);
  size_t cut = (mode & 0x3f) == 0 ? 4096 : (mode & 0x3f) * 7;
  if (mode & 0x80) {
    http.Run(keel::fuzz::SendAll(std::move(rest), cut));
    return 0;
  }
  uint16_t capver = kCapVers[pick >> 5];
  std::string plaintext = (mode & 0x40) ? std::string(kH2Preface) + rest
                                        : H2Request(kPaths[pick & 7], rest);
  http.Run([&](LocalSocket& s) { return Session(s, capver, std::move(plaintext), cut); });
  return 0;
}
