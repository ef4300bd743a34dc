#include "policy/ip_set.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace keel::policy {
namespace {

U128 Mask(int host_bits) {
  if (host_bits >= 128) return ~U128{0};
  return (U128{1} << host_bits) - 1;
}

bool Adjacent(const IpAddr& a, const IpAddr& b) {  // b == a + 1
  return a.v6 == b.v6 && a.value != Mask(a.Bits()) && a.value + 1 == b.value;
}

std::string RangeString(const IpRange& r, bool allow_range) {
  if (r.first == r.last) return r.first.ToString();
  U128 span = r.last.value - r.first.value;
  int bits = r.first.Bits();
  for (int host = 0; host <= bits; ++host) {
    if (span == Mask(host) && (r.first.value & Mask(host)) == 0) {
      return r.first.ToString() + "/" + std::to_string(bits - host);
    }
  }
  if (!allow_range) return {};
  return r.first.ToString() + "-" + r.last.ToString();
}

}  // namespace

std::string IpAddr::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  if (!v6) {
    uint32_t v = htonl(static_cast<uint32_t>(value));
    inet_ntop(AF_INET, &v, buf, sizeof buf);
  } else {
    unsigned char b[16];
    for (int i = 0; i < 16; ++i) b[i] = static_cast<unsigned char>(value >> (8 * (15 - i)));
    inet_ntop(AF_INET6, b, buf, sizeof buf);
  }
  return buf;
}

std::optional<IpAddr> ParseIpAddr(std::string_view text) {
  std::string s(text);
  if (s.find(':') == std::string::npos) {
    in_addr a{};
    if (inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
    return IpAddr{false, ntohl(a.s_addr)};
  }
  if (s.find('%') != std::string::npos) return std::nullopt;
  unsigned char b[16];
  if (inet_pton(AF_INET6, s.c_str(), b) != 1) return std::nullopt;
  U128 v = 0;
  for (unsigned char c : b) v = (v << 8) | c;
  return IpAddr{true, v};
}

IpRange PrefixRange(IpAddr addr, int bits) {
  U128 host = Mask(addr.Bits() - bits);
  if (addr.Bits() - bits >= 128) host = ~U128{0};
  IpAddr lo{addr.v6, addr.value & ~host & Mask(addr.Bits())};
  IpAddr hi{addr.v6, lo.value | host};
  return {lo, hi};
}

std::optional<IpRange> ParseIpRange(std::string_view text) {
  if (auto dash = text.find('-'); dash != std::string_view::npos) {
    auto a = ParseIpAddr(text.substr(0, dash));
    auto b = ParseIpAddr(text.substr(dash + 1));
    if (!a || !b || a->v6 != b->v6 || *b < *a) return std::nullopt;
    return IpRange{*a, *b};
  }
  auto slash = text.find('/');
  auto addr = ParseIpAddr(text.substr(0, slash));
  if (!addr) return std::nullopt;
  if (slash == std::string_view::npos) return IpRange{*addr, *addr};
  std::string_view bits_text = text.substr(slash + 1);
  if (bits_text.empty() || bits_text.size() > 3) return std::nullopt;
  int bits = 0;
  for (char c : bits_text) {
    if (c < '0' || c > '9') return std::nullopt;
    bits = bits * 10 + (c - '0');
  }
  if (bits > addr->Bits()) return std::nullopt;
  return PrefixRange(*addr, bits);
}

IpSet IpSet::Of(std::initializer_list<std::string_view> prefixes) {
  IpSet s;
  for (auto p : prefixes) s.Add(*ParseIpRange(p));
  return s;
}

IpSet IpSet::FromRanges(std::vector<IpRange> ranges) {
  std::sort(ranges.begin(), ranges.end(), [](const IpRange& a, const IpRange& b) { return a.first < b.first; });
  IpSet s;
  for (const auto& r : ranges) {
    if (!s.ranges_.empty()) {
      IpRange& back = s.ranges_.back();
      if (back.first.v6 == r.first.v6 && (!(back.last < r.first) || Adjacent(back.last, r.first))) {
        if (back.last < r.last) back.last = r.last;
        continue;
      }
    }
    s.ranges_.push_back(r);
  }
  return s;
}

IpSet IpSet::All() { return Of({"0.0.0.0/0", "::/0"}); }

void IpSet::Add(const IpRange& r) {
  std::vector<IpRange> out;
  out.reserve(ranges_.size() + 1);
  IpRange cur = r;
  bool placed = false;
  for (const auto& x : ranges_) {
    if (placed || x.last < cur.first) {
      if (!placed && Adjacent(x.last, cur.first)) {
        cur.first = x.first;
        continue;
      }
      out.push_back(x);
      continue;
    }
    if (cur.last < x.first && !Adjacent(cur.last, x.first)) {
      out.push_back(cur);
      out.push_back(x);
      placed = true;
      continue;
    }
    cur.first = std::min(cur.first, x.first);
    cur.last = std::max(cur.last, x.last);
  }
  if (!placed) out.push_back(cur);
  ranges_ = std::move(out);
}

void IpSet::AddSet(const IpSet& other) {
  if (ranges_.empty()) {
    ranges_ = other.ranges_;
    return;
  }
  for (const auto& r : other.ranges_) Add(r);
}

void IpSet::Remove(const IpRange& r) {
  std::vector<IpRange> out;
  for (const auto& x : ranges_) {
    if (x.last < r.first || r.last < x.first) {
      out.push_back(x);
      continue;
    }
    if (x.first < r.first) out.push_back({x.first, IpAddr{x.first.v6, r.first.value - 1}});
    if (r.last < x.last) out.push_back({IpAddr{x.first.v6, r.last.value + 1}, x.last});
  }
  ranges_ = std::move(out);
}

bool IpSet::Contains(const IpAddr& a) const { return ContainsRange({a, a}); }

bool IpSet::ContainsRange(const IpRange& r) const {
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), r.first,
                             [](const IpAddr& v, const IpRange& x) { return v < x.first; });
  if (it == ranges_.begin()) return false;
  --it;
  return !(it->last < r.last);
}

