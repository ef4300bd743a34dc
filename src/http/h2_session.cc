// nghttp2 callbacks and the per-stream response state of the HTTP/2 server.
#include "http/h2_session.h"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <cctype>
#include <cstring>
#include <string_view>

namespace keel::http::internal {

namespace asio = boost::asio;

namespace {

ssize_t ReadDataCallback(nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                         uint32_t* data_flags, nghttp2_data_source* source, void*) {
  return static_cast<H2StreamImpl*>(source->ptr)->ReadData(buf, length, data_flags);
}

// Hop-by-hop fields are forbidden in HTTP/2 (RFC 9113 §8.2.2); handlers written for
// HTTP/1.1 may still set them.
bool IsConnectionSpecific(std::string_view name) {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
         name == "transfer-encoding" || name == "upgrade";
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

// ---- H2StreamImpl ----

void H2StreamImpl::Respond(int status, Headers headers) {
  if (!session_ || closed_ || responded_) return;
  responded_ = true;
  session_->SubmitResponse(*this, status, headers);
}

void H2StreamImpl::Write(std::string data) {
  if (!session_ || closed_ || finished_ || data.empty()) return;
  if (out_pos_ == out_.size()) {
    out_ = std::move(data);
    out_pos_ = 0;
  } else {
    out_ += data;
  }
  if (responded_) session_->ResumeData(id_);
}

void H2StreamImpl::Finish() {
  if (!session_ || closed_ || finished_) return;
  finished_ = true;
  if (responded_) session_->ResumeData(id_);
}

void H2StreamImpl::Reset() {
  if (!session_ || closed_) return;
  std::string().swap(out_);
  out_pos_ = 0;
  finished_ = true;
  session_->ResetStream(id_);
}

void H2StreamImpl::Complete() {
  if (!session_ || closed_) return;
  if (!responded_) {
    Respond(500, {{"content-type", "text/plain; charset=utf-8"}});
    Write("internal server error\n");
  }
  Finish();
}

void H2StreamImpl::Detach() {
  closed_ = true;
  session_ = nullptr;
  std::string().swap(out_);
  out_pos_ = 0;
}

ssize_t H2StreamImpl::ReadData(uint8_t* buf, size_t length, uint32_t* data_flags) {
  size_t n = std::min(buffered(), length);
  if (n > 0) std::memcpy(buf, out_.data() + out_pos_, n);
  out_pos_ += n;
  if (out_pos_ == out_.size()) {
    // An idle long poll should not pin the capacity of its last big frame.
    if (out_.capacity() > 4096) {
      std::string().swap(out_);
    } else {
      out_.clear();
    }
    out_pos_ = 0;
  }
  if (n == 0 && !finished_) return NGHTTP2_ERR_DEFERRED;
  if (finished_ && buffered() == 0) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

// ---- nghttp2 callbacks ----

struct H2Callbacks {
  static H2Session& Self(void* user_data) { return *static_cast<H2Session*>(user_data); }

  static int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
      return 0;
    }
    H2Session& self = Self(user_data);
    int32_t id = frame->hd.stream_id;
    self.streams_[id] = std::make_shared<H2StreamImpl>(&self, id);
    return 0;
  }

  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                      void* user_data) {
    H2Session& self = Self(user_data);
    H2StreamImpl* s = self.Find(frame->hd.stream_id);
    if (!s || frame->hd.type != NGHTTP2_HEADERS) return 0;
    s->header_bytes += namelen + valuelen + 32;  // RFC 9113 §6.5.2 accounting
    if (s->header_bytes > self.settings_.max_header_list) {
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets just this stream
    }
    std::string_view n(reinterpret_cast<const char*>(name), namelen);
    std::string v(reinterpret_cast<const char*>(value), valuelen);
    Request& req = s->request();
    if (n == ":method") {
      req.method = std::move(v);
    } else if (n == ":path") {
      req.target = std::move(v);
      size_t q = req.target.find('?');
      req.path = req.target.substr(0, q);
      req.query = q == std::string::npos ? std::string() : req.target.substr(q + 1);
    } else if (n == ":authority") {
      req.headers.emplace_back("host", std::move(v));
    } else if (!n.empty() && n[0] != ':') {
      req.headers.emplace_back(std::string(n), std::move(v));
    }
    return 0;
  }

  static int OnDataChunk(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data,
                         size_t len, void* user_data) {
    H2Session& self = Self(user_data);
    H2StreamImpl* s = self.Find(stream_id);
    if (!s || s->too_large) return 0;
    std::string& body = s->request().body;
    if (body.size() + len > self.settings_.max_request_body) {
      s->too_large = true;
      std::string().swap(body);
      s->Respond(413, {{"content-type", "text/plain; charset=utf-8"}});
      s->Write("request body too large\n");
      s->Finish();
      return 0;
    }
    body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }

