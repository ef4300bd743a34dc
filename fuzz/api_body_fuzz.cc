// Fuzzes the admin API's write routes with hostile bodies: the real AdminApi::Handle over a
// Tailnet on an in-memory SQLite store, as the unix socket serves it (no API key needed).
//
// Input: byte 0 picks the route (kRoutes), byte 1 the id and name put into its path, the rest
// is the request body. Each input starts from the same tailnet (two users, two nodes, one of
// them a subnet router, a pre-auth key, an API key), so a finding replays alone: the fixture
// is built once and kept while inputs leave it as it was (most bodies are refused), and built
// again after one that changed it, which also keeps state from growing across inputs. After
// the request the tailnet's memory must match what the store holds, and no route may answer
// 5xx: a body the API cannot use is the client's mistake (4xx), not the server's.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "api/admin_api.h"
#include "base/log.h"
#include "json_mutator.h"
#include "store/sqlite_store.h"

namespace {

using namespace keel;

constexpr size_t kHeaderBytes = 2;

// Routes that read a body or change state, then two reads that render what the change left.
constexpr struct {
  const char* method;
  const char* path;  // {id} and {name} are replaced from byte 1
} kRoutes[] = {
    {"POST", "/api/v1/user"},
    {"POST", "/api/v1/user/{id}/rename/{name}"},
    {"DELETE", "/api/v1/user/{id}"},
    {"POST", "/api/v1/preauthkey"},
    {"POST", "/api/v1/preauthkey/expire"},
    {"DELETE", "/api/v1/preauthkey?id={id}"},
    {"POST", "/api/v1/node/{id}/expire"},
    {"POST", "/api/v1/node/{id}/expire?expiry={name}&disableExpiry=true"},
    {"POST", "/api/v1/node/{id}/rename/{name}"},
    {"POST", "/api/v1/node/{id}/tags"},
    {"POST", "/api/v1/node/{id}/approve_routes"},
    {"DELETE", "/api/v1/node/{id}"},
    {"POST", "/api/v1/node/backfillips?confirmed=true"},
    {"PUT", "/api/v1/policy"},
    {"POST", "/api/v1/policy/check"},
    {"POST", "/api/v1/apikey"},
    {"POST", "/api/v1/apikey/expire"},
    {"DELETE", "/api/v1/apikey/{name}?id={id}"},
    {"PUT", "/api/v1/user"},
    {"PATCH", "/api/v1/node/{id}/tags"},
    {"GET", "/api/v1/node?user={name}"},
    {"GET", "/api/v1/preauthkey?user={id}"},
};
constexpr const char* kIds[] = {"1", "2", "3", "0", "odin", "thor", "18446744073709551616", "-1"};
constexpr const char* kNames[] = {"renamed", "odin", "", "a%2Fb", "%C3%A9t%C3%A9",
                                  "2030-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "x.y"};

constexpr std::string_view kApiKeys[] = {
    "name", "displayName", "email", "pictureUrl", "user", "reusable", "ephemeral", "expiration",
    "aclTags", "id", "key", "prefix", "tags", "routes", "policy", "changes", "authId", "expiry",
    "nodeKey", "newName", "disableExpiry",
};
const keel::fuzz::JsonMutatorOptions kMutator{.header_size = kHeaderBytes, .keys = kApiKeys};

class FixedClock final : public Clock {
 public:
  SystemTime Now() const override { return SystemTime(std::chrono::seconds(1'800'000'000)); }
};

crypto::Key32 KeyOf(uint8_t fill) {
  crypto::Key32 k;
  k.fill(fill);
  return k;
}

// Dies with a message: the fuzzer reports the input that got here.
[[noreturn]] void Fail(const std::string& why) {
  std::fprintf(stderr, "api_body_fuzz: %s\n", why.c_str());
  std::abort();
}

template <class T>
T Must(Result<T> r, const char* what) {
  if (!r) Fail(std::string(what) + ": " + r.error().message);
  return std::move(*r);
}
void Must(Result<void> r, const char* what) {
  if (!r) Fail(std::string(what) + ": " + r.error().message);
}

// One tailnet over a fresh in-memory store, set up the same way for every input.
struct Fixture {
  // Blocking calls run here. Its own threads, joined with the fixture: OpenSSL frees its
  // per-thread state when a thread exits, which threads living to the end of the process
  // would only do after LeakSanitizer has looked.
  boost::asio::thread_pool pool{2};
  FixedClock clock;
  std::unique_ptr<store::SqliteStore> store = Must(store::SqliteStore::Open(":memory:"), "open");
  std::unique_ptr<tailnet::Tailnet> tailnet;
  std::unique_ptr<api::ApiKeys> keys;
  std::unique_ptr<api::AdminApi> api;

  Fixture() {
    tailnet = std::make_unique<tailnet::Tailnet>(tailnet::Settings{}, *store, clock,
                                                 GetLogger("tailnet"));
    Must(tailnet->Load(), "load");
    keys = std::make_unique<api::ApiKeys>(*store, clock);
    Must(keys->Load(), "keys");
    api = std::make_unique<api::AdminApi>(*tailnet, *keys, pool, clock, GetLogger("api"));
    Must(tailnet->CreateUser("odin", "Odin", "odin@example.com"), "user");
    Must(tailnet->CreateUser("thor"), "user");
    AddNode("odin", "laptop", 1, R"({"Hostname":"laptop"})");
    AddNode("thor", "router", 2, R"({"Hostname":"router","RoutableIPs":["10.33.0.0/16","0.0.0.0/0","::/0"]})");
    Must(tailnet->CreatePreAuthKey("odin", true, false, ZeroTime()), "preauthkey");
    Must(keys->Create(ZeroTime()), "apikey");
  }

  ~Fixture() {
    api.reset();
    keys.reset();
    tailnet.reset();
    pool.join();
  }

  void AddNode(const std::string& user, const std::string& hostname, uint8_t key, std::string hostinfo) {
    auto auth = Must(tailnet->CreatePreAuthKey(user, false, false, ZeroTime()), "preauthkey");
    tailnet::RegisterInput in;
    in.machine_key = crypto::MachinePublic(KeyOf(key));
    in.node_key = crypto::NodePublic(KeyOf(key + 100));
    in.auth_key = auth.secret_text;
    in.hostname = hostname;
    in.hostinfo_json = std::move(hostinfo);
    auto out = Must(tailnet->Register(in), "register");
    if (out.kind != tailnet::RegisterOutcome::Kind::kAuthorized) Fail("register: " + out.error);
  }
};

std::string Describe(const model::User& u) {
  return std::to_string(u.id) + "|" + u.name + "|" + u.display_name + "|" + u.email;
}
std::string Describe(const model::Node& n) {
  std::string s = std::to_string(n.id) + "|" + std::to_string(n.user_id) + "|" + n.given_name +
                  "|" + n.hostname + "|" + FormatTime(n.expiry) + "|" +
                  (n.ipv4 ? n.ipv4->to_string() : "") + "|" + (n.ipv6 ? n.ipv6->to_string() : "");
  for (const auto& t : n.tags) s += "|t:" + t;
  for (const auto& r : n.approved_routes) s += "|r:" + r;
  return s;
}
std::string Describe(const model::PreAuthKey& k) {
  std::string s = std::to_string(k.id) + "|" + std::to_string(k.user_id) + "|" + k.prefix + "|" +
                  (k.used ? "used" : "") + "|" + FormatTime(k.expiration);
  for (const auto& t : k.tags) s += "|t:" + t;
  return s;
}
std::string Describe(const model::ApiKey& k) {
  return std::to_string(k.id) + "|" + k.prefix + "|" + FormatTime(k.expiration);
}

template <class T>
std::multiset<std::string> Described(const std::vector<T>& items) {
  std::multiset<std::string> out;
  for (const auto& i : items) out.insert(Describe(i));
  return out;
}

// Everything the store holds that the API can change, read in one transaction.
struct Stored {
  std::vector<model::User> users;
  std::vector<model::Node> nodes;
  std::vector<model::PreAuthKey> pre_auth_keys;
  std::vector<model::ApiKey> api_keys;
};

Stored ReadStore(store::Store& store) {
  Stored s;
  auto read = [&](store::Tx& tx) -> Result<void> {
    auto users = tx.ListUsers();
    auto nodes = tx.ListNodes();
    auto pre_auth_keys = tx.ListPreAuthKeys();
    auto api_keys = tx.ListApiKeys();
    if (!users || !nodes || !pre_auth_keys || !api_keys) {
      return MakeError(Errc::kInternal, "a list failed");
    }
    s = {*users, *nodes, *pre_auth_keys, *api_keys};
    return {};
  };
  Must(store.Transaction(read), "read store");
  return s;
}

// What the tailnet and the API keys hold in memory is what the store holds, and the
// tailnet's own invariants hold: unique names and addresses, every untagged node's owner
// exists. Returns a fingerprint of the state: equal fingerprints, same tailnet.
std::string CheckConsistent(Fixture& f) {
  auto snap = f.tailnet->snapshot();
  std::vector<model::Node> nodes;
  std::set<std::string> given_names, addresses;
  for (const auto& [id, node] : snap->nodes) {
    nodes.push_back(*node);
    if (!given_names.insert(node->given_name).second) Fail("duplicate given name " + node->given_name);
    if (node->ipv4 && !addresses.insert(node->ipv4->to_string()).second) Fail("duplicate IPv4");
    if (node->ipv6 && !addresses.insert(node->ipv6->to_string()).second) Fail("duplicate IPv6");
    if (node->tags.empty() && !snap->FindUser(node->user_id)) Fail("node without owner");
  }
  Stored stored = ReadStore(*f.store);
  if (Described(f.tailnet->ListUsers()) != Described(stored.users)) {
    Fail("users in memory differ from the store");
  }
  if (Described(nodes) != Described(stored.nodes)) Fail("nodes in memory differ from the store");
  if (Described(f.tailnet->ListPreAuthKeys()) != Described(stored.pre_auth_keys)) {
    Fail("pre-auth keys in memory differ from the store");
  }
  if (Described(f.keys->List()) != Described(stored.api_keys)) {
    Fail("API keys in memory differ from the store");
  }
  std::string fingerprint = std::to_string(snap->version) + "\n" + f.tailnet->GetPolicy().text;
  for (const auto& set : {Described(stored.users), Described(stored.nodes),
                          Described(stored.pre_auth_keys), Described(stored.api_keys)}) {
    for (const auto& item : set) fingerprint += "\n" + item;
  }
  return fingerprint;
}

// The fixture inputs start from, and the fingerprint of its state when new.
std::unique_ptr<Fixture> fixture;
std::string fixture_fingerprint;

std::string Fill(std::string path, uint8_t choice) {
  auto replace = [&](std::string_view slot, std::string_view value) {
    for (size_t at; (at = path.find(slot)) != std::string::npos;) path.replace(at, slot.size(), value);
  };
  replace("{id}", kIds[choice % std::size(kIds)]);
  replace("{name}", kNames[(choice / std::size(kIds)) % std::size(kNames)]);
  return path;
}

http::Response Call(boost::asio::io_context& io, api::AdminApi& api, http::Request req) {
  auto done = boost::asio::co_spawn(io, api.Handle(std::move(req), false), boost::asio::use_future);
  while (done.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    io.restart();
    io.run_for(std::chrono::milliseconds(1));
  }
  return done.get();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  keel::SetLogLevel("off");
  // Before LeakSanitizer's exit check: the fixture's threads hold OpenSSL thread state.
  std::atexit([] { fixture.reset(); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static boost::asio::io_context io;
  if (size < kHeaderBytes) return 0;
  if (!fixture) {
    fixture = std::make_unique<Fixture>();
    fixture_fingerprint = CheckConsistent(*fixture);
  }
  const auto& route = kRoutes[data[0] % std::size(kRoutes)];
  http::Request req;
  req.method = route.method;
  req.target = Fill(route.path, data[1]);
  size_t q = req.target.find('?');
  req.path = req.target.substr(0, q);
  if (q != std::string::npos) req.query = req.target.substr(q + 1);
  req.body.assign(reinterpret_cast<const char*>(data) + kHeaderBytes, size - kHeaderBytes);
  http::Response response = Call(io, *fixture->api, std::move(req));
  if (response.status >= 500) {
    Fail(std::string(route.method) + " " + route.path + " answered " +
         std::to_string(response.status) + ": " + response.body);
  }
  if (CheckConsistent(*fixture) != fixture_fingerprint) fixture.reset();  // the next input gets a new one
  return 0;
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned seed) {
  return keel::fuzz::MutateJsonInput(data, size, max_size, seed, kMutator);
}
