// TS2019, the protocol of clients before v1.24 (and of v1.24-v1.62 when /key offers no Noise
// key): POST /machine/<machine-key-hex>[/map] over plain HTTP/1.1, each body a NaCl box
// between the client's machine key and keel's legacy key (transport.md §5). The box is opened
// here and the request then takes the same register and map paths as over Noise; responses
// are sealed on the way out (whole body for register, frame by frame for maps).

#include <boost/asio/awaitable.hpp>

#include "control/legacy_frame.h"
#include "control/server_internal.h"

namespace keel::control {
namespace {

namespace asio = boost::asio;
using asio::awaitable;

constexpr std::string_view kLegacyPrefix = "/machine/";
// Opened boxes remembered against replay: TS2019 has none of its own, and a client never
// reuses a random nonce. Old entries go first; a replay older than this many is let through.
constexpr size_t kRememberedNonces = 1 << 16;

// Seals what the handlers write when they answer 200; errors stay plain text, which is what
// the client prints.
class SealedStream : public http::ResponseStream {
 public:
  enum class Mode { kBody, kFrames };
  SealedStream(std::shared_ptr<http::ResponseStream> inner, crypto::BoxKey key, Mode mode)
      : inner_(std::move(inner)), key_(std::move(key)), mode_(mode) {}

  void Respond(int status, http::Headers headers) override {
    sealed_ = status == 200;
    inner_->Respond(status, std::move(headers));
  }
  void Write(std::string data) override {
    if (!sealed_) return inner_->Write(std::move(data));
    if (mode_ == Mode::kBody) {
      body_ += data;
      return;
    }
    auto framed = SealFrames(data, key_);
    if (framed) inner_->Write(std::move(*framed));
  }
  void Finish() override {
    if (sealed_ && mode_ == Mode::kBody) {
      Bytes box = key_.Seal(std::span(reinterpret_cast<const uint8_t*>(body_.data()), body_.size()));
      inner_->Write(std::string(box.begin(), box.end()));
    }
    inner_->Finish();
  }
  bool closed() const override { return inner_->closed(); }
  size_t buffered() const override { return inner_->buffered(); }

 private:
  std::shared_ptr<http::ResponseStream> inner_;
  crypto::BoxKey key_;
  Mode mode_;
  bool sealed_ = false;
  std::string body_;
};

// True the first time a nonce is seen (within the remembered window).
bool FreshNonce(ServerState& impl, const std::string& body) {
  std::string nonce = body.substr(0, crypto::kBoxNonceSize);
  if (!impl.legacy_nonces.insert(nonce).second) return false;
  impl.legacy_nonce_order.push_back(std::move(nonce));
  if (impl.legacy_nonce_order.size() > kRememberedNonces) {
    impl.legacy_nonces.erase(impl.legacy_nonce_order.front());
    impl.legacy_nonce_order.pop_front();
  }
  return true;
}

awaitable<void> ServeLegacy(std::shared_ptr<ServerState> impl, http::Request req,
                            std::shared_ptr<http::ResponseStream> stream) {
  std::string_view rest = std::string_view(req.path).substr(kLegacyPrefix.size());
  std::string_view key_text = rest.substr(0, rest.find('/'));
  std::string_view op = rest.substr(key_text.size());
  if (key_text.starts_with(crypto::MachineTag::kPrefix)) key_text.remove_prefix(crypto::MachineTag::kPrefix.size());
  auto machine = crypto::MachinePublic::ParseHex(key_text);
  if (!machine) co_return Reply(*stream, 400, "keel: bad machine key in path: " + machine.error().message);
  if (op != "" && op != "/map") co_return Reply(*stream, 404, "keel: not served over the legacy protocol");
  if (req.method != "POST") co_return Reply(*stream, 405, "keel: use POST");
  auto key = crypto::BoxKey::Precompute(impl->keys.legacy, machine->raw());
  if (!key) co_return Reply(*stream, 400, "keel: unusable machine key: " + key.error().message);
  auto body = key->Open(std::span(reinterpret_cast<const uint8_t*>(req.body.data()), req.body.size()));
  if (!body) {
    impl->log->info("ts2019 {} from {} ({}): box does not open", op.empty() ? "register" : "map",
                    machine->ToText(), req.remote);
    co_return Reply(*stream, 400, "keel: request body does not open with this machine key");
  }
  if (!FreshNonce(*impl, req.body)) {
    impl->log->info("ts2019 request from {} ({}) replays an earlier box; refused", machine->ToText(), req.remote);
    co_return Reply(*stream, 400, "keel: replayed request");
  }
  impl->log->info("ts2019 {} from {} ({})", op.empty() ? "register" : "map", machine->ToText(), req.remote);
  req.path = op.empty() ? "/machine/register" : "/machine/map";
  req.body.assign(body->begin(), body->end());
  auto mode = op.empty() ? SealedStream::Mode::kBody : SealedStream::Mode::kFrames;
  auto sealed = std::make_shared<SealedStream>(stream, std::move(*key), mode);
  co_await ServeMachine(impl, *machine, std::move(req), sealed, /*ts2019=*/true);
}

}  // namespace

void RegisterLegacyRoutes(std::shared_ptr<ServerState> impl, http::Router& router) {
  router.HandleStreamPrefix(std::string(kLegacyPrefix), [impl](http::Request req, std::shared_ptr<http::ResponseStream> s) {
    return ServeLegacy(impl, std::move(req), std::move(s));
  });
}

}  // namespace keel::control
