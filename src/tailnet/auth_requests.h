#pragma once
// AuthRequests: requests that wait for a verdict, each under an id the admin types. Two kinds:
// - interactive logins: `tailscale up` without a key is sent to /register/<id> and long-polls
//   until `keel auth register --auth-id ID --user U` (or `auth reject`) decides;
// - Tailscale SSH "check" actions: the destination's tailscaled holds the connection and
//   long-polls keel until `keel auth approve|reject --auth-id ID`.
// A request nobody decides expires into a rejection after the timeout. Approved SSH checks are
// remembered per (source, destination) node pair for the policy's check period.
// Thread-safe; waiters are called back on the executor they gave.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "model/types.h"
#include "tailnet/register_types.h"

namespace keel::tailnet {

class AuthRequests {
 public:
  enum class Verdict { kPending, kApproved, kRejected, kExpired };

  struct Request {
    std::string id;
    model::NodeId src = 0;  // SSH check: the connecting node
    model::NodeId dst = 0;  // SSH check: the node being connected to
    // A login: what the client asked, kept for RegisterInteractive (SSH checks: null).
    std::shared_ptr<const RegisterInput> registration;
    SystemTime expires = ZeroTime();
    Verdict verdict = Verdict::kPending;
    std::string reason;  // kRejected: why, in words the client shows its user
  };

  // `clock` must outlive this.
  AuthRequests(const Clock& clock, std::chrono::seconds timeout);

  // A new pending SSH check; its id is "keel-authreq-" and 24 random URL-safe characters.
  Request CreateSshCheck(model::NodeId src, model::NodeId dst);
  // A pending login for `in`. The same machine asking again with the same node key gets its
  // pending request back (with `in` refreshed), so retries do not mint new ids; `created`, if
  // given, tells which happened.
  Request CreateRegistration(RegisterInput in, bool* created = nullptr);
  // The request, with kExpired once its time has passed undecided; nullopt if unknown.
  std::optional<Request> Find(const std::string& id);
  // The login `id` while it still waits for a verdict; nullopt for anything else (unknown,
  // decided, expired, or an SSH check).
  std::optional<Request> FindPendingLogin(const std::string& id);
  // True the first time it is asked of a rejected request, false after (and for any other):
  // a client is told of a rejection once, and its retries start a new login.
  bool FirstRejectionReport(const std::string& id);
  // How long `r` has left before it expires (zero once past).
  std::chrono::nanoseconds TimeLeft(const Request& r) const;
  // Approves or rejects a pending request and wakes its waiters. kNotFound for an unknown id,
  // kFailedPrecondition for one already decided or expired.
  Result<void> Decide(const std::string& id, bool approve, std::string reason = "");
  // Calls `done` on `executor` once the request is decided or expires (at once if it is).
  void OnDecided(const std::string& id, boost::asio::any_io_executor executor,
                 std::function<void()> done);

  // SSH check approvals: remembered per (src, dst) pair; any policy change forgets them all.
  void RememberApproval(model::NodeId src, model::NodeId dst);
  bool ApprovedWithin(model::NodeId src, model::NodeId dst, std::chrono::seconds period);
  void ForgetApprovals();

 private:
  struct Waiter {
    boost::asio::any_io_executor executor;
    std::function<void()> done;
  };
  struct Entry {
    Request request;
    std::vector<Waiter> waiters;
    bool rejection_reported = false;
  };
  // Stores a new pending request under a fresh id (mu_ held).
  Request AddLocked(Request r, SystemTime now);
  // Marks pending requests past their time as expired (mu_ held); returns their waiters.
  std::vector<Waiter> ExpireLocked(SystemTime now);
  void Wake(std::vector<Waiter> waiters);

  const Clock& clock_;
  std::chrono::seconds timeout_;
  std::mutex mu_;
  std::map<std::string, Entry> entries_;  // decided entries stay until an hour past their time
  std::map<std::pair<model::NodeId, model::NodeId>, SystemTime> approvals_;
};

class Tailnet;

// Completes the pending login `id` as `user`: registers the node it asked for (with `expiry`
// when not zero, e.g. the ID token's) and approves it, which releases the waiting client. When
// the tailnet refuses (tags the user may not apply) the login is rejected with that reason, so
// the client hears it, and the kRefused outcome is returned. Blocking: run on the worker pool.
Result<RegisterOutcome> CompleteLogin(Tailnet& tailnet, AuthRequests& auth, const std::string& id,
                                      model::UserId user, SystemTime expiry = ZeroTime());

}  // namespace keel::tailnet
