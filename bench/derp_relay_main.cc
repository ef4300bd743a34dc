// Runs keel's DERP relay on its own, for bench/derp_relay_bench.sh: a derp::Relay behind a
// derp::TlsServer with a fresh self-signed certificate for 127.0.0.1, admitting every client.
// Prints "port <n>" on stdout once listening and runs until SIGTERM or SIGINT. Connections are
// spread over --threads loops, as in `keel serve` (derp.server.threads).
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>

#include "base/io_threads.h"
#include "base/log.h"
#include "crypto/x25519.h"
#include "derp/relay.h"
#include "derp/tls_cert.h"
#include "derp/tls_server.h"

namespace {

struct Flags {
  std::string address = "127.0.0.1";
  uint16_t port = 0;
  size_t queue_limit = 32;
  std::string log_level = "warn";
  std::string mesh_key;
  size_t threads = std::max(1u, std::thread::hardware_concurrency());
};

int Run(const Flags& flags) {
  keel::SetLogLevel(flags.log_level);
  auto logger = keel::GetLogger("derp-relay");
  boost::asio::io_context io;
  keel::IoThreads loops(flags.threads);
  keel::derp::RelaySettings settings;
  settings.server_key = keel::crypto::GeneratePrivateKey();
  settings.queue_limit = flags.queue_limit;
  settings.mesh_key = flags.mesh_key;
  keel::derp::Relay relay(io.get_executor(), std::move(settings), keel::GetLogger("derp"));

  auto cert = keel::derp::GenerateSelfSignedCertificate(flags.address);
  if (!cert) {
    logger->error("certificate: {}", cert.error().message);
    return 1;
  }
  keel::derp::TlsServerSettings tls_settings;
  tls_settings.conn_executor = [&loops] { return loops.Next(); };
  auto server = keel::derp::TlsServer::Create(io.get_executor(), relay, *cert, tls_settings,
                                              keel::GetLogger("derp-tls"));
  if (!server) {
    logger->error("tls server: {}", server.error().message);
    return 1;
  }
  auto port = (*server)->Listen(flags.address, flags.port);
  if (!port) {
    logger->error("listen {}:{}: {}", flags.address, flags.port, port.error().message);
    return 1;
  }
  std::printf("port %u\n", static_cast<unsigned>(*port));
  std::fflush(stdout);

  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code&, int) {
    (*server)->Stop();
    relay.Stop();
    io.stop();
  });
  io.run();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  CLI::App app{"keel DERP relay, standalone, for benchmarks"};
  app.add_option("--address", flags.address, "listen address (also the certificate's name)");
  app.add_option("--port", flags.port, "listen port; 0 picks one");
  app.add_option("--queue-limit", flags.queue_limit, "queued packets per client before drops");
  app.add_option("--log-level", flags.log_level, "trace..off");
  app.add_option("--mesh-key", flags.mesh_key, "64 hex; empty disables mesh frames");
  app.add_option("--threads", flags.threads, "event loops that serve connections")
      ->check(CLI::Range(1, 64));
  CLI11_PARSE(app, argc, argv);
  return Run(flags);
}