  static int OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    H2Session& self = Self(user_data);
    bool request_part = frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA;
    if (!request_part || !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) return 0;
    auto it = self.streams_.find(frame->hd.stream_id);
    if (it == self.streams_.end()) return 0;
    if (!it->second->too_large && !it->second->handler_started) self.StartHandler(it->second);
    return 0;
  }

  static int OnFrameSend(nghttp2_session* session, const nghttp2_frame* frame,
                         void* user_data) {
    bool response_part = frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA;
    if (!response_part || !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) return 0;
    H2StreamImpl* s = Self(user_data).Find(frame->hd.stream_id);
    // The 413 is out; stop the upload the client may still be sending (RFC 9113 §8.1).
    if (s && s->too_large && !nghttp2_session_get_stream_remote_close(session, s->id())) {
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, s->id(), NGHTTP2_NO_ERROR);
    }
    return 0;
  }

  static int OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t, void* user_data) {
    Self(user_data).CloseStream(stream_id);
    return 0;
  }
};

// ---- H2Session (stream bookkeeping; the I/O loops are in h2_server.cc) ----

H2Session::H2Session(ByteStream& stream, H2Handler handler, H2Settings settings,
                     std::shared_ptr<spdlog::logger> logger)
    : stream_(stream),
      handler_(std::move(handler)),
      settings_(settings),
      logger_(std::move(logger)),
      wake_timer_(stream.executor()),
      handlers_timer_(stream.executor()),
      stall_timer_(stream.executor()) {
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, &H2Callbacks::OnBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cb, &H2Callbacks::OnHeader);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &H2Callbacks::OnDataChunk);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &H2Callbacks::OnFrameRecv);
  nghttp2_session_callbacks_set_on_frame_send_callback(cb, &H2Callbacks::OnFrameSend);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, &H2Callbacks::OnStreamClose);
  nghttp2_session_server_new(&session_, cb, this);
  nghttp2_session_callbacks_del(cb);
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, settings_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<uint32_t>(settings_.max_header_list)},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv, std::size(iv));
}

H2Session::~H2Session() {
  CloseAll();
  nghttp2_session_del(session_);
}

H2StreamImpl* H2Session::Find(int32_t stream_id) {
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : it->second.get();
}

void H2Session::SubmitResponse(H2StreamImpl& stream, int status, const Headers& headers) {
  std::string status_text = std::to_string(status);
  std::vector<std::pair<std::string, std::string>> lowered;
  lowered.reserve(headers.size());
  for (const auto& [name, value] : headers) {
    std::string lname = Lower(name);
    if (!IsConnectionSpecific(lname)) lowered.emplace_back(std::move(lname), value);
  }
  std::vector<nghttp2_nv> nva;
  auto add = [&nva](const std::string& n, const std::string& v) {
    nva.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(n.data())),
                   reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(),
                   NGHTTP2_NV_FLAG_NONE});
  };
  static const std::string kStatus = ":status";
  add(kStatus, status_text);
  for (const auto& [n, v] : lowered) add(n, v);
  nghttp2_data_provider provider{};
  provider.source.ptr = &stream;
  provider.read_callback = &ReadDataCallback;
  int rv = nghttp2_submit_response(session_, stream.id(), nva.data(), nva.size(), &provider);
  if (rv != 0) {
    logger_->debug("h2 stream {}: submit response: {}", stream.id(), nghttp2_strerror(rv));
  }
  Wake();
}

void H2Session::ResumeData(int32_t stream_id) {
  nghttp2_session_resume_data(session_, stream_id);  // fails harmlessly if not deferred
  Wake();
}

void H2Session::ResetStream(int32_t stream_id) {
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
  Wake();
}

void H2Session::StartHandler(std::shared_ptr<H2StreamImpl> stream) {
  stream->handler_started = true;
  ++active_handlers_;
  auto slot = stream->cancel().slot();
  asio::co_spawn(stream_.executor(), handler_(std::move(stream->request()), stream),
                 asio::bind_cancellation_slot(slot, [this, stream](std::exception_ptr e) {
                   if (e) {
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& ex) {
                       logger_->warn("h2 stream {}: handler failed: {}", stream->id(), ex.what());
                     }
                   }
                   stream->Complete();
                   if (--active_handlers_ == 0) handlers_timer_.cancel();
                 }));
}

void H2Session::CloseStream(int32_t stream_id) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  std::shared_ptr<H2StreamImpl> s = std::move(it->second);
  streams_.erase(it);
  s->Detach();
  if (!s->handler_started) return;
  // Deliver the cancellation outside nghttp2's callback, so whatever the handler's pending
  // operation does on cancel can't re-enter the session.
  asio::post(stream_.executor(), [s] { s->cancel().emit(asio::cancellation_type::terminal); });
}

void H2Session::CloseAll() {
  std::vector<int32_t> ids;
  ids.reserve(streams_.size());
  for (const auto& [id, s] : streams_) ids.push_back(id);
  for (int32_t id : ids) CloseStream(id);
}

}  // namespace keel::http::internal
