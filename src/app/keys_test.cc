#include "app/keys.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "base/log.h"

namespace keel::app {
namespace {

class KeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("keel_keys_test_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
  std::shared_ptr<spdlog::logger> logger_ = GetLogger("keys_test");
};

TEST_F(KeysTest, GeneratesThenReloads) {
  std::string path = (dir_ / "sub" / "noise_private.key").string();
  auto first = LoadOrCreateKey(path, *logger_);
  ASSERT_TRUE(first) << first.error().message;
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, first->ToText());
  EXPECT_TRUE(text.starts_with("privkey:"));

  auto second = LoadOrCreateKey(path, *logger_);
  ASSERT_TRUE(second);
  EXPECT_EQ(*first, *second);
}

TEST_F(KeysTest, AcceptsKeyWithoutNewline) {
  std::filesystem::create_directories(dir_);
  std::string path = (dir_ / "k").string();
  std::string text = "privkey:" + std::string(62, '0') + "48";
  std::ofstream(path) << text;
  auto key = LoadOrCreateKey(path, *logger_);
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(key->ToText(), text);
}

TEST_F(KeysTest, RefusesGarbage) {
  std::filesystem::create_directories(dir_);
  std::string path = (dir_ / "k").string();
  const std::vector<std::string> bad_texts = {"", "hello", "privkey:1234",
                                              "nodekey:" + std::string(64, 'a'),
                                              "privkey:" + std::string(64, '0')};
  for (const std::string& bad : bad_texts) {
    std::ofstream(path, std::ios::trunc) << bad;
    auto key = LoadOrCreateKey(path, *logger_);
    ASSERT_FALSE(key) << bad;
    EXPECT_NE(key.error().message.find(path), std::string::npos);
  }
}

TEST_F(KeysTest, RefusesUnreadable) {
  // A directory where the key file should be: unreadable as a file even for root (file modes
  // would not stop root), and it must not be replaced by a fresh key.
  std::string path = (dir_ / "k").string();
  std::filesystem::create_directories(path);
  auto key = LoadOrCreateKey(path, *logger_);
  ASSERT_FALSE(key);
  EXPECT_NE(key.error().message.find(path), std::string::npos) << key.error().message;
  EXPECT_TRUE(std::filesystem::is_directory(path));
}

}  // namespace
}  // namespace keel::app