bool IpSet::Overlaps(const IpRange& r) const {
  auto it = std::lower_bound(ranges_.begin(), ranges_.end(), r.first,
                             [](const IpRange& x, const IpAddr& v) { return x.last < v; });
  return it != ranges_.end() && !(r.last < it->first);
}

bool IpSet::Overlaps(const IpSet& other) const {
  for (const auto& r : other.ranges_) {
    if (Overlaps(r)) return true;
  }
  return false;
}

bool IpSet::SubsetOf(const IpSet& other) const {
  for (const auto& r : ranges_) {
    if (!other.ContainsRange(r)) return false;
  }
  return true;
}

std::vector<std::string> IpSet::Strings() const {
  std::vector<std::string> out;
  for (const auto& r : ranges_) out.push_back(RangeString(r, true));
  return out;
}

std::vector<std::string> IpSet::PrefixStrings() const {
  std::vector<std::string> out;
  for (const auto& r : ranges_) {
    U128 lo = r.first.value;
    const int bits = r.first.Bits();
    while (true) {
      int host = 0;
      while (host < bits && (lo & Mask(host + 1)) == 0 && lo + Mask(host + 1) <= r.last.value &&
             lo + Mask(host + 1) >= lo) {
        ++host;
      }
      out.push_back(IpAddr{r.first.v6, lo}.ToString() + "/" + std::to_string(bits - host));
      U128 end = lo + Mask(host);
      if (end >= r.last.value) break;
      lo = end + 1;
    }
  }
  return out;
}

const IpSet& TailnetAddressSpace() {
  static const IpSet kSet = [] {
    IpSet s = IpSet::Of({"100.64.0.0/10", "fd7a:115c:a1e0::/48"});
    s.Remove(*ParseIpRange("100.115.92.0/23"));
    return s;
  }();
  return kSet;
}

const IpSet& InternetSet() {
  static const IpSet kSet = [] {
    IpSet s = IpSet::Of({"0.0.0.0/0", "2000::/3"});
    for (auto p : {"fc00::/7", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                   "fd7a:115c:a1e0::/48", "100.64.0.0/10", "fe80::/10", "169.254.0.0/16"}) {
      s.Remove(*ParseIpRange(p));
    }
    return s;
  }();
  return kSet;
}

bool IsExitRoute(const IpRange& r) {
  return r.first.value == 0 && r.last.value == Mask(r.first.Bits());
}

}  // namespace keel::policy
