#pragma once
// The tailnet shape the policy benchmarks share: node addresses and a realistic policy with
// 20 groups, 30 tags and 200 ACL rules naming users, groups, tags and hosts.

#include <string>

namespace keel::policy {

inline std::string Ip4(int i) { return "100.64." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1); }

inline std::string PolicyText(int users) {
  std::string groups, tags, acls;
  for (int g = 0; g < 20; ++g) {
    groups += (g ? "," : "") + std::string("\"group:g") + std::to_string(g) + "\": [";
    for (int u = g; u < users; u += 20) groups += (u != g ? "," : "") + std::string("\"u") + std::to_string(u) + "@x.com\"";
    groups += "]";
  }
  for (int t = 0; t < 30; ++t) tags += (t ? "," : "") + std::string("\"tag:t") + std::to_string(t) + "\": []";
  for (int r = 0; r < 200; ++r) {
    std::string src = r % 3 == 0 ? "group:g" + std::to_string(r % 20) : r % 3 == 1 ? "tag:t" + std::to_string(r % 30)
                                                                                   : "u" + std::to_string(r % users) + "@x.com";
    std::string dst = r % 4 == 0 ? "tag:t" + std::to_string((r + 7) % 30) + ":22,443"
                                 : r % 4 == 1 ? "group:g" + std::to_string((r + 3) % 20) + ":80"
                                 : r % 4 == 2 ? "internal:*" : "autogroup:self:*";
    if (dst.starts_with("autogroup:self") && src.starts_with("tag:")) dst = "internal:*";
    acls += (r ? "," : "") + std::string("{\"action\":\"accept\",\"src\":[\"") + src + "\"],\"dst\":[\"" + dst + "\"]}";
  }
  return "{\"groups\":{" + groups + "},\"tagOwners\":{" + tags + "},\"hosts\":{\"internal\":\"10.0.0.0/8\"},\"acls\":[" +
         acls + "]}";
}

}  // namespace keel::policy
