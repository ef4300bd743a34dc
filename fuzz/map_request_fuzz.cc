// Fuzzes DecodeMapRequest: every MapRequest body a client sends reaches
// DecodeMapRequest before anything checks who sent it. Success or a named error; never a
// crash, and a decoded request re-serialises its Hostinfo as JSON.
#include <nlohmann/json.hpp>
#include <string_view>

#include "json_mutator.h"
#include "request_keys.h"
#include "tailcfg/requests.h"

namespace {

const keel::fuzz::JsonMutatorOptions kMutator{.keys = keel::fuzz::kRequestKeys};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto req = keel::tailcfg::DecodeMapRequest(body);
  if (!req) {
    if (req.error().message.empty()) __builtin_trap();  // errors must name the field
    return 0;
  }
  // A kept Hostinfo must be an object keel can parse again.
  if (req->hostinfo_json) {
    auto hostinfo = nlohmann::json::parse(*req->hostinfo_json, nullptr, false);
    if (!hostinfo.is_object()) __builtin_trap();
  }
  return 0;
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned seed) {
  return keel::fuzz::MutateJsonInput(data, size, max_size, seed, kMutator);
}
