#pragma once
// Test-only access to the repository's testdata/ folder (testdata/README.md): every file a test
// reads comes from there, and a file that is missing fails the test with its name and how to
// restore it, never with a bare "cannot open".

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace keel::testing {

// testdata/ inside the source tree (set by the build as KEEL_TESTDATA_DIR).
std::filesystem::path TestDataDir();

// The contents of testdata/<relative>. `foo.json` is also found as `foo.json.zst`, which is
// decompressed in memory. Throws std::runtime_error naming the file when neither exists.
std::string ReadTestData(std::string_view relative);

// ReadTestData, parsed as JSON.
nlohmann::json ReadTestJson(std::string_view relative);

// The files under testdata/<relative_dir> whose names end in `suffix` (or `suffix.zst`), as
// paths relative to testdata/ with any `.zst` removed, sorted; ready for ReadTestData. Throws
// when the folder is missing or holds no such file.
std::vector<std::string> ListTestData(std::string_view relative_dir, std::string_view suffix);

}  // namespace keel::testing
