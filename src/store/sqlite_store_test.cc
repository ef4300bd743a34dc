#include "store/sqlite_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "store/sqlite_db.h"

namespace keel::store {
namespace {

namespace fs = std::filesystem;
using model::Node;
using model::PreAuthKey;
using model::User;

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("keel_store_test_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "keel.db").string();
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, ec);
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<SqliteStore> OpenStore() {
    auto s = SqliteStore::Open(path_);
    EXPECT_TRUE(s) << (s ? "" : s.error().message);
    return s ? std::move(*s) : nullptr;
  }

  fs::path dir_;
  std::string path_;
};

crypto::Key32 K(uint8_t b) {
  crypto::Key32 k{};
  k.fill(b);
  return k;
}

SystemTime T(int64_t secs) { return SystemTime(std::chrono::seconds(secs)); }

Node MakeNode(model::UserId user, uint8_t key, const std::string& name) {
  Node n;
  n.machine_key = crypto::MachinePublic(K(key));
  n.node_key = crypto::NodePublic(K(static_cast<uint8_t>(key + 100)));
  n.user_id = user;
  n.hostname = name;
  n.given_name = name;
  n.created = T(1000);
  return n;
}

// Inserts a user and returns it, failing the test on error.
User AddUser(Store& s, const std::string& name) {
  User out;
  auto r = s.Transaction([&](Tx& tx) -> Result<void> {
    User u;
    u.name = name;
    u.created = T(42);
    auto ins = tx.InsertUser(u);
    if (!ins) return ins.error();
    out = *ins;
    return {};
  });
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return out;
}

std::vector<Node> Nodes(Store& s) {
  std::vector<Node> out;
  EXPECT_TRUE(s.Transaction([&](Tx& tx) -> Result<void> {
    auto r = tx.ListNodes();
    if (!r) return r.error();
    out = *r;
    return {};
  }));
  return out;
}

TEST_F(SqliteStoreTest, MigrationsAreIdempotent) {
  {
    auto s = OpenStore();
    auto m = s->AppliedMigrations();
    ASSERT_TRUE(m);
    EXPECT_EQ(*m, (std::vector<std::string>{"202611260001-initial",
                                            "202612020001-approved-routes",
                                            "202612030001-api-keys",
                                            "202612040001-provider-users"}));
  }
  auto s = OpenStore();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->AppliedMigrations()->size(), 4u);
}

TEST_F(SqliteStoreTest, NodeRoundTripSurvivesReopen) {
  Node in;
  {
    auto s = OpenStore();
    User u = AddUser(*s, "alice");
    in = MakeNode(u.id, 1, "laptop");
    in.disco_key = crypto::DiscoPublic(K(9));
    in.tags = {"tag:a", "tag:b"};
    in.ipv4 = boost::asio::ip::make_address_v4("100.64.0.1");
    in.ipv6 = boost::asio::ip::make_address_v6("fd7a:115c:a1e0::1");
    in.endpoints = {"1.2.3.4:41641", "[::1]:41641"};
    in.home_derp = 7;
    in.hostinfo_json = R"({"Hostname":"laptop","OS":"linux"})";
    in.last_seen = T(2000) + std::chrono::nanoseconds(123);
    in.expiry = T(3000);
    in.ephemeral = true;
    in.cap_version = 145;
    in.approved_routes = {"0.0.0.0/0", "10.1.0.0/16", "::/0"};
    in.routes_in_effect = {"10.1.0.0/16"};  // derived, not stored
    ASSERT_TRUE(s->Transaction([&](Tx& tx) -> Result<void> {
      auto r = tx.InsertNode(in);
      if (!r) return r.error();
      in.id = r->id;
      return {};
    }));
    EXPECT_GT(in.id, 0u);
  }
  auto s = OpenStore();
  auto nodes = Nodes(*s);
  ASSERT_EQ(nodes.size(), 1u);
  const Node& out = nodes[0];
  EXPECT_EQ(out.id, in.id);
  EXPECT_EQ(out.machine_key, in.machine_key);
  EXPECT_EQ(out.node_key, in.node_key);
  EXPECT_EQ(out.disco_key, in.disco_key);
  EXPECT_EQ(out.tags, in.tags);
  EXPECT_EQ(out.ipv4, in.ipv4);
  EXPECT_EQ(out.ipv6, in.ipv6);
  EXPECT_EQ(out.endpoints, in.endpoints);
  EXPECT_EQ(out.home_derp, 7);
  EXPECT_EQ(out.hostinfo_json, in.hostinfo_json);
  EXPECT_EQ(out.created, in.created);
  EXPECT_EQ(out.last_seen, in.last_seen);
  EXPECT_EQ(out.expiry, in.expiry);
  EXPECT_TRUE(out.ephemeral);
  EXPECT_FALSE(out.auth_key_id.has_value());
  EXPECT_EQ(out.cap_version, 145);
  EXPECT_EQ(out.approved_routes, in.approved_routes);
  EXPECT_TRUE(out.routes_in_effect.empty());
}

