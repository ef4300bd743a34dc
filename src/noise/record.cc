#include "noise/record.h"

#include <algorithm>
#include <limits>

namespace keel::noise {
namespace {

// The reference implementation treats the last counter value as exhausted, never using it.
constexpr uint64_t kCounterLimit = std::numeric_limits<uint64_t>::max();

}  // namespace

crypto::AeadNonce RecordNonce(uint64_t counter, NonceOrder order) {
  crypto::AeadNonce nonce{};
  for (size_t i = 0; i < 8; ++i) {
    uint8_t byte = static_cast<uint8_t>(counter >> (8 * i));
    if (order == NonceOrder::kBigEndian) {
      nonce[11 - i] = byte;
    } else {
      nonce[4 + i] = byte;
    }
  }
  return nonce;
}

size_t RecordWriter::SealedSize(size_t plaintext_size) {
  size_t records = plaintext_size == 0 ? 1 : (plaintext_size + kMaxPlaintextSize - 1) / kMaxPlaintextSize;
  return plaintext_size + records * (kRecordHeaderSize + crypto::kAeadTagSize);
}

Result<void> RecordWriter::Append(std::span<const uint8_t> plaintext, Bytes& out) {
  out.reserve(out.size() + SealedSize(plaintext.size()));
  do {
    if (counter_ == kCounterLimit) {
      return MakeError(Errc::kResourceExhausted, "noise send nonce exhausted");
    }
    auto chunk = plaintext.first(std::min(plaintext.size(), kMaxPlaintextSize));
    plaintext = plaintext.subspan(chunk.size());
    size_t ct_size = chunk.size() + crypto::kAeadTagSize;
    size_t at = out.size();
    out.resize(at + kRecordHeaderSize + ct_size);
    out[at] = kRecordType;
    out[at + 1] = static_cast<uint8_t>(ct_size >> 8);
    out[at + 2] = static_cast<uint8_t>(ct_size);
    crypto::AeadSeal(key_, RecordNonce(counter_++), {}, chunk,
                     std::span(out).subspan(at + kRecordHeaderSize, ct_size));
  } while (!plaintext.empty());
  return {};
}

Error RecordReader::Fail(Error error) {
  failed_ = true;
  partial_.clear();
  partial_.shrink_to_fit();
  return error;
}

Result<size_t> RecordReader::RecordSize(std::span<const uint8_t> header) {
  if (header[0] != kRecordType) {
    return Fail(MakeError(Errc::kInvalidArgument,
                          "unexpected noise record type " + std::to_string(header[0])));
  }
  size_t length = size_t{header[1]} << 8 | header[2];
  if (kRecordHeaderSize + length > kMaxRecordSize) {
    return Fail(MakeError(Errc::kInvalidArgument,
                          "noise record too large: " + std::to_string(length)));
  }
  if (length < crypto::kAeadTagSize) {
    return Fail(MakeError(Errc::kInvalidArgument, "noise record shorter than its tag"));
  }
  return kRecordHeaderSize + length;
}

Result<void> RecordReader::Open(std::span<const uint8_t> record, Bytes& plaintext) {
  if (counter_ == kCounterLimit) {
    return Fail(MakeError(Errc::kResourceExhausted, "noise receive nonce exhausted"));
  }
  auto ciphertext = record.subspan(kRecordHeaderSize);
  size_t at = plaintext.size();
  plaintext.resize(at + ciphertext.size() - crypto::kAeadTagSize);
  auto opened = crypto::AeadOpen(key_, RecordNonce(counter_++), {}, ciphertext,
                                 std::span(plaintext).subspan(at));
  if (!opened) {
    plaintext.resize(at);
    return Fail(MakeError(Errc::kUnauthenticated, "noise record failed authentication"));
  }
  return {};
}

Result<void> RecordReader::Feed(std::span<const uint8_t> data, Bytes& plaintext) {
  if (failed_) return MakeError(Errc::kFailedPrecondition, "noise stream already failed");
  // Finish a buffered record first, taking only the bytes it needs.
  while (!partial_.empty() && !data.empty()) {
    size_t want = kRecordHeaderSize;
    if (partial_.size() >= kRecordHeaderSize) {
      auto size = RecordSize(partial_);
      if (!size) return size.error();
      want = *size;
    }
    size_t take = std::min(want - partial_.size(), data.size());
    partial_.insert(partial_.end(), data.begin(), data.begin() + take);
    data = data.subspan(take);
    if (partial_.size() == want && want > kRecordHeaderSize) {
      KEEL_TRY(Open(partial_, plaintext));
      partial_.clear();
    }
  }
  // Whole records straight from the input, no copy.
  while (data.size() >= kRecordHeaderSize) {
    auto size = RecordSize(data);
    if (!size) return size.error();
    if (data.size() < *size) break;
    KEEL_TRY(Open(data.first(*size), plaintext));
    data = data.subspan(*size);
  }
  partial_.insert(partial_.end(), data.begin(), data.end());
  return {};
}

}  // namespace keel::noise
