// Idle long-poll cost: how much server memory one open, idle /machine/map stream holds.
//
// The bench process runs a real keel control server (http::Server on 127.0.0.1:0, ControlServer,
// Tailnet over a SQLite file) on its own I/O thread and starts a second copy of itself in
// `--clients` mode, so client memory never shows up in the server's VmRSS. The clients
//   1. register N nodes (one reusable pre-auth key, one Noise connection each, then closed),
//   2. on "go", open one Noise+HTTP/2 connection per node with a streaming map poll, wait for each
//      first full map, and keep reading (the server's online-status deltas and keep-alives).
// The server reads its own VmRSS at start, after registration and after all streams are idle.
//
// Usage: idle_streams_bench [N=1000] [settle_seconds=5]
// Loopback only. Not a Google Benchmark: a plain main that prints figures.

// GCC 12 reports a false mismatched-new-delete on coroutine lambdas (asio's frame allocator).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/log.h"
#include "control/server.h"
#include "control/test_client.h"
#include "crypto/x25519.h"
#include "store/sqlite_store.h"

namespace {

namespace asio = boost::asio;
using asio::awaitable;
using namespace keel;
using control::testing::H2Client;

constexpr int kConcurrency = 16;  // connections being set up at once by the client process

long ReadRssKiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

// ---------------------------------------------------------------- client process

std::string RegisterBody(const crypto::NodePublic& key, const std::string& auth, int i) {
  nlohmann::json j = {{"Version", 145},
                      {"NodeKey", key.ToText()},
                      {"Auth", {{"AuthKey", auth}}},
                      {"Expiry", "0001-01-01T00:00:00Z"},
                      {"Hostinfo", {{"Hostname", "idle-" + std::to_string(i)}, {"OS", "linux"}}}};
  return j.dump();
}

std::string MapBody(const crypto::NodePublic& key) {
  nlohmann::json j = {{"Version", 145},
                      {"NodeKey", key.ToText()},
                      {"DiscoKey", "discokey:" + std::string(63, '0') + "7"},
                      {"Compress", "zstd"},
                      {"KeepAlive", true},
                      {"Stream", true},
                      {"OmitPeers", false},
                      {"Endpoints", {"198.51.100.7:41641"}},
                      {"Hostinfo", {{"Hostname", "laptop"}, {"NetInfo", {{"PreferredDERP", 900}}}}}};
  return j.dump();
}

// True once the body holds one whole frame (LE length + payload); cheaper than decoding.
bool FirstFrameComplete(const std::string& body) {
  if (body.size() < 4) return false;
  auto b = [&](size_t i) { return uint32_t(uint8_t(body[i])); };
  uint32_t n = b(0) | b(1) << 8 | b(2) << 16 | b(3) << 24;
  return body.size() >= 4 + size_t(n);
}

struct Node {
  crypto::PrivateKey machine;
  crypto::NodePublic node;
  std::unique_ptr<H2Client> stream_conn;
};

struct ClientState {
  uint16_t port;
  std::string auth_key;
  crypto::MachinePublic control;
  std::vector<Node> nodes;
  size_t next = 0;
  int ok = 0, failed = 0, workers_left = 0;
  std::promise<void> done;
};

awaitable<bool> RegisterOne(ClientState& st, size_t i) {
  Node& n = st.nodes[i];
  auto conn = co_await control::testing::DialNoise(st.port, n.machine, st.control, 145, nullptr);
  if (!conn) co_return false;
  H2Client c(std::move(conn));
  int32_t reg = c.Post("/machine/register", RegisterBody(n.node, st.auth_key, int(i)));
  co_await c.PumpUntil([&] { return c.stream(reg).closed; });
  bool ok = c.stream(reg).status == 200 &&
            nlohmann::json::parse(c.stream(reg).body).value("MachineAuthorized", false);
  c.Close();
  co_return ok;
}

awaitable<bool> StreamOne(ClientState& st, size_t i) {
  Node& n = st.nodes[i];
  auto conn = co_await control::testing::DialNoise(st.port, n.machine, st.control, 145, nullptr);
  if (!conn) co_return false;
  n.stream_conn = std::make_unique<H2Client>(std::move(conn));
  H2Client* c = n.stream_conn.get();
  int32_t map = c->Post("/machine/map", MapBody(n.node));
  bool got = co_await c->PumpUntil([&] { return FirstFrameComplete(c->stream(map).body); });
  if (!got || c->stream(map).status != 200) co_return false;
  // Keep reading for the rest of the run so deltas and keep-alives never back up on the server.
  asio::co_spawn(co_await asio::this_coro::executor,
                 [c]() -> awaitable<void> { co_await c->PumpUntil([] { return false; }); },
                 asio::detached);
  co_return true;
}

// Runs `one` for every node with kConcurrency workers; fulfils st.done when all are through.
// Runs on the I/O thread, like everything that touches `st` until st.done is set.
void RunPhase(asio::io_context& io, ClientState& st, awaitable<bool> (*one)(ClientState&, size_t)) {
  st.next = 0;
  st.ok = st.failed = 0;
  st.workers_left = kConcurrency;
  for (int w = 0; w < kConcurrency; ++w) {
    asio::co_spawn(
        io,
        [&st, one]() -> awaitable<void> {
          while (st.next < st.nodes.size()) {
            size_t i = st.next++;
            bool ok = false;
            try {
              ok = co_await one(st, i);
            } catch (const std::exception& e) {
              std::fprintf(stderr, "client %zu: %s\n", i, e.what());
            }
            (ok ? st.ok : st.failed)++;
          }
          if (--st.workers_left == 0) st.done.set_value();
        },
        asio::detached);
  }
}

int ClientMain(uint16_t port, size_t n, std::string auth_key, std::string control_text) {
  SetLogLevel("warn");
  ClientState st;
  st.port = port;
  st.auth_key = std::move(auth_key);
  st.control = crypto::MachinePublic::Parse(control_text).value();
  st.nodes.resize(n);
  for (auto& node : st.nodes) {
    node.machine = crypto::GeneratePrivateKey();
    node.node = crypto::NodePublic(crypto::PublicFromPrivate(crypto::GeneratePrivateKey()));
  }
  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  std::thread io_thread([&] { io.run(); });

  auto run = [&](awaitable<bool> (*one)(ClientState&, size_t), const char* tag) {
    st.done = std::promise<void>();
    auto finished = st.done.get_future();
    asio::post(io, [&] { RunPhase(io, st, one); });
    finished.wait();
    std::printf("%s %d %d\n", tag, st.ok, st.failed);
    std::fflush(stdout);
  };
  run(&RegisterOne, "registered");
  char line[64];
  if (!std::fgets(line, sizeof line, stdin)) std::_Exit(1);
  run(&StreamOne, "streaming");
  std::fgets(line, sizeof line, stdin);  // the server is done measuring (or closed the pipe)
  std::_Exit(0);  // the perpetual pumps never finish; no orderly teardown needed
}

// ---------------------------------------------------------------- server process

struct Child {
  pid_t pid = -1;
  FILE* to = nullptr;    // child's stdin
  FILE* from = nullptr;  // child's stdout
};

Child SpawnClients(uint16_t port, size_t n, const std::string& key, const std::string& control) {
  int in[2], out[2];
  if (pipe(in) != 0 || pipe(out) != 0) std::abort();
  std::vector<std::string> args = {"idle_streams_bench", "--clients", std::to_string(port),
                                   std::to_string(n), key, control};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {  // only async-signal-safe calls until exec
    dup2(in[0], 0);
    dup2(out[1], 1);
    close(in[0]), close(in[1]), close(out[0]), close(out[1]);
    execv("/proc/self/exe", argv.data());
    _exit(127);
  }
  close(in[0]), close(out[1]);
  return Child{pid, fdopen(in[1], "w"), fdopen(out[0], "r")};
}

// Reads "<tag> ok failed" from the child; false if it died or reported failures.
bool Expect(Child& c, const char* tag, size_t n) {
  char line[128];
  if (!std::fgets(line, sizeof line, c.from)) return false;
  std::string expected = std::string(tag) + " " + std::to_string(n) + " 0\n";
  std::printf("clients: %s", line);
  return line == expected;
}

struct Rss {
  long raw, trimmed;
};

// VmRSS as is, and after returning freed heap pages to the kernel (transient map-building
// buffers otherwise linger in glibc's arenas and blur what is actually held).
Rss Measure() {
  long raw = ReadRssKiB();
  malloc_trim(0);
  return Rss{raw, ReadRssKiB()};
}

int ServerMain(size_t n, int settle_seconds) {
  SetLogLevel("warn");
  std::string db = "/tmp/idle_streams_bench." + std::to_string(getpid()) + ".db";
  RealClock clock;
  asio::io_context io;
  asio::thread_pool pool{1};
  auto store = store::SqliteStore::Open(db).value();
  tailnet::Tailnet tailnet(tailnet::Settings{}, *store, clock, GetLogger("tailnet"));
  tailnet.Load().value();
  tailnet.CreateUser("alice", "Alice", "alice@example.com").value();
  std::string key = tailnet.CreatePreAuthKey("alice", true, false, ZeroTime()).value().secret_text;
  control::Settings s;
  s.derp_map = nlohmann::json::parse(
      R"({"Regions":{"900":{"RegionID":900,"RegionCode":"own","Nodes":[]}}})");
  control::ServerKeys keys{crypto::GeneratePrivateKey(), crypto::GeneratePrivateKey()};
  crypto::MachinePublic control_pub(crypto::PublicFromPrivate(keys.noise));
  control::ControlServer control(s, keys, tailnet, pool, io.get_executor(), GetLogger("control"));
  http::Router router;
  control.RegisterRoutes(router);
  http::Server server(io.get_executor(), router, http::ServerSettings{}, GetLogger("http"));
  uint16_t port = server.ListenTcp("127.0.0.1", 0).value();
  auto guard = asio::make_work_guard(io);
  std::thread io_thread([&] { io.run(); });

  Rss start = Measure();
  auto t0 = std::chrono::steady_clock::now();
  Child child = SpawnClients(port, n, key, control_pub.ToText());
  bool ok = Expect(child, "registered", n);
  Rss registered = Measure();
  auto t1 = std::chrono::steady_clock::now();
  if (ok) {
    std::fputs("go\n", child.to);
    std::fflush(child.to);
    ok = Expect(child, "streaming", n);
  }
  auto t2 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(settle_seconds));
  Rss idle = Measure();

