#pragma once
// Tailnet: the single authority over users, nodes and pre-auth keys.
//
// Every mutation is validated, written to the store (committed) and only then published as a
// new Snapshot plus a Changes batch to subscribers (architecture.md decision 2). Methods are
// thread-safe and synchronous — they block on the store — so callers on the I/O thread run
// them on the worker pool. Subscriber callbacks are posted to the executor given at
// Subscribe time. One thread of its own recompiles the policy after bursts of changes
// (Settings::recompile_gap_factor).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <spdlog/logger.h>
#include <string>

#include "base/clock.h"
#include "base/result.h"
#include "store/store.h"
#include "tailnet/change.h"
#include "tailnet/register_types.h"
#include "tailnet/snapshot.h"

namespace keel::tailnet {

struct Settings {
  boost::asio::ip::network_v4 prefix_v4 = boost::asio::ip::make_network_v4("100.64.0.0/10");
  boost::asio::ip::network_v6 prefix_v6 = boost::asio::ip::make_network_v6("fd7a:115c:a1e0::/48");
  // How long an ephemeral node may stay without a map stream before it is deleted.
  std::chrono::seconds ephemeral_inactivity_timeout{120};
  // Key expiry given to untagged nodes when they register (node.expiry); 0: never.
  std::chrono::seconds node_expiry{0};
  // Load() restores the policy saved by SetPolicy(..., kDatabase) (policy.mode: database).
  bool load_stored_policy = false;
  // Recompiling the policy after tailnet changes. After a compile that took T, the next one
  // waits until max(recompile_gap_floor, recompile_gap_factor * T) has passed; changes in
  // between are compiled together by a background thread, so compiles take at most about
  // 1 / (1 + factor) of a core however fast nodes join, and maps lag a change by at most that
  // gap. Gaps under kInlineRecompileGap are not worth a wait: the change compiles at once.
  double recompile_gap_factor = 2.0;
  std::chrono::milliseconds recompile_gap_floor{0};
  // An identity provider's group -> the policy groups ("group:x") its members join
  // (oidc.policy_groups): how the provider's groups claim reaches the policy.
  std::map<std::string, std::vector<std::string>> provider_policy_groups;
};

// What an identity provider says of a person who logged in through it.
struct ProviderProfile {
  std::string provider = "oidc";
  std::string provider_id;   // its stable identifier, "<issuer>/<subject>"
  std::string username;      // preferred_username; "" or unusable: taken from the email
  std::string email;         // "" when it is not to be trusted
  std::string display_name;
  std::string picture;
  std::vector<std::string> groups;
};

inline constexpr std::chrono::milliseconds kInlineRecompileGap{1};

// How long an expired pre-auth key stays listed (for the admin to see why a join failed)
// before maintenance deletes it.
inline constexpr std::chrono::hours kExpiredKeyRetention{24 * 7};

// Where a policy came from: a file the admin edits (not persisted) or the admin API
// (persisted in the store's settings, key "policy").
enum class PolicySource { kFile, kDatabase };

struct PolicyInfo {
  std::string text;  // empty: no policy (allow all)
  SystemTime updated_at = ZeroTime();
  PolicySource source = PolicySource::kFile;
};

// What a map request reports about the node (lite update or stream start).
struct MapUpdate {
  std::optional<crypto::DiscoPublic> disco_key;  // ignored when zero
  std::optional<std::vector<std::string>> endpoints;
  std::optional<std::string> hostinfo_json;       // keeps the old NetInfo if absent in it
  std::optional<int> home_derp;
  int cap_version = 0;
};

struct CreatedPreAuthKey {
  model::PreAuthKey key;
  std::string secret_text;  // the full key to give to `tailscale up --auth-key`; shown once
};

class Tailnet {
 public:
  // `store` and `clock` must outlive the tailnet.
  Tailnet(Settings settings, store::Store& store, const Clock& clock,
          std::shared_ptr<spdlog::logger> logger);
  ~Tailnet();

  // Rebuilds memory from the store. Call once before anything else.
  Result<void> Load();

  std::shared_ptr<const Snapshot> snapshot() const;
  // Policy compiles since start (set, load and recompiles after tailnet changes).
  uint64_t policy_compiles() const;
  // Reads from the store, to tell a health check whether the database answers.
  Result<void> CheckStore() const;

  // --- Users ---
  Result<model::User> CreateUser(const std::string& name, const std::string& display_name = "",
                                 const std::string& email = "");
  // Refused while the user still owns nodes.
  Result<void> DeleteUser(const std::string& name);
  // Refused when the new name is taken or not a valid user name.
  Result<model::User> RenameUser(model::UserId id, const std::string& new_name);
  std::vector<model::User> ListUsers() const;
  // The user `profile.provider_id` names, refreshed from the profile (email unless empty,
  // display name, picture, groups; the name stays), or a new one named after the username or the email's
  // local part, made unique with "-2", "-3"... A changed group list recompiles the policy.
  Result<model::User> UpsertProviderUser(const ProviderProfile& profile);

