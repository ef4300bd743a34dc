// Fuzzes the config readers: ParseConfig (YAML through yaml-cpp, then keel's walk over known
// keys, Headscale compatibility keys and validation), ParseExtraRecordsJson (the
// dns.extra_records_path file, re-read while keel runs) and ParseListenAddress. The
// environment lookup returns nothing, so a run depends on the input alone. Every input is
// given to all three readers: YAML is a superset of JSON, and each reader must turn anything
// it does not understand into an error.
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"

namespace {

std::optional<std::string> NoEnvironment(const std::string&) { return std::nullopt; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = keel::config::ParseConfig(text, NoEnvironment);
  if (!config && config.error().message.empty()) __builtin_trap();  // errors say what is wrong
  auto records = keel::config::ParseExtraRecordsJson(text);
  if (!records && records.error().message.empty()) __builtin_trap();
  (void)keel::config::ParseListenAddress(text);
  return 0;
}