TEST_F(SqliteStoreTest, ZeroTimesRoundTrip) {
  auto s = OpenStore();
  User u = AddUser(*s, "bob");
  ASSERT_TRUE(s->Transaction([&](Tx& tx) { return tx.InsertNode(MakeNode(u.id, 1, "a")) ?
      Result<void>() : Result<void>(MakeError(Errc::kInternal, "insert")); }));
  auto nodes = Nodes(*s);
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_TRUE(IsZeroTime(nodes[0].expiry));
  EXPECT_TRUE(IsZeroTime(nodes[0].last_seen));
  EXPECT_FALSE(nodes[0].ipv4.has_value());
}

TEST_F(SqliteStoreTest, UniqueConstraints) {
  auto s = OpenStore();
  User u = AddUser(*s, "carol");
  auto dup_user = s->Transaction([&](Tx& tx) -> Result<void> {
    User again;
    again.name = "carol";
    auto r = tx.InsertUser(again);
    if (!r) return r.error();
    return {};
  });
  ASSERT_FALSE(dup_user);
  EXPECT_EQ(dup_user.error().code, Errc::kAlreadyExists);

  auto insert = [&](Node n) {
    return s->Transaction([&](Tx& tx) -> Result<void> {
      auto r = tx.InsertNode(n);
      if (!r) return r.error();
      return {};
    });
  };
  Node a = MakeNode(u.id, 1, "a");
  a.ipv4 = boost::asio::ip::make_address_v4("100.64.0.1");
  ASSERT_TRUE(insert(a));
  Node same_key = MakeNode(u.id, 1, "b");
  EXPECT_EQ(insert(same_key).error().code, Errc::kAlreadyExists);
  Node same_name = MakeNode(u.id, 2, "a");
  EXPECT_EQ(insert(same_name).error().code, Errc::kAlreadyExists);
  Node same_ip = MakeNode(u.id, 3, "c");
  same_ip.ipv4 = a.ipv4;
  EXPECT_EQ(insert(same_ip).error().code, Errc::kAlreadyExists);
  EXPECT_EQ(Nodes(*s).size(), 1u);
}

