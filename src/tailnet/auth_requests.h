#pragma once
// AuthRequests: requests that wait for an admin's verdict, each under an id the admin types
// (`keel auth approve|reject --auth-id ID`). Today these are Tailscale SSH "check" actions: the
// destination's tailscaled holds the connection and long-polls keel until the admin decides.
// A request nobody decides expires into a rejection after the timeout. Approved SSH checks are
// remembered per (source, destination) node pair for the policy's check period.
// Thread-safe; waiters are called back on the executor they gave.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "model/types.h"

namespace keel::tailnet {

class AuthRequests {
 public:
  enum class Verdict { kPending, kApproved, kRejected, kExpired };

  struct Request {
    std::string id;
    model::NodeId src = 0;  // SSH check: the connecting node
    model::NodeId dst = 0;  // SSH check: the node being connected to
    SystemTime expires = ZeroTime();
    Verdict verdict = Verdict::kPending;
  };

  // `clock` must outlive this.
  AuthRequests(const Clock& clock, std::chrono::seconds timeout);

  // A new pending SSH check; its id is "keel-authreq-" and 24 random URL-safe characters.
  Request CreateSshCheck(model::NodeId src, model::NodeId dst);
  // The request, with kExpired once its time has passed undecided; nullopt if unknown.
  std::optional<Request> Find(const std::string& id);
  // Approves or rejects a pending request and wakes its waiters. kNotFound for an unknown id,
  // kFailedPrecondition for one already decided or expired.
  Result<void> Decide(const std::string& id, bool approve);
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
  };
  // Marks pending requests past their time as expired (mu_ held); returns their waiters.
  std::vector<Waiter> ExpireLocked(SystemTime now);
  void Wake(std::vector<Waiter> waiters);

  const Clock& clock_;
  std::chrono::seconds timeout_;
  std::mutex mu_;
  std::map<std::string, Entry> entries_;  // decided entries stay until an hour past their time
  std::map<std::pair<model::NodeId, model::NodeId>, SystemTime> approvals_;
};

}  // namespace keel::tailnet
