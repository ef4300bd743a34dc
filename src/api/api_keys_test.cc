// ApiKeys on a real SQLite store: what is stored, what is admitted, and last-use bookkeeping.

#include "api/api_keys.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "store/sqlite_store.h"
#include "tailnet/test_fixture.h"

namespace keel::api {
namespace {

class ApiKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("keel_api_keys_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    store_ = store::SqliteStore::Open((dir_ / "db.sqlite").string()).value();
    keys_ = std::make_unique<ApiKeys>(*store_, clock_);
    ASSERT_TRUE(keys_->Load());
  }
  void TearDown() override {
    keys_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::vector<model::ApiKey> Stored() {
    std::vector<model::ApiKey> out;
    EXPECT_TRUE(store_->Transaction([&](store::Tx& tx) -> Result<void> {
      out = tx.ListApiKeys().value();
      return {};
    }));
    return out;
  }

  std::filesystem::path dir_;
  tailnet::FakeClock clock_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<ApiKeys> keys_;
};

TEST_F(ApiKeysTest, StoresOnlyAKeyedHash) {
  auto created = keys_->Create(ZeroTime()).value();
  std::string secret = created.text.substr(created.text.rfind('-') + 1);
  auto stored = Stored();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].prefix, created.key.prefix);
  EXPECT_EQ(stored[0].secret_hash.size(), 64u);
  EXPECT_EQ(stored[0].secret_hash.find(secret), std::string::npos);
  EXPECT_TRUE(keys_->Check(created.text));

  // Another database has another hash key: the same secret hashes differently there.
  auto other_store = store::SqliteStore::Open((dir_ / "other.sqlite").string()).value();
  ApiKeys other(*other_store, clock_);
  ASSERT_TRUE(other.Load());
  EXPECT_FALSE(other.Check(created.text));
}

TEST_F(ApiKeysTest, RefusesWithAReason) {
  auto created = keys_->Create(clock_.Now() + std::chrono::hours(1)).value();
  EXPECT_EQ(keys_->Check("").error().code, Errc::kUnauthenticated);
  EXPECT_EQ(keys_->Check("keel-api-garbage").error().message, "malformed API key");
  std::string other_prefix = created.text;
  other_prefix[9] = other_prefix[9] == 'a' ? 'b' : 'a';
  EXPECT_EQ(keys_->Check(other_prefix).error().message, "invalid API key");
  clock_.Advance(std::chrono::hours(2));
  EXPECT_EQ(keys_->Check(created.text).error().message, "API key expired");
}

TEST_F(ApiKeysTest, LastUseIsWrittenAtMostOnceAMinute) {
  auto created = keys_->Create(ZeroTime()).value();
  ASSERT_TRUE(keys_->Check(created.text));
  SystemTime first = Stored()[0].last_seen;
  EXPECT_EQ(first, clock_.Now());
  clock_.Advance(std::chrono::seconds(30));
  ASSERT_TRUE(keys_->Check(created.text));
  EXPECT_EQ(Stored()[0].last_seen, first);
  clock_.Advance(std::chrono::seconds(31));
  ASSERT_TRUE(keys_->Check(created.text));
  EXPECT_EQ(Stored()[0].last_seen, clock_.Now());
}

TEST_F(ApiKeysTest, ExpireAndDeleteByPrefixOrId) {
  auto a = keys_->Create(ZeroTime()).value();
  auto b = keys_->Create(ZeroTime()).value();
  EXPECT_TRUE(keys_->Expire(ApiKeys::MaskedPrefix(a.key), 0));
  EXPECT_FALSE(keys_->Check(a.text));
  EXPECT_TRUE(keys_->Delete("", b.key.id));
  EXPECT_FALSE(keys_->Check(b.text));
  EXPECT_EQ(keys_->Delete("", b.key.id).error().code, Errc::kNotFound);
  EXPECT_EQ(keys_->Expire("", 0).error().code, Errc::kInvalidArgument);
  // Everything survives a reload from the store.
  ApiKeys reloaded(*store_, clock_);
  ASSERT_TRUE(reloaded.Load());
  ASSERT_EQ(reloaded.List().size(), 1u);
  EXPECT_FALSE(reloaded.Check(a.text));
}

}  // namespace
}  // namespace keel::api
