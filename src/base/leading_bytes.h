#pragma once
// LeadingBytes: bytes a stream hands out before reading its transport — what an HTTP parser
// had already read past the request when the connection changed protocol. Single-threaded.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

namespace keel {

class LeadingBytes {
 public:
  explicit LeadingBytes(std::string bytes = {}) : bytes_(std::move(bytes)) {}

  bool empty() const { return pos_ == bytes_.size(); }
  // Copies as much as fits into `out`; the storage is released once all is taken.
  size_t Take(std::span<uint8_t> out) {
    size_t n = std::min(out.size(), bytes_.size() - pos_);
    std::memcpy(out.data(), bytes_.data() + pos_, n);
    pos_ += n;
    if (empty()) {
      std::string().swap(bytes_);
      pos_ = 0;
    }
    return n;
  }

 private:
  std::string bytes_;
  size_t pos_ = 0;
};

}  // namespace keel
