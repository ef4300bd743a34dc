#include "testing/testdata.h"

#include <zstd.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace keel::testing {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kZstdSuffix = ".zst";

std::runtime_error Missing(const fs::path& path) {
  return std::runtime_error(
      "test data file " + path.string() + " is missing. It ships with the repository " +
      "(testdata/README.md): restore it with `git checkout -- testdata` or take a fresh " +
      "`git clone`");
}

std::string ReadWhole(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Missing(path);
  std::ostringstream out;
  out << in.rdbuf();
  return std::move(out).str();
}

// Streaming, so frames written without a content size (zstd's own CLI on a pipe) decode too.
std::string Decompress(const std::string& compressed, const fs::path& path) {
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> ctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  std::string out;
  std::string chunk(ZSTD_DStreamOutSize(), '\0');
  ZSTD_inBuffer in{compressed.data(), compressed.size(), 0};
  size_t last = 0;
  while (in.pos < in.size) {
    ZSTD_outBuffer o{chunk.data(), chunk.size(), 0};
    last = ZSTD_decompressStream(ctx.get(), &o, &in);
    if (ZSTD_isError(last)) {
      throw std::runtime_error("test data file " + path.string() + " is not valid zstd: " +
                               ZSTD_getErrorName(last));
    }
    out.append(chunk.data(), o.pos);
  }
  if (last != 0) throw std::runtime_error("test data file " + path.string() + " is truncated");
  return out;
}

}  // namespace

fs::path TestDataDir() { return fs::path(KEEL_TESTDATA_DIR); }

std::string ReadTestData(std::string_view relative) {
  fs::path plain = TestDataDir() / relative;
  if (fs::exists(plain)) return ReadWhole(plain);
  fs::path packed = plain;
  packed += kZstdSuffix;
  if (fs::exists(packed)) return Decompress(ReadWhole(packed), packed);
  throw Missing(plain);
}

nlohmann::json ReadTestJson(std::string_view relative) {
  std::string text = ReadTestData(relative);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error("test data file testdata/" + std::string(relative) +
                             " is not valid JSON: " + e.what());
  }
}

std::vector<std::string> ListTestData(std::string_view relative_dir, std::string_view suffix) {
  fs::path dir = TestDataDir() / relative_dir;
  if (!fs::is_directory(dir)) throw Missing(dir);
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::string rel = fs::relative(e.path(), TestDataDir()).string();
    if (rel.ends_with(kZstdSuffix)) rel.resize(rel.size() - kZstdSuffix.size());
    if (rel.ends_with(suffix)) out.push_back(std::move(rel));
  }
  if (out.empty()) throw Missing(dir / ("*" + std::string(suffix)));
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace keel::testing
