#pragma once
// What a mutation changed, as the map sessions need to know it (Headscale's change.Change).
// Sessions merge pending changes and turn them into one MapResponse delta.

#include <vector>

#include "model/types.h"

namespace keel::tailnet {

enum class ChangeKind {
  kNodeAdded,     // peers get PeersChanged with the full node
  kNodeUpdated,   // hostinfo, name, addresses, tags...: PeersChanged (full), self gets Node
  kNodePatched,   // endpoints, home DERP, disco key, node key, expiry: PeersChangedPatch
  kNodeRemoved,   // PeersRemoved
  kNodeOnline,    // PeersChangedPatch {Online:true}
  kNodeOffline,   // PeersChangedPatch {Online:false, LastSeen}
  kFull,          // DERP map or DNS changed: resend everything
  kPolicy,        // the policy was set or recompiled: peers, filters, SSH, capabilities
};

struct Change {
  ChangeKind kind;
  model::NodeId node = 0;  // unused for kFull and kPolicy
};

using Changes = std::vector<Change>;

}  // namespace keel::tailnet
