// Tailnet's policy: setting, checking, persisting and recompiling it as the tailnet changes.

#include <algorithm>
#include <cctype>

#include "base/metrics.h"
#include "tailnet/tailnet_impl.h"

namespace keel::tailnet {
namespace {

constexpr std::string_view kPolicyKey = "policy";
constexpr std::string_view kPolicyUpdatedKey = "policy_updated_at";

bool IsBlank(const std::string& text) {
  return std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isspace(c); });
}

using GroupMap = std::map<std::string, std::vector<std::string>>;

// The user as the policy sees it: the provider's groups become the policy groups mapped to
// them (Settings::provider_policy_groups).
policy::PolicyUser ToPolicyUser(const model::User& u, const GroupMap& groups) {
  policy::PolicyUser out{u.id, u.name, u.email, {}};
  for (const auto& g : u.provider_groups) {
    auto it = groups.find(g);
    if (it == groups.end()) continue;
    for (const auto& policy_group : it->second) {
      if (std::find(out.groups.begin(), out.groups.end(), policy_group) == out.groups.end()) {
        out.groups.push_back(policy_group);
      }
    }
  }
  return out;
}

// The nodes as the policy sees them; `users` holds every user of `s`, already converted.
std::vector<policy::PolicyNode> PolicyNodes(const Snapshot& s,
                                            const std::map<model::UserId, policy::PolicyUser>& users) {
  std::vector<policy::PolicyNode> out;
  out.reserve(s.nodes.size());
  for (const auto& [id, n] : s.nodes) {
    policy::PolicyNode pn;
    pn.id = id;
    pn.hostname = n->given_name;
    pn.tags = n->tags;
    if (n->tags.empty()) {
      if (auto u = users.find(n->user_id); u != users.end()) pn.user = u->second;
    }
    if (n->ipv4) pn.ipv4 = n->ipv4->to_string();
    if (n->ipv6) pn.ipv6 = n->ipv6->to_string();
    pn.routable_ips = n->announced_routes;
    pn.approved_routes = n->approved_routes;
    out.push_back(std::move(pn));
  }
  return out;
}

prometheus::Histogram& CompileSeconds() {
  static auto& h = prometheus::BuildHistogram()
                       .Name("keel_policy_compile_seconds")
                       .Help("Time each policy compile against the tailnet takes (its _count is "
                             "the number of compiles)")
                       .Register(metrics::Registry())
                       .Add({}, metrics::LatencyBuckets());
  return h;
}

// Compiles `p` against the tailnet in `s`. When `s` still carries a compile of the same
// policy, the new one continues its line, so sessions recompute only the nodes it touched.
Result<std::shared_ptr<const policy::CompiledPolicy>> CompileFor(
    std::shared_ptr<const policy::Policy> p, const Snapshot& s, const GroupMap& groups) {
  metrics::ScopedTimer timer(CompileSeconds());
  std::map<model::UserId, policy::PolicyUser> by_id;
  for (const auto& [id, u] : s.users) by_id.emplace(id, ToPolicyUser(u, groups));
  auto nodes = PolicyNodes(s, by_id);
  std::vector<policy::PolicyUser> users;
  users.reserve(by_id.size());
  for (auto& [id, u] : by_id) users.push_back(std::move(u));
  auto compiled = s.policy && s.policy->policy() == p
                      ? policy::CompiledPolicy::Recompile(*s.policy, std::move(users), std::move(nodes))
                      : policy::CompiledPolicy::Compile(std::move(p), std::move(users), std::move(nodes));
  if (!compiled) return MakeError(Errc::kInvalidArgument, compiled.error().message);
  return *compiled;
}

// Parses and compiles with tests; on success also returns the test-free runtime form.
struct Prepared {
  std::shared_ptr<const policy::CompiledPolicy> compiled;
  std::shared_ptr<const policy::Policy> runtime;
};

