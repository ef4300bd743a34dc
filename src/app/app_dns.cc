// App's DNS settings: dns.* from the config, the records of dns.extra_records_path (watched, so
// an edited file reaches clients without a restart), and the dns section re-read on SIGHUP.

#include <filesystem>

#include "app/app.h"
#include "app/file_watch.h"
#include "base/file.h"
#include "control/server.h"

namespace keel::app {

control::DnsSettings App::DnsSettingsNow() const {
  const config::DnsConfig& c = config_.dns;
  control::DnsSettings s;
  s.magic_dns = c.magic_dns;
  s.override_local_dns = c.override_local_dns;
  s.nameservers = c.nameservers_global;
  s.split = c.nameservers_split;
  s.search_domains = c.search_domains;
  for (const auto* list : {&c.extra_records, &file_records_}) {
    for (const auto& r : *list) s.extra_records.push_back({r.name, r.type, r.value});
  }
  return s;
}

Result<void> App::LoadExtraRecords() {
  const std::string& path = config_.dns.extra_records_path;
  if (path.empty()) return {};
  if (!std::filesystem::exists(path)) {
    logger_->warn("dns.extra_records_path {} does not exist yet; its records are added when it "
                  "is written", path);
    file_records_.clear();
    return {};
  }
  auto text = ReadFileText(path);
  if (!text) return MakeError(text.error().code, "dns.extra_records_path: " + text.error().message);
  auto records = config::ParseExtraRecordsJson(*text);
  if (!records) {
    return MakeError(records.error().code, "dns.extra_records_path " + path + ": " +
                                               records.error().message);
  }
  file_records_ = std::move(*records);
  return {};
}

Result<void> App::WatchExtraRecords() {
  const std::string& path = config_.dns.extra_records_path;
  if (path.empty()) return {};
  auto watch = FileWatch::Create(io_.get_executor(), path, [this] {
    auto before = file_records_;
    if (auto r = LoadExtraRecords(); !r) {
      logger_->error("{}; the old records stay", r.error().message);
      return;
    }
    if (file_records_ == before) return;
    logger_->info("dns.extra_records_path changed: {} records; pushing them to connected nodes",
                  file_records_.size());
    control_->SetDns(DnsSettingsNow());
  });
  if (!watch) return MakeError(watch.error().code, "dns.extra_records_path: " + watch.error().message);
  records_watch_ = std::move(*watch);
  return {};
}

Result<void> App::ReloadDns() {
  if (options_.config_path.empty()) return {};
  auto fresh = config::LoadConfig(options_.config_path);
  if (!fresh) return fresh.error();
  if (fresh->dns.base_domain != config_.dns.base_domain) {
    logger_->warn("SIGHUP: dns.base_domain changed; it names every node and takes effect only "
                  "after a restart");
    fresh->dns.base_domain = config_.dns.base_domain;
  }
  bool path_changed = fresh->dns.extra_records_path != config_.dns.extra_records_path;
  auto before = DnsSettingsNow();
  config::DnsConfig old = config_.dns;
  config_.dns = fresh->dns;
  if (path_changed) {
    auto loaded = LoadExtraRecords();
    if (loaded) loaded = WatchExtraRecords();
    if (!loaded) {
      config_.dns = old;
      return loaded.error();
    }
  }
  if (DnsSettingsNow() == before) return {};
  logger_->info("SIGHUP: DNS settings changed; pushing them to connected nodes");
  control_->SetDns(DnsSettingsNow());
  return {};
}

}  // namespace keel::app
