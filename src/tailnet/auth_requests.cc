#include "tailnet/auth_requests.h"

#include <openssl/rand.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <utility>

#include "tailnet/tailnet.h"

namespace keel::tailnet {
namespace {

constexpr std::string_view kIdPrefix = "keel-authreq-";
// Decided and expired entries are kept this long, so a late follow-up still gets its verdict.
constexpr std::chrono::hours kKeepDecided{1};

std::string RandomId() {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  unsigned char raw[24];
  if (RAND_bytes(raw, sizeof raw) != 1) throw std::runtime_error("RAND_bytes failed");
  std::string id(kIdPrefix);
  for (unsigned char b : raw) id.push_back(kAlphabet[b & 63]);
  return id;
}

}  // namespace

AuthRequests::AuthRequests(const Clock& clock, std::chrono::seconds timeout)
    : clock_(clock), timeout_(timeout) {}

AuthRequests::Request AuthRequests::AddLocked(Request r, SystemTime now) {
  std::erase_if(entries_, [&](const auto& e) { return e.second.request.expires + kKeepDecided < now; });
  r.id = RandomId();
  r.expires = now + timeout_;
  entries_[r.id].request = r;
  return r;
}

AuthRequests::Request AuthRequests::CreateSshCheck(model::NodeId src, model::NodeId dst) {
  SystemTime now = clock_.Now();
  std::vector<Waiter> expired;
  Request r;
  {
    std::lock_guard lock(mu_);
    expired = ExpireLocked(now);
    r.src = src;
    r.dst = dst;
    r = AddLocked(std::move(r), now);
  }
  Wake(std::move(expired));
  return r;
}

AuthRequests::Request AuthRequests::CreateRegistration(RegisterInput in, bool* created) {
  SystemTime now = clock_.Now();
  std::vector<Waiter> expired;
  Request r;
  auto input = std::make_shared<const RegisterInput>(std::move(in));
  {
    std::lock_guard lock(mu_);
    expired = ExpireLocked(now);
    for (auto& [id, e] : entries_) {
      const auto& old = e.request.registration;
      if (e.request.verdict == Verdict::kPending && old && old->machine_key == input->machine_key &&
          old->node_key == input->node_key) {
        e.request.registration = input;
        r = e.request;
        break;
      }
    }
    if (created != nullptr) *created = r.id.empty();
    if (r.id.empty()) {
      r.registration = input;
      r = AddLocked(std::move(r), now);
    }
  }
  Wake(std::move(expired));
  return r;
}

std::optional<AuthRequests::Request> AuthRequests::Find(const std::string& id) {
  std::vector<Waiter> expired;
  std::optional<Request> out;
  {
    std::lock_guard lock(mu_);
    expired = ExpireLocked(clock_.Now());
    if (auto it = entries_.find(id); it != entries_.end()) out = it->second.request;
  }
  Wake(std::move(expired));
  return out;
}

bool AuthRequests::FirstRejectionReport(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.request.verdict != Verdict::kRejected) return false;
  return !std::exchange(it->second.rejection_reported, true);
}

std::chrono::nanoseconds AuthRequests::TimeLeft(const Request& r) const {
  return std::max<std::chrono::nanoseconds>(r.expires - clock_.Now(), std::chrono::nanoseconds(0));
}

std::optional<AuthRequests::Request> AuthRequests::FindPendingLogin(const std::string& id) {
  auto r = Find(id);
  if (!r || !r->registration || r->verdict != Verdict::kPending) return std::nullopt;
  return r;
}

Result<void> AuthRequests::Decide(const std::string& id, bool approve, std::string reason) {
  std::vector<Waiter> waiters;
  Result<void> out;
  {
    std::lock_guard lock(mu_);
    waiters = ExpireLocked(clock_.Now());
    auto it = entries_.find(id);
    if (it == entries_.end()) {
      out = MakeError(Errc::kNotFound, "no pending auth request " + id);
    } else if (Request& r = it->second.request; r.verdict != Verdict::kPending) {
      out = MakeError(Errc::kFailedPrecondition,
                      "auth request " + id + " is no longer pending (" +
                          (r.verdict == Verdict::kExpired ? "it expired" : "already decided") + ")");
    } else {
      r.verdict = approve ? Verdict::kApproved : Verdict::kRejected;
      if (!approve) r.reason = std::move(reason);
      for (auto& w : it->second.waiters) waiters.push_back(std::move(w));
      it->second.waiters.clear();
    }
  }
  Wake(std::move(waiters));
  return out;
}

void AuthRequests::OnDecided(const std::string& id, boost::asio::any_io_executor executor,
                             std::function<void()> done) {
  std::vector<Waiter> wake;
  {
    std::lock_guard lock(mu_);
    wake = ExpireLocked(clock_.Now());
    auto it = entries_.find(id);
    if (it != entries_.end() && it->second.request.verdict == Verdict::kPending) {
      it->second.waiters.push_back({std::move(executor), std::move(done)});
    } else {
      wake.push_back({std::move(executor), std::move(done)});
    }
  }
  Wake(std::move(wake));
}

void AuthRequests::RememberApproval(model::NodeId src, model::NodeId dst) {
  std::lock_guard lock(mu_);
  approvals_[{src, dst}] = clock_.Now();
}

bool AuthRequests::ApprovedWithin(model::NodeId src, model::NodeId dst,
                                  std::chrono::seconds period) {
  std::lock_guard lock(mu_);
  auto it = approvals_.find({src, dst});
  return it != approvals_.end() && clock_.Now() - it->second < period;
}

void AuthRequests::ForgetApprovals() {
  std::lock_guard lock(mu_);
  approvals_.clear();
}

std::vector<AuthRequests::Waiter> AuthRequests::ExpireLocked(SystemTime now) {
  std::vector<Waiter> out;
  for (auto& [id, e] : entries_) {
    if (e.request.verdict != Verdict::kPending || e.request.expires > now) continue;
    e.request.verdict = Verdict::kExpired;
    for (auto& w : e.waiters) out.push_back(std::move(w));
    e.waiters.clear();
  }
  return out;
}

void AuthRequests::Wake(std::vector<Waiter> waiters) {
  for (auto& w : waiters) boost::asio::post(w.executor, std::move(w.done));
}

Result<RegisterOutcome> CompleteLogin(Tailnet& tailnet, AuthRequests& auth, const std::string& id,
                                      model::UserId user, SystemTime expiry) {
  auto pending = auth.FindPendingLogin(id);
  if (!pending) return MakeError(Errc::kFailedPrecondition, "login " + id + " is no longer pending");
  RegisterInput in = *pending->registration;
  if (!IsZeroTime(expiry)) in.expiry = expiry;
  auto outcome = tailnet.RegisterInteractive(in, user);
  if (!outcome) return outcome.error();
  if (outcome->kind == RegisterOutcome::Kind::kRefused) {
    (void)auth.Decide(id, false, outcome->error);
    return outcome;
  }
  KEEL_TRY(auth.Decide(id, true));
  return outcome;
}

}  // namespace keel::tailnet