  // --- Pre-auth keys ---
  // `expiration` ZeroTime() = never. Tags must be ones tagOwners lets the user apply.
  Result<CreatedPreAuthKey> CreatePreAuthKey(const std::string& user, bool reusable,
                                             bool ephemeral, SystemTime expiration,
                                             std::vector<std::string> tags = {});
  std::vector<model::PreAuthKey> ListPreAuthKeys(const std::string& user = "") const;
  // `key` is the full key text or its public prefix.
  Result<void> ExpirePreAuthKey(const std::string& key);
  // Nodes registered with the key stay registered.
  Result<void> DeletePreAuthKey(model::PreAuthKeyId id);

  // --- Nodes (admin) ---
  Result<void> DeleteNode(model::NodeId id);
  // Sets the node's key expiry: `when` (ZeroTime(): never expires), or now when absent.
  Result<model::Node> ExpireNode(model::NodeId id, std::optional<SystemTime> when = std::nullopt);
  // Validates the DNS label; refused (not bumped) on collision.
  Result<model::Node> RenameNode(model::NodeId id, const std::string& new_name);
  // Replaces the routes the admin approved for the node (empty: none). Each must be a
  // canonical prefix the node announces; approving one exit route approves both families.
  // Refused as a whole, nothing stored, on the first route that fails.
  Result<model::Node> ApproveRoutes(model::NodeId id, const std::vector<std::string>& routes);
  // Replaces the node's tags (empty: none, the node is its user's again). Each tag must be
  // defined in the policy's tagOwners; an admin may apply any defined tag.
  Result<model::Node> SetTags(model::NodeId id, std::vector<std::string> tags);

  // --- Policy ---
  // Parses and compiles `text` against the current users and nodes (running its tests and
  // sshTests); on success it becomes the policy (persisted first for kDatabase) and a kPolicy
  // change is published. A refused policy leaves the old one in force; the error carries the
  // compiler's message. Empty text removes the policy. While a policy is set it is recompiled
  // whenever users or nodes change in a way it can see (owner, tags, addresses, name).
  Result<void> SetPolicy(const std::string& text, PolicySource source);
  // Like SetPolicy but applies nothing.
  Result<void> CheckPolicy(const std::string& text) const;
  PolicyInfo GetPolicy() const;

  // --- Control plane ---
  Result<RegisterOutcome> Register(const RegisterInput& input);
  // Completes an interactive login (a Register that answered kLoginRequired) for `user`: the
  // machine's node of that user is re-keyed in place, keeping id and addresses; otherwise a
  // node is created. Tags the client asks for must be the user's to apply.
  Result<RegisterOutcome> RegisterInteractive(const RegisterInput& input, model::UserId user);
  // Applies a map request's report. Publishes kNodePatched/kNodeUpdated only if something
  // changed. Fails if the node is unknown or bound to another machine key.
  Result<model::Node> ApplyMapUpdate(const crypto::MachinePublic& machine,
                                     const crypto::NodePublic& node_key, const MapUpdate& update);
  // Stream bookkeeping: a node is online while it has at least one map stream.
  // The last close persists last_seen and, for an ephemeral node, schedules its deletion
  // after Settings::ephemeral_inactivity_timeout (cancelled if a stream reopens).
  void StreamOpened(model::NodeId id);
  void StreamClosed(model::NodeId id);

  // Deletes ephemeral nodes whose inactivity deadline has passed (publishing kNodeRemoved)
  // and pre-auth keys that expired over kExpiredKeyRetention ago. The tailnet runs no timer
  // of its own: the app calls this periodically (every few seconds); tests call it after
  // moving a fake clock. Returns how many nodes were deleted.
  size_t RunMaintenance();

  // The HA prober's verdicts (true: answered its last probe). An unhealthy router loses its
  // primary routes to a healthy one serving the same prefix and does not take them back
  // when it recovers. When every router of a prefix is unhealthy, the primary keeps it.
  // Opening a map stream makes a node healthy again.
  void SetRouterHealth(const std::map<model::NodeId, bool>& healthy);

  // --- Change feed ---
  using Listener = std::function<void(std::shared_ptr<const Snapshot>, const Changes&)>;
  // `listener` is invoked via post() on `executor`, in publication order. Mutations that
  // change no node (e.g. CreateUser) publish a snapshot but notify nobody.
  uint64_t Subscribe(boost::asio::any_io_executor executor, Listener listener);
  // After it returns no further call of that listener starts.
  void Unsubscribe(uint64_t id);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel::tailnet
