#include "noise/stream.h"

#include <algorithm>
#include <string>

#include "noise/record.h"

namespace keel::noise {

struct NoiseStream::Impl {
  Impl(std::unique_ptr<ByteStream> in, const CipherKeys& keys, Bytes prefix)
      : inner(std::move(in)), writer(keys.send), reader(keys.recv), raw_prefix(std::move(prefix)) {}

  std::unique_ptr<ByteStream> inner;
  RecordWriter writer;
  RecordReader reader;
  Bytes raw_prefix;
  Bytes wire;  // sealed output, reused across writes
  bool write_failed = false;
  // Both buffers stay empty until the first read: an idle connection costs no 4 KiB.
  Bytes ciphertext;
  Bytes plaintext;
  size_t plaintext_pos = 0;

  // Refills `plaintext` from the inner stream; false at a clean end of stream.
  boost::asio::awaitable<Result<bool>> Refill() {
    plaintext.clear();
    plaintext_pos = 0;
    if (ciphertext.empty()) ciphertext.resize(kMaxRecordSize);
    while (plaintext.empty()) {
      auto n = co_await inner->ReadSome(ciphertext);
      if (!n) co_return n.error();
      if (*n == 0) {
        if (reader.HasPartialRecord()) {
          co_return MakeError(Errc::kDataLoss, "noise stream ended inside a record");
        }
        co_return false;
      }
      auto fed = reader.Feed(std::span(ciphertext).first(*n), plaintext);
      if (!fed) co_return fed.error();
    }
    co_return true;
  }
};

NoiseStream::NoiseStream(std::unique_ptr<ByteStream> inner, const CipherKeys& keys,
                         Bytes raw_prefix)
    : impl_(std::make_unique<Impl>(std::move(inner), keys, std::move(raw_prefix))) {}

NoiseStream::~NoiseStream() = default;

boost::asio::awaitable<Result<size_t>> NoiseStream::ReadSome(std::span<uint8_t> out) {
  Impl& s = *impl_;
  if (s.reader.failed()) co_return MakeError(Errc::kFailedPrecondition, "noise stream failed");
  if (out.empty()) co_return size_t{0};
  if (s.plaintext_pos == s.plaintext.size()) {
    auto more = co_await s.Refill();
    if (!more) co_return more.error();
    if (!*more) co_return size_t{0};
  }
  size_t n = std::min(out.size(), s.plaintext.size() - s.plaintext_pos);
  std::copy_n(s.plaintext.begin() + static_cast<ptrdiff_t>(s.plaintext_pos), n, out.begin());
  s.plaintext_pos += n;
  co_return n;
}

boost::asio::awaitable<Result<void>> NoiseStream::WriteAll(std::span<const uint8_t> data) {
  Impl& s = *impl_;
  if (s.write_failed) co_return MakeError(Errc::kFailedPrecondition, "noise stream write failed");
  if (data.empty() && s.raw_prefix.empty()) co_return Result<void>{};
  // Prefix and every record go out in one inner write: one syscall, one TCP segment train.
  // The buffer is kept, so a steady stream of writes does not allocate per write.
  Bytes& wire = s.wire;
  wire.clear();
  if (!s.raw_prefix.empty()) std::swap(wire, s.raw_prefix);
  if (!data.empty()) {
    auto sealed = s.writer.Append(data, wire);
    if (!sealed) {
      s.write_failed = true;
      co_return sealed.error();
    }
  }
  auto written = co_await s.inner->WriteAll(wire);
  // After a partial write the peer's nonce counter no longer matches ours.
  if (!written) s.write_failed = true;
  // A small buffer is kept for the next write; a large one (a full map) is not held by a
  // session that may now be idle for minutes.
  if (wire.capacity() > 2 * kMaxRecordSize) Bytes().swap(wire);
  co_return written;
}

void NoiseStream::Close() { impl_->inner->Close(); }

boost::asio::any_io_executor NoiseStream::executor() { return impl_->inner->executor(); }

Bytes EarlyPayload(const crypto::ChallengePublic& challenge) {
  static constexpr uint8_t kMagic[] = {0xff, 0xff, 0xff, 'T', 'S'};
  std::string json = "{\"nodeKeyChallenge\":\"" + challenge.ToText() + "\"}";
  Bytes out(std::begin(kMagic), std::end(kMagic));
  uint32_t n = static_cast<uint32_t>(json.size());
  for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<uint8_t>(n >> shift));
  out.insert(out.end(), json.begin(), json.end());
  return out;
}

}  // namespace keel::noise
