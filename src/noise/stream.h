#pragma once
// NoiseStream: the TS2021 transport phase (transport.md §3.5) as a ByteStream.
//
// Plaintext written is cut into records of at most 4077 bytes, each sealed with
// ChaCha20-Poly1305 under a big-endian 64-bit counter nonce; records read are opened the same
// way. Any record error (bad tag, wrong type, oversize length) fails the read and poisons the
// stream. The 4 KiB read buffer is allocated on first use: most control connections sit
// idle in a long poll. Call only on the inner stream's executor.

#include <memory>

#include "base/byte_stream.h"
#include "noise/handshake.h"

namespace keel::noise {

class NoiseStream final : public ByteStream {
 public:
  // `raw_prefix` (e.g. the 51-byte handshake response) is written unencrypted ahead of the
  // first write, so response and early payload leave in one segment (the "cork").
  NoiseStream(std::unique_ptr<ByteStream> inner, const CipherKeys& keys, Bytes raw_prefix = {});
  ~NoiseStream() override;

  boost::asio::awaitable<Result<size_t>> ReadSome(std::span<uint8_t> out) override;
  boost::asio::awaitable<Result<void>> WriteAll(std::span<const uint8_t> data) override;
  void Close() override;
  boost::asio::any_io_executor executor() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The early payload (transport.md §2.4): magic, big-endian length, JSON. Send it only when the
// client's protocol version is ≥ 49.
Bytes EarlyPayload(const crypto::ChallengePublic& challenge);

}  // namespace keel::noise
