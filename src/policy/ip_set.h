#pragma once
// IP addresses, ranges and sets for the policy compiler (IPv4 and IPv6 in one type).
//
// An IpSet is a sorted list of disjoint, non-adjacent ranges; it is the form every alias
// resolves to, so containment and overlap are binary searches. Values only; no shared state,
// safe to use from any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::policy {

using U128 = unsigned __int128;

struct IpAddr {
  bool v6 = false;
  U128 value = 0;  // IPv4 in the low 32 bits

  friend auto operator<=>(const IpAddr&, const IpAddr&) = default;
  std::string ToString() const;
  int Bits() const { return v6 ? 128 : 32; }
};

struct IpRange {
  IpAddr first;
  IpAddr last;
  friend bool operator==(const IpRange&, const IpRange&) = default;
  bool Contains(const IpAddr& a) const { return !(a < first) && !(last < a); }
  // Tailscale's textual form: a single address bare, a CIDR where exact, "a-b" otherwise.
  std::string ToString() const;
  // "addr/bits" of a range that is exactly one prefix (a single address gets /32 or /128).
  std::string CidrString() const;
};

std::optional<IpAddr> ParseIpAddr(std::string_view text);
// Accepts "a.b.c.d", "a.b.c.d/n", "x::y" and "x::y/n". The prefix may have host bits set
// (they are masked off), as Tailscale's control plane accepts.
std::optional<IpRange> ParseIpPrefix(std::string_view text);
// ParseIpPrefix, and also "a-b" ranges (as filter SrcIPs may hold).
std::optional<IpRange> ParseIpRange(std::string_view text);
IpRange PrefixRange(IpAddr addr, int bits);

class IpSet {
 public:
  IpSet() = default;
  static IpSet Of(std::initializer_list<std::string_view> prefixes);
  static IpSet All();  // 0.0.0.0/0 and ::/0
  // Builds a set from unordered ranges in O(n log n) (Add is linear per call).
  static IpSet FromRanges(std::vector<IpRange> ranges);

  void Add(const IpRange& r);
  void Add(const IpAddr& a) { Add(IpRange{a, a}); }
  void AddSet(const IpSet& other);
  void Remove(const IpRange& r);

  bool Empty() const { return ranges_.empty(); }
  bool Contains(const IpAddr& a) const;
  bool Overlaps(const IpRange& r) const;
  bool Overlaps(const IpSet& other) const;
  bool ContainsRange(const IpRange& r) const;
  bool SubsetOf(const IpSet& other) const;
  const std::vector<IpRange>& Ranges() const { return ranges_; }
  // Each range's IpRange::ToString, sorted as text: the order Tailscale sends SrcIPs in.
  std::vector<std::string> Strings() const;
  // The set as the fewest CIDR prefixes.
  std::vector<IpRange> Prefixes() const;
  std::vector<std::string> PrefixStrings() const;
  friend bool operator==(const IpSet&, const IpSet&) = default;

 private:
  std::vector<IpRange> ranges_;
};

// Addresses a tailnet can hold (100.64.0.0/10 minus ChromeOS VMs, and fd7a:115c:a1e0::/48):
// what "*" means as a source.
const IpSet& TailnetAddressSpace();
// Public address space: what autogroup:internet and exit nodes stand for.
const IpSet& InternetSet();
bool IsExitRoute(const IpRange& r);

}  // namespace keel::policy