Result<Prepared> Prepare(const std::string& text, const Snapshot& s, const GroupMap& groups,
                         bool run_tests) {
  auto parsed = policy::ParsePolicy(text);
  if (!parsed) return MakeError(Errc::kInvalidArgument, parsed.error().message);
  bool has_tests = !parsed->tests.empty() || !parsed->ssh_tests.empty();
  auto runtime = std::make_shared<policy::Policy>(*parsed);
  runtime->tests.clear();
  runtime->ssh_tests.clear();
  // Without tests the compile is of the runtime policy itself, so recompiles after tailnet
  // changes continue its line from the first one.
  std::shared_ptr<const policy::Policy> full =
      run_tests && has_tests ? std::make_shared<const policy::Policy>(std::move(*parsed)) : runtime;
  auto compiled = CompileFor(full, s, groups);
  if (!compiled) return compiled.error();
  return Prepared{*compiled, runtime};
}

bool SameForPolicy(const model::Node& a, const model::Node& b) {
  return a.user_id == b.user_id && a.tags == b.tags && a.ipv4 == b.ipv4 && a.ipv6 == b.ipv6 &&
         a.given_name == b.given_name && a.announced_routes == b.announced_routes &&
         a.approved_routes == b.approved_routes;
}

bool UsersDiffer(const Snapshot& a, const Snapshot& b) {
  if (a.users.size() != b.users.size()) return true;
  for (auto ia = a.users.begin(), ib = b.users.begin(); ia != a.users.end(); ++ia, ++ib) {
    if (ia->first != ib->first || ia->second.name != ib->second.name ||
        ia->second.email != ib->second.email ||
        ia->second.provider_groups != ib->second.provider_groups) {
      return true;
    }
  }
  return false;
}

// Whether `next` differs from `cur` in anything the compiler reads.
bool PolicyInputsChanged(const Snapshot& cur, const Snapshot& next, const Changes& changes) {
  if (cur.nodes.size() != next.nodes.size() || UsersDiffer(cur, next)) return true;
  for (const auto& c : changes) {
    if (c.kind == ChangeKind::kNodeAdded || c.kind == ChangeKind::kNodeRemoved) return true;
    if (c.kind != ChangeKind::kNodeUpdated) continue;
    const model::Node* before = cur.FindNode(c.node);
    const model::Node* after = next.FindNode(c.node);
    if (!before || !after || !SameForPolicy(*before, *after)) return true;
  }
  return false;
}

}  // namespace

void Tailnet::Impl::NoteCompile(std::chrono::steady_clock::time_point start) {
  auto end = std::chrono::steady_clock::now();
  auto gap = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      (end - start) * settings.recompile_gap_factor);
  next_compile_at = end + std::max<std::chrono::steady_clock::duration>(
                              gap, settings.recompile_gap_floor);
  if (next_compile_at - end < kInlineRecompileGap) next_compile_at = end;
  recompile_due = false;
  ++compiles;
}

void Tailnet::Impl::CompileNow(Draft& d) {
  auto start = std::chrono::steady_clock::now();
  auto compiled = CompileFor(runtime_policy, *d.next, settings.provider_policy_groups);
  NoteCompile(start);
  if (!compiled) {
    // Only a domain check can fail here; the previous compile stays in force.
    log->error("policy no longer compiles after a tailnet change: {}", compiled.error().message);
    return;
  }
  d.next->policy = *compiled;
}

void Tailnet::Impl::RecompilePolicy(Draft& d) {
  if (!runtime_policy) return;
  auto cur = Current();
  if (d.next->policy != cur->policy) return;  // set explicitly by this mutation
  if (!recompile_due && !PolicyInputsChanged(*cur, *d.next, d.changes)) return;
  if (std::chrono::steady_clock::now() < next_compile_at) {
    // A compile ran moments ago: publish this change with the current policy and let the
    // recompiler fold it into the next compile with whatever else arrives meanwhile.
    recompile_due = true;
    recompile_cv.notify_all();
    return;
  }
  CompileNow(d);
}

