#pragma once
// Structure-aware mutation for the JSON-family fuzz targets (client requests, HuJSON policies,
// admin API bodies). Byte flips rarely keep JSON valid, so they stop at the tokenizer; this
// parses the input, changes the tree (values of other types, strings the parsers treat
// specially, keys deleted, added or copied, subtrees nested or spliced) and writes it back, so
// the mutation lands in the code that reads fields. Inputs that are not JSON, and a share of
// the rest, go to libFuzzer's own byte mutator so the tokenizer is still fuzzed.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace keel::fuzz {

struct JsonMutatorOptions {
  // Leading bytes that are not JSON (a mode or topology header): flipped now and then, never
  // parsed.
  size_t header_size = 0;
  // The text is HuJSON: parsed with keel's HuJSON reader and sometimes written back with
  // comments and trailing commas.
  bool hujson = false;
  // Field names the target reads, used as keys of inserted members and as strings.
  std::span<const std::string_view> keys;
};

// One structural mutation of `text`; nullopt when `text` does not parse.
std::optional<std::string> MutateJsonText(std::string_view text, const JsonMutatorOptions& options,
                                          uint32_t seed);

// The body of LLVMFuzzerCustomMutator for a target whose input is header + JSON text.
size_t MutateJsonInput(uint8_t* data, size_t size, size_t max_size, unsigned seed,
                       const JsonMutatorOptions& options);

}  // namespace keel::fuzz
