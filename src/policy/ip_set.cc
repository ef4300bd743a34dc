#include "policy/ip_set.h"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <charconv>

namespace keel::policy {
namespace {

namespace ip = boost::asio::ip;

U128 Mask(int host_bits) {
  if (host_bits >= 128) return ~U128{0};
  return (U128{1} << host_bits) - 1;
}

bool Adjacent(const IpAddr& a, const IpAddr& b) {  // b == a + 1
  return a.v6 == b.v6 && a.value != Mask(a.Bits()) && a.value + 1 == b.value;
}

// Host bits of the range when it is exactly one prefix, else -1.
int PrefixHostBits(const IpRange& r) {
  U128 span = r.last.value - r.first.value;
  for (int host = 0; host <= r.first.Bits(); ++host) {
    if (span == Mask(host) && (r.first.value & Mask(host)) == 0) return host;
  }
  return -1;
}

}  // namespace

std::string IpAddr::ToString() const {
  if (!v6) return ip::address_v4(static_cast<uint32_t>(value)).to_string();
  ip::address_v6::bytes_type b;
  for (int i = 0; i < 16; ++i) b[i] = static_cast<unsigned char>(value >> (8 * (15 - i)));
  return ip::address_v6(b).to_string();
}

std::string IpRange::ToString() const {
  if (first == last) return first.ToString();
  int host = PrefixHostBits(*this);
  if (host >= 0) return first.ToString() + "/" + std::to_string(first.Bits() - host);
  return first.ToString() + "-" + last.ToString();
}

std::string IpRange::CidrString() const {
  return first.ToString() + "/" + std::to_string(first.Bits() - PrefixHostBits(*this));
}

std::optional<IpAddr> ParseIpAddr(std::string_view text) {
  if (text.find('%') != std::string_view::npos) return std::nullopt;  // no zone ids
  boost::system::error_code ec;
  ip::address a = ip::make_address(text, ec);
  if (ec) return std::nullopt;
  if (a.is_v4()) return IpAddr{false, a.to_v4().to_uint()};
  U128 v = 0;
  for (unsigned char c : a.to_v6().to_bytes()) v = (v << 8) | c;
  return IpAddr{true, v};
}

IpRange PrefixRange(IpAddr addr, int bits) {
  U128 host = Mask(addr.Bits() - bits);
  IpAddr lo{addr.v6, addr.value & ~host & Mask(addr.Bits())};
  IpAddr hi{addr.v6, lo.value | host};
  return {lo, hi};
}

std::optional<IpRange> ParseIpPrefix(std::string_view text) {
  auto slash = text.find('/');
  auto addr = ParseIpAddr(text.substr(0, slash));
  if (!addr) return std::nullopt;
  if (slash == std::string_view::npos) return IpRange{*addr, *addr};
  std::string_view bits_text = text.substr(slash + 1);
  unsigned bits = 0;
  auto [end, err] = std::from_chars(bits_text.data(), bits_text.data() + bits_text.size(), bits);
  if (bits_text.empty() || bits_text.size() > 3 || err != std::errc() ||
      end != bits_text.data() + bits_text.size() || bits > static_cast<unsigned>(addr->Bits())) {
    return std::nullopt;
  }
  return PrefixRange(*addr, static_cast<int>(bits));
}

std::optional<IpRange> ParseIpRange(std::string_view text) {
  auto dash = text.find('-');
  if (dash == std::string_view::npos) return ParseIpPrefix(text);
  auto a = ParseIpAddr(text.substr(0, dash));
  auto b = ParseIpAddr(text.substr(dash + 1));
  if (!a || !b || a->v6 != b->v6 || *b < *a) return std::nullopt;
  return IpRange{*a, *b};
}

IpSet IpSet::Of(std::initializer_list<std::string_view> prefixes) {
  IpSet s;
  for (auto p : prefixes) s.Add(*ParseIpPrefix(p));
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
  if (other.ranges_.empty()) return;
  // One sort-and-merge instead of a linear Add per range.
  std::vector<IpRange> all = ranges_;
  all.insert(all.end(), other.ranges_.begin(), other.ranges_.end());
  *this = FromRanges(std::move(all));
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
  // Walk the smaller set and search the larger: a node's two addresses against a rule's
  // thousands of ranges costs two searches, not a pass over the thousands.
  const IpSet& small = ranges_.size() < other.ranges_.size() ? *this : other;
  const IpSet& large = &small == this ? other : *this;
  for (const auto& r : small.ranges_) {
    if (large.Overlaps(r)) return true;
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
  for (const auto& r : ranges_) out.push_back(r.ToString());
  // Tailscale's control plane sends SrcIPs sorted as text ("100.112…" before "100.93…").
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> IpSet::PrefixStrings() const {
  std::vector<std::string> out;
  for (const auto& p : Prefixes()) out.push_back(p.CidrString());
  return out;
}

std::vector<IpRange> IpSet::Prefixes() const {
  std::vector<IpRange> out;
  for (const auto& r : ranges_) {
    U128 lo = r.first.value;
    const int bits = r.first.Bits();
    while (true) {
      int host = 0;
      while (host < bits && (lo & Mask(host + 1)) == 0 && lo + Mask(host + 1) <= r.last.value &&
             lo + Mask(host + 1) >= lo) {
        ++host;
      }
      U128 end = lo + Mask(host);
      out.push_back({IpAddr{r.first.v6, lo}, IpAddr{r.first.v6, end}});
      if (end >= r.last.value) break;
      lo = end + 1;
    }
  }
  return out;
}

const IpSet& TailnetAddressSpace() {
  static const IpSet kSet = [] {
    IpSet s = IpSet::Of({"100.64.0.0/10", "fd7a:115c:a1e0::/48"});
    s.Remove(*ParseIpPrefix("100.115.92.0/23"));
    return s;
  }();
  return kSet;
}

const IpSet& InternetSet() {
  static const IpSet kSet = [] {
    IpSet s = IpSet::Of({"0.0.0.0/0", "2000::/3"});
    for (auto p : {"fc00::/7", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                   "fd7a:115c:a1e0::/48", "100.64.0.0/10", "fe80::/10", "169.254.0.0/16"}) {
      s.Remove(*ParseIpPrefix(p));
    }
    return s;
  }();
  return kSet;
}

bool IsExitRoute(const IpRange& r) {
  return r.first.value == 0 && r.last.value == Mask(r.first.Bits());
}

}  // namespace keel::policy