void Tailnet::Impl::RunRecompiler() {
  std::unique_lock lock(mu);
  while (!closing) {
    if (!recompile_due || !runtime_policy) {  // a removed policy has nothing to catch up
      recompile_cv.wait(lock);
      continue;
    }
    if (std::chrono::steady_clock::now() < next_compile_at) {
      recompile_cv.wait_until(lock, next_compile_at);
      continue;
    }
    Draft d = Begin();
    CompileNow(d);
    if (d.next->policy == Current()->policy) continue;  // did not compile: logged, old stays
    d.changes.push_back(Change{ChangeKind::kPolicy, 0});
    Commit(std::move(d));
  }
}

Result<void> Tailnet::SetPolicy(const std::string& text, PolicySource source) {
  std::lock_guard lock(impl_->mu);
  Prepared prepared;
  if (!IsBlank(text)) {
    auto p = Prepare(text, *impl_->Current(), impl_->settings.provider_policy_groups, /*run_tests=*/true);
    if (!p) return p.error();
    prepared = std::move(*p);
  }
  SystemTime now = impl_->clock.Now();
  if (source == PolicySource::kDatabase) {
    KEEL_TRY(impl_->store.Transaction([&](store::Tx& tx) -> Result<void> {
      KEEL_TRY(tx.PutSetting(kPolicyKey, text));
      return tx.PutSetting(kPolicyUpdatedKey, FormatTime(now));
    }));
  }
  impl_->policy_info = PolicyInfo{text, now, source};
  impl_->runtime_policy = prepared.runtime;
  // Compiled against the current tailnet just now: nothing lags. Its cost sets no gap, so a
  // node joining right after a policy change still compiles at once.
  impl_->recompile_due = false;
  if (prepared.compiled) ++impl_->compiles;
  Draft d = impl_->Begin();
  d.next->policy = prepared.compiled;
  // Sessions diff their views against the new compile: a viewer it changes nothing for is sent
  // nothing, the others a delta.
  d.changes.push_back(Change{ChangeKind::kPolicy, 0});
  impl_->Commit(std::move(d));
  impl_->log->info("policy {} ({})", prepared.compiled ? "updated" : "removed",
                   source == PolicySource::kDatabase ? "database" : "file");
  return {};
}

Result<void> Tailnet::CheckPolicy(const std::string& text) const {
  if (IsBlank(text)) return {};
  auto p = Prepare(text, *impl_->Current(), impl_->settings.provider_policy_groups, /*run_tests=*/true);
  if (!p) return p.error();
  return {};
}

uint64_t Tailnet::policy_compiles() const { return impl_->compiles.load(); }

PolicyInfo Tailnet::GetPolicy() const {
  std::lock_guard lock(impl_->mu);
  return impl_->policy_info;
}

void Tailnet::Impl::ExportPolicyMetrics() { CompileSeconds(); }

Result<void> Tailnet::Impl::LoadStoredPolicy(Snapshot& next) {
  std::optional<std::string> text;
  std::optional<std::string> updated;
  KEEL_TRY(store.Transaction([&](store::Tx& tx) -> Result<void> {
    auto t = tx.GetSetting(kPolicyKey);
    if (!t) return t.error();
    auto u = tx.GetSetting(kPolicyUpdatedKey);
    if (!u) return u.error();
    text = std::move(*t);
    updated = std::move(*u);
    return {};
  }));
  runtime_policy = nullptr;
  next.policy = nullptr;
  if (!text || IsBlank(*text)) return {};
  // Tests were checked when the policy was saved; nodes may have changed since.
  auto p = Prepare(*text, next, settings.provider_policy_groups, /*run_tests=*/false);
  if (!p) return MakeError(p.error().code, "stored policy: " + p.error().message);
  runtime_policy = p->runtime;
  next.policy = p->compiled;
  ++compiles;
  SystemTime when = ZeroTime();
  if (updated) when = ParseTime(*updated).value_or(ZeroTime());
  policy_info = PolicyInfo{*text, when, PolicySource::kDatabase};
  return {};
}

}  // namespace keel::tailnet
