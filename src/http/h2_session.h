#pragma once
// The nghttp2 server session behind ServeHttp2, and the H2Stream handed to handlers.
// Internal to the http module. Threading: everything runs on the ByteStream's executor; no
// locks. nghttp2 is only entered from the reader, the writer and handler calls, never
// re-entrantly (handlers run as separate coroutines).

#include <nghttp2/nghttp2.h>

#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <string>
#include <unordered_map>

#include "http/h2_server.h"

namespace keel::http::internal {

class H2Session;

class H2StreamImpl final : public H2Stream {
 public:
  H2StreamImpl(H2Session* session, int32_t id) : session_(session), id_(id) {}

  void Respond(int status, Headers headers = {}) override;
  void Write(std::string data) override;
  void Finish() override;
  void Reset() override;
  bool closed() const override { return closed_; }
  size_t buffered() const override { return out_.size() - out_pos_; }

  // Called when the handler coroutine ends: a missing response becomes a 500.
  void Complete();
  // The session is done with this stream: later calls are ignored.
  void Detach();

  // nghttp2 data source: copies queued bytes, or defers until Write/Finish.
  ssize_t ReadData(uint8_t* buf, size_t length, uint32_t* data_flags);

  int32_t id() const { return id_; }
  Request& request() { return request_; }
  boost::asio::cancellation_signal& cancel() { return cancel_; }

  size_t header_bytes = 0;
  bool too_large = false;        // body over the limit: answered 413, reset after sending
  bool handler_started = false;

 private:
  H2Session* session_;  // null once detached
  int32_t id_;
  Request request_;
  std::string out_;
  size_t out_pos_ = 0;
  bool responded_ = false;
  bool finished_ = false;
  bool closed_ = false;
  boost::asio::cancellation_signal cancel_;
};

class H2Session {
 public:
  H2Session(ByteStream& stream, H2Handler handler, H2Settings settings,
            std::shared_ptr<spdlog::logger> logger);
  ~H2Session();
  H2Session(const H2Session&) = delete;
  H2Session& operator=(const H2Session&) = delete;

  // Runs the connection, then waits for every handler to finish.
  boost::asio::awaitable<void> Run();

  // Used by H2StreamImpl.
  void SubmitResponse(H2StreamImpl& stream, int status, const Headers& headers);
  void ResumeData(int32_t stream_id);
  void ResetStream(int32_t stream_id);

 private:
  friend struct H2Callbacks;

  boost::asio::awaitable<void> ReadLoop();
  boost::asio::awaitable<void> WriteLoop();
  boost::asio::awaitable<void> WaitForHandlers();
  void Wake();
  void ArmStallTimer();
  void StartHandler(std::shared_ptr<H2StreamImpl> stream);
  void CloseStream(int32_t stream_id);
  void CloseAll();
  H2StreamImpl* Find(int32_t stream_id);

  ByteStream& stream_;
  H2Handler handler_;
  H2Settings settings_;
  std::shared_ptr<spdlog::logger> logger_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<int32_t, std::shared_ptr<H2StreamImpl>> streams_;
  boost::asio::steady_timer wake_timer_;
  boost::asio::steady_timer handlers_timer_;
  boost::asio::steady_timer stall_timer_;  // armed while a write is in progress
  std::shared_ptr<int> alive_ = std::make_shared<int>();  // expires with the session
  bool wake_pending_ = false;
  bool reader_done_ = false;
  bool writer_done_ = false;
  size_t active_handlers_ = 0;
};

}  // namespace keel::http::internal
