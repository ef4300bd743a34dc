// dns.extra_records and the extra_records_path file: checking records and reading the file.

#include <boost/asio/ip/address.hpp>
#include <nlohmann/json.hpp>

#include "config/config.h"

namespace keel::config {

std::string CheckDnsRecord(const DnsRecord& r) {
  if (r.name.empty()) return "a record needs a name";
  if (r.type != "A" && r.type != "AAAA") {
    return "record " + r.name + ": type \"" + r.type + "\" is not supported (A, AAAA)";
  }
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(r.value, ec);
  if (ec || addr.is_v4() != (r.type == "A")) {
    return "record " + r.name + ": \"" + r.value + "\" is not an " +
           (r.type == "A" ? "IPv4" : "IPv6") + " address";
  }
  return "";
}

Result<std::vector<DnsRecord>> ParseExtraRecordsJson(std::string_view text) {
  auto doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return MakeError(Errc::kInvalidArgument, "not valid JSON");
  if (!doc.is_array()) {
    return MakeError(Errc::kInvalidArgument, "expected a JSON array of {name, type, value}");
  }
  std::vector<DnsRecord> out;
  for (const auto& item : doc) {
    auto field = [&](const char* key) -> std::string {
      auto it = item.is_object() ? item.find(key) : item.end();
      return it != item.end() && it->is_string() ? it->get<std::string>() : "";
    };
    DnsRecord r{field("name"), field("type"), field("value")};
    if (std::string why = CheckDnsRecord(r); !why.empty()) {
      return MakeError(Errc::kInvalidArgument, "record " + std::to_string(out.size() + 1) + ": " + why);
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace keel::config
