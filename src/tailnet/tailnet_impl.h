#pragma once
// Private state of Tailnet, shared by tailnet.cc (users, keys, admin, feed), register.cc and
// sessions.cc (map updates, streams, ephemeral GC). Everything but `snap` is guarded by
// `mu`, which every mutation holds from validation to publication, so store writes and
// snapshots are published in one order.

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "model/names.h"
#include "policy/compiler.h"
#include "tailnet/ip_allocator.h"
#include "tailnet/tailnet.h"

namespace keel::tailnet {

struct Subscriber {
  boost::asio::any_io_executor executor;
  Tailnet::Listener listener;
  std::atomic<bool> active{true};
};

// The next snapshot being assembled under `mu`.
struct Draft {
  std::shared_ptr<Snapshot> next;
  Changes changes;
};

struct Tailnet::Impl {
  Impl(Settings s, store::Store& st, const Clock& c, std::shared_ptr<spdlog::logger> l)
      : settings(std::move(s)), store(st), clock(c), log(std::move(l)),
        ips(settings.prefix_v4, settings.prefix_v6),
        snap(std::make_shared<const Snapshot>()) {}

  Settings settings;
  store::Store& store;
  const Clock& clock;
  std::shared_ptr<spdlog::logger> log;

  std::mutex mu;
  std::map<model::PreAuthKeyId, model::PreAuthKey> keys;
  IpAllocator ips;
  std::map<model::NodeId, int> streams;                      // open map streams per node
  std::map<model::NodeId, SystemTime> ephemeral_deadlines;   // delete when passed

  // The policy in force: its text and, with tests stripped, the form recompiled on tailnet
  // changes (tests are checked when a policy is set, not when a node joins).
  PolicyInfo policy_info;
  std::shared_ptr<const policy::Policy> runtime_policy;
  // Coalesced recompiles (Settings::recompile_gap_*): `recompile_due` means the published
  // policy lags the tailnet; the recompiler thread catches up at `next_compile_at`.
  bool recompile_due = false;
  std::chrono::steady_clock::time_point next_compile_at{};
  std::atomic<uint64_t> compiles{0};
  bool closing = false;
  std::condition_variable recompile_cv;  // waits on `mu`
  std::thread recompiler;

  mutable std::mutex snap_mu;
  std::shared_ptr<const Snapshot> snap;

  std::mutex sub_mu;
  std::map<uint64_t, std::shared_ptr<Subscriber>> subs;
  uint64_t next_sub = 1;

  // --- snapshot publication (mu held) ---
  std::shared_ptr<const Snapshot> Current() const;
  Draft Begin() const;
  // Stores `node` in the draft with a fresh version and records `kind` if given.
  static void PutNode(Draft& d, model::Node node, std::optional<ChangeKind> kind);
  // Publishes the nodes of `user` as updated, so peers learn the user's new profile (names
  // travel with the nodes, in UserProfiles).
  static void RepublishNodesOfUser(Draft& d, model::UserId user);
  static void RemoveNode(Draft& d, model::NodeId id);
  void Commit(Draft d);
  // (policy.cc) Recompiles d.next->policy if the draft changed what the policy can see, now
  // or (when a compile ran too recently) later on the recompiler thread.
  void RecompilePolicy(Draft& d);
  // (policy.cc) Compiles the runtime policy against d.next and sets the next compile's
  // earliest time from what this one cost.
  void CompileNow(Draft& d);
  // (policy.cc) Records a compile that started at `start` and schedules the next one.
  void NoteCompile(std::chrono::steady_clock::time_point start);
  // (policy.cc) The recompiler thread's loop; returns when `closing` is set.
  void RunRecompiler();
  // (routes.cc) Brings every router's routes_in_effect and primary_routes in line with the
  // draft (announced and approved routes, the policy's autoApprovers, who is online), putting
  // each router whose routes moved with kNodeUpdated. Cheap when the draft touched no router.
  void UpdateRoutes(Draft& d);
  // (policy.cc) Compiles the stored policy, if any, against `next` (Load).
  Result<void> LoadStoredPolicy(Snapshot& next);
  // Registers the compile-time histogram, so it is exported before the first compile.
  static void ExportPolicyMetrics();

  // --- helpers (mu held) ---
  // `base` with -1, -2... appended on collision; `self`'s own name does not collide.
  static std::string UniqueGivenName(const Snapshot& s, model::NodeId self, std::string base);
  // Persists the deletion, frees the addresses and records kNodeRemoved.
  Result<void> DeleteNodeLocked(Draft& d, model::NodeId id);
  std::optional<model::PreAuthKey> FindKeyByPrefix(std::string_view prefix) const;
  // Deletes the key from the store and memory; nodes registered with it keep their record.
  Result<void> DeletePreAuthKeyLocked(Draft& d, model::PreAuthKeyId id);

  // --- registration (register.cc) ---
  Result<RegisterOutcome> RegisterLocked(const RegisterInput& in);
  Result<RegisterOutcome> Logout(const model::Node& node);
  Result<RegisterOutcome> RegisterWithAuthKey(const RegisterInput& in, const model::Node* by_key);
  Result<RegisterOutcome> RegisterForUser(const RegisterInput& in, model::UserId user);
  // Who lets a registration in: a pre-auth key (which also makes the node ephemeral or not and
  // is marked used), or a completed interactive login naming the user (no key).
  struct Grant {
    model::UserId user_id = 0;
    const model::PreAuthKey* key = nullptr;
  };
  // The node this machine already has for the grant's user, if any (re-registration, §1.3 C):
  // the one holding the request's node key first, then the lowest id.
  const model::Node* SameMachineNode(const RegisterInput& in, model::UserId user,
                                     const model::Node* by_key) const;
  // `tags`: what the node gets (the key's, or the client's --advertise-tags once allowed).
  Result<RegisterOutcome> ReauthInPlace(const RegisterInput& in, model::Node node, Grant grant,
                                        std::vector<std::string> tags);
  Result<RegisterOutcome> CreateNode(const RegisterInput& in, Grant grant,
                                     std::vector<std::string> tags);
  // Marks a single-use grant's key used in `tx`'s batch (nothing for a login).
  Result<void> MarkKeyUsed(store::Tx& tx, Grant grant);
  void KeyUsedCommitted(Grant grant);
  RegisterOutcome Success(const model::Node& node) const;
  // A (re-)registered node's key expiry: the client's future Expiry if it sent one, else
  // Settings::node_expiry from now for untagged nodes, else never.
  SystemTime InitialExpiry(const RegisterInput& in, const std::vector<std::string>& tags) const;
};

}  // namespace keel::tailnet