TEST_F(SqliteStoreTest, FailedTransactionRollsBack) {
  auto s = OpenStore();
  User u = AddUser(*s, "dave");
  auto r = s->Transaction([&](Tx& tx) -> Result<void> {
    KEEL_TRY(tx.InsertNode(MakeNode(u.id, 1, "x")));
    return MakeError(Errc::kInvalidArgument, "changed my mind");
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "changed my mind");
  EXPECT_TRUE(Nodes(*s).empty());
}

TEST_F(SqliteStoreTest, UserWithNodesCannotBeDeleted) {
  auto s = OpenStore();
  User u = AddUser(*s, "erin");
  ASSERT_TRUE(s->Transaction([&](Tx& tx) -> Result<void> {
    KEEL_TRY(tx.InsertNode(MakeNode(u.id, 1, "x")));
    return {};
  }));
  auto r = s->Transaction([&](Tx& tx) { return tx.DeleteUser(u.id); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kFailedPrecondition);
  auto missing = s->Transaction([&](Tx& tx) { return tx.DeleteUser(9999); });
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
}

TEST_F(SqliteStoreTest, PreAuthKeysAndSettings) {
  auto s = OpenStore();
  User u = AddUser(*s, "frank");
  PreAuthKey k;
  k.prefix = "0123456789ab";
  k.secret_hash = std::string(64, 'f');
  k.user_id = u.id;
  k.reusable = true;
  k.tags = {"tag:ci"};
  k.created = T(5);
  k.expiration = T(500);
  ASSERT_TRUE(s->Transaction([&](Tx& tx) -> Result<void> {
    auto r = tx.InsertPreAuthKey(k);
    if (!r) return r.error();
    k.id = r->id;
    k.used = true;
    KEEL_TRY(tx.UpdatePreAuthKey(k));
    return tx.PutSetting("noise_private_key", "privkey:abc");
  }));
  s.reset();
  s = OpenStore();
  ASSERT_TRUE(s->Transaction([&](Tx& tx) -> Result<void> {
    auto keys = tx.ListPreAuthKeys();
    EXPECT_TRUE(keys);
    EXPECT_EQ(keys->size(), 1u);
    const PreAuthKey& got = keys->at(0);
    EXPECT_EQ(got.prefix, k.prefix);
    EXPECT_EQ(got.secret_hash, k.secret_hash);
    EXPECT_TRUE(got.reusable);
    EXPECT_TRUE(got.used);
    EXPECT_EQ(got.tags, k.tags);
    EXPECT_EQ(got.expiration, k.expiration);
    auto v = tx.GetSetting("noise_private_key");
    EXPECT_EQ(v->value_or(""), "privkey:abc");
    EXPECT_FALSE(tx.GetSetting("missing")->has_value());
    KEEL_TRY(tx.DeletePreAuthKeysOfUser(u.id));
    KEEL_TRY(tx.DeleteUser(u.id));
    return {};
  }));
}

TEST_F(SqliteStoreTest, CorruptFileGivesClearError) {
  {
    std::ofstream f(path_, std::ios::binary);
    f << std::string(4096, 'x');
  }
  auto s = SqliteStore::Open(path_);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("not a database"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find(path_), std::string::npos);
}

TEST_F(SqliteStoreTest, MissingDirectoryGivesClearError) {
  std::string bad = (dir_ / "no" / "such" / "dir" / "keel.db").string();
  auto s = SqliteStore::Open(bad);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("cannot open"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find(bad), std::string::npos);
}

TEST_F(SqliteStoreTest, UncreatableFileGivesError) {
  // The "directory" is a regular file: no database can be created under it, even by root
  // (which file modes would not stop).
  std::string file = (dir_ / "plain-file").string();
  std::ofstream(file) << "not a directory";
  std::string bad = file + "/keel.db";
  auto s = SqliteStore::Open(bad);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find(bad), std::string::npos) << s.error().message;
}

TEST_F(SqliteStoreTest, MemoryDatabaseWorks) {
  auto s = SqliteStore::Open(":memory:");
  ASSERT_TRUE(s);
  AddUser(**s, "mem");
}

}  // namespace
}  // namespace keel::store

namespace keel::store {
namespace {

TEST(SqliteStoreOpen, DirectoryPathGivesClearError) {
  auto dir = std::filesystem::temp_directory_path();
  auto s = SqliteStore::Open(dir.string());
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find(dir.string()), std::string::npos) << s.error().message;
}

// A full disk is no internal error: the write is refused, the caller may retry once there is
// room, and the message says why. max_page_count makes SQLite report SQLITE_FULL as ENOSPC does.
TEST(SqliteDbFull, WriteOnFullDatabaseIsUnavailableAndSaysSo) {
  auto db = SqliteDb::Open(":memory:");
  ASSERT_TRUE(db) << db.error().message;
  ASSERT_TRUE((*db)->Exec("CREATE TABLE t (x BLOB)"));
  ASSERT_TRUE((*db)->Exec("PRAGMA max_page_count = 2"));
  auto r = (*db)->Exec("INSERT INTO t VALUES (zeroblob(100000))");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUnavailable);
  EXPECT_NE(r.error().message.find("disk is full"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("no space left"), std::string::npos) << r.error().message;
  // Reads go on.
  auto count = (*db)->Prepare("SELECT count(*) FROM t");
  ASSERT_TRUE(count);
  ASSERT_TRUE(count->Step());
  EXPECT_EQ(count->Int(0), 0);
}

}  // namespace
}  // namespace keel::store