  std::fclose(child.to);  // tells the clients to exit
  std::fclose(child.from);
  waitpid(child.pid, nullptr, 0);
  std::promise<void> stopped;
  asio::post(io, [&] {
    control.Shutdown();
    server.Stop();
    stopped.set_value();
  });
  stopped.get_future().wait();
  guard.reset();
  io.stop();
  io_thread.join();
  pool.join();
  std::remove(db.c_str());
  if (!ok) {
    std::printf("FAILED: the clients did not all register / stream\n");
    return 1;
  }
  auto secs = [](auto d) { return std::chrono::duration<double>(d).count(); };
  std::printf("register %zu nodes: %.1f s; open %zu streams to first map: %.1f s; settle %d s\n", n,
              secs(t1 - t0), n, secs(t2 - t1), settle_seconds);
  for (bool trimmed : {false, true}) {
    auto v = [&](const Rss& r) { return trimmed ? r.trimmed : r.raw; };
    std::printf("[%s] server RSS start: %ld KiB; after registering %zu nodes: %ld KiB "
                "(%.1f KiB/node)\n",
                trimmed ? "after malloc_trim" : "raw VmRSS", v(start), n, v(registered),
                double(v(registered) - v(start)) / double(n));
    std::printf("[%s] idle map streams: %zu; server RSS before: %ld KiB; after: %ld KiB; "
                "per stream: %.1f KiB\n",
                trimmed ? "after malloc_trim" : "raw VmRSS", n, v(registered), v(idle),
                double(v(idle) - v(registered)) / double(n));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 6 && std::string(argv[1]) == "--clients") {
    return ClientMain(uint16_t(std::stoi(argv[2])), std::stoul(argv[3]), argv[4], argv[5]);
  }
  size_t n = argc > 1 ? std::stoul(argv[1]) : 1000;
  int settle = argc > 2 ? std::stoi(argv[2]) : 5;
  return ServerMain(n, settle);
}
