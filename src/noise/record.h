#pragma once
// TS2021 transport records (transport.md §3.5) without I/O: sealing plaintext into records and
// a streaming parser that opens records from bytes cut anywhere. One RecordWriter and one
// RecordReader per direction; neither is thread-safe.

#include <cstdint>
#include <span>

#include "base/bytes.h"
#include "base/result.h"
#include "crypto/aead.h"
#include "crypto/keys.h"

namespace keel::noise {

inline constexpr uint8_t kRecordType = 0x04;
inline constexpr size_t kRecordHeaderSize = 3;
inline constexpr size_t kMaxRecordSize = 4096;
inline constexpr size_t kMaxCiphertextSize = kMaxRecordSize - kRecordHeaderSize;       // 4093
inline constexpr size_t kMaxPlaintextSize = kMaxCiphertextSize - crypto::kAeadTagSize;  // 4077

// Tailscale puts the counter big-endian in the last 8 nonce bytes; the Noise spec (and
// generic engines) little-endian. Only the spec form exists for tests against such engines.
enum class NonceOrder { kBigEndian, kSpecLittleEndian };
crypto::AeadNonce RecordNonce(uint64_t counter, NonceOrder order = NonceOrder::kBigEndian);

// Seals plaintext into records under consecutive nonces.
class RecordWriter {
 public:
  explicit RecordWriter(const crypto::Key32& key) : key_(key) {}

  // Bytes that Append adds for `plaintext_size` bytes of plaintext.
  static size_t SealedSize(size_t plaintext_size);
  // Appends the records for `plaintext` to `out`, cut at kMaxPlaintextSize; an empty plaintext
  // gives one empty record. Fails only when the nonce space is exhausted.
  Result<void> Append(std::span<const uint8_t> plaintext, Bytes& out);

  uint64_t counter() const { return counter_; }

 private:
  crypto::Key32 key_;
  uint64_t counter_ = 0;
};

// Opens records from a byte stream; records may straddle calls and several may share one.
// After any error the reader stays failed.
class RecordReader {
 public:
  explicit RecordReader(const crypto::Key32& key) : key_(key) {}

  // Consumes all of `data`, appending the plaintext of each complete record to `plaintext`
  // (empty records add nothing). A partial record is kept for the next call.
  Result<void> Feed(std::span<const uint8_t> data, Bytes& plaintext);

  // True while bytes of an incomplete record are buffered (an EOF now would cut a record).
  bool HasPartialRecord() const { return !partial_.empty(); }
  bool failed() const { return failed_; }
  uint64_t counter() const { return counter_; }

 private:
  // Checks a header and returns the whole record's size.
  Result<size_t> RecordSize(std::span<const uint8_t> header);
  Result<void> Open(std::span<const uint8_t> record, Bytes& plaintext);
  Error Fail(Error error);

  crypto::Key32 key_;
  uint64_t counter_ = 0;
  Bytes partial_;
  bool failed_ = false;
};

}  // namespace keel::noise
