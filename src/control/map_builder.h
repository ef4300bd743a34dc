#pragma once
// MapResponse assembly (control.md §2.5-§2.7, architecture.md decisions 3 and 4).
//
// With a policy in the snapshot a viewer gets only the peers the compiled policy lets it see,
// its own PacketFilters and SSHPolicy; PeerView remembers what a session was last sent so a
// delta can add newly visible peers, remove hidden ones and resend a changed filter.
// A node as its peers see it is rendered once per (node id, version, online, expired) into a
// JSON fragment held by PeerCache, and likewise its PeersChangedPatch entry once per (node id,
// version, pending flags); full maps and deltas are assembled by
// concatenating those fragments around a per-viewer head (ControlTime, self Node) and the
// shared static fields (DERP map, DNS) rendered once per configuration; the packet filter and
// SSH policy come from the viewer's PeerView, which a delta recomputes only when the new
// compile touched the viewer (policy::CompiledPolicy::ViewUnchangedSince).
// Threading: PeerCache has no lock; use it from one thread (the I/O thread). The free
// functions are pure.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "tailcfg/encode.h"
#include "policy/compiler.h"
#include "tailnet/change.h"
#include "tailnet/snapshot.h"

namespace keel::control {

// The DNS clients are told to use (Headscale's dns.* keys); may change while keel runs.
struct DnsSettings {
  bool magic_dns = true;
  // The global nameservers replace the client's own DNS (Resolvers); off, they serve only
  // when the client has none (FallbackResolvers).
  bool override_local_dns = true;
  std::vector<std::string> nameservers;                   // dns.nameservers.global
  std::map<std::string, std::vector<std::string>> split;  // dns.nameservers.split
  std::vector<std::string> search_domains;
  std::vector<tailcfg::DnsRecord> extra_records;  // dns.extra_records and extra_records_path
  friend bool operator==(const DnsSettings&, const DnsSettings&) = default;
};

// Everything of a map that is the same for every viewer and changes only with configuration.
struct MapConfig {
  std::string domain;       // tailnet display name (host of server_url)
  std::string base_domain;  // MagicDNS suffix; empty: node names are bare labels
  DnsSettings dns;
  nlohmann::json derp_map = nlohmann::json::object();
};

// `"DERPMap":…,"Domain":…,"CollectServices":false,"Debug":…,"DNSConfig":…`
// without the surrounding braces, ready to be spliced into a full map.
std::string RenderStaticFields(const MapConfig& config);

tailcfg::DnsConfig MakeDnsConfig(const MapConfig& config);

// "<given_name>.<base_domain>." (or the bare label without a base domain).
std::string NodeFqdn(const std::string& given_name, const std::string& base_domain);

// The node as tailcfg.Node; `self` adds the self-only parts (CapMap).
tailcfg::Node ToWireNode(const model::Node& node, const std::string& base_domain, bool self,
                         SystemTime now);

tailcfg::UserProfile ToUserProfile(const model::User& user);

// The profile of model::kTaggedDevicesUserId, the owner clients are shown for tagged nodes.
tailcfg::UserProfile TaggedDevicesProfile();
// The user id clients are shown for `node`.
model::UserId WireOwner(const model::Node& node);

class PeerCache {
 public:
  explicit PeerCache(std::string base_domain) : base_domain_(std::move(base_domain)) {}

  // The peer-view JSON of `node`, rendered only if the cached one is stale.
  const std::string& Get(const model::Node& node, SystemTime now);
  // The PeersChangedPatch entry of `node` for PendingChanges `flags` (kPatched and/or kOnline):
  // the same for every viewer, so one change fanned out to every session renders it once.
  const std::string& Patch(const model::Node& node, uint8_t flags, SystemTime now);
  void Erase(model::NodeId id) {
    entries_.erase(id);
    patches_.erase(id);
  }
  void Clear() {
    entries_.clear();
    patches_.clear();
  }
  size_t size() const { return entries_.size(); }
  uint64_t renders() const { return renders_; }  // for tests and metrics

 private:
  struct Entry {
    uint64_t version = 0;
    bool online = false;
    bool expired = false;
    std::string json;
  };
  struct PatchEntry {
    uint64_t version = 0;
    uint8_t flags = 0;
    std::string json;
  };
  std::string base_domain_;
  std::unordered_map<model::NodeId, Entry> entries_;
  std::unordered_map<model::NodeId, PatchEntry> patches_;
  uint64_t renders_ = 0;
};

// A session's coalesced set of changes not yet sent.
class PendingChanges {
 public:
  enum Flag : uint8_t { kChanged = 1, kPatched = 2, kOnline = 4, kRemoved = 8 };

  void Merge(const tailnet::Changes& changes);
  void MarkFull() { full_ = true; }
  bool full() const { return full_; }
  bool empty() const { return !full_ && !policy_ && nodes_.empty(); }
  void Clear() {
    full_ = false;
    policy_ = false;
    nodes_.clear();
  }
  const std::map<model::NodeId, uint8_t>& nodes() const { return nodes_; }

 private:
  bool full_ = false;
  bool policy_ = false;  // the view is diffed against the snapshot's policy on every delta
  std::map<model::NodeId, uint8_t> nodes_;
};

// The policy-dependent part of what one viewer was sent.
struct PeerView {
  bool initialized = false;
  std::shared_ptr<const policy::CompiledPolicy> policy;  // null: no policy, everyone visible
  std::vector<model::NodeId> peers;  // sorted; meaningful only with a policy
  std::string filters;               // the PacketFilters object, rendered
  std::string ssh;                   // the SSHPolicy object, or empty when it has no rules
  nlohmann::json caps = nlohmann::json::object();  // the CapMap the policy grants the viewer
  // Times it was computed; a recompile that did not touch the viewer keeps it as it is.
  uint64_t computes = 0;

  bool Visible(model::NodeId id) const;
};

// Recomputes `view` for `self` from the snapshot's policy.
void ComputeView(const tailnet::Snapshot& snapshot, model::NodeId self, PeerView& view);

struct MapInputs {
  const tailnet::Snapshot& snapshot;
  model::NodeId self;
  SystemTime now;
  const MapConfig& config;
  const std::string& static_fields;  // RenderStaticFields(config)
  PeerCache& cache;
  // The session's view, updated by every build; null: computed afresh (one-shot maps).
  PeerView* view = nullptr;
};

// The full first MapResponse. Fails if `self` is not in the snapshot.
Result<std::string> BuildFullMap(const MapInputs& in);

struct Delta {
  std::string json;           // empty if there is nothing to send
  bool self_removed = false;  // the session must end
};

// One delta for everything in `pending` (which must not be full()).
Delta BuildDelta(const MapInputs& in, const PendingChanges& pending);

// Inserts `"key":raw` as the last member of the JSON object text `object`.
void AppendRawMember(std::string& object, std::string_view key, std::string_view raw);

}  // namespace keel::control
