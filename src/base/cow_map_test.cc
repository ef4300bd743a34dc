#include "base/cow_map.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

namespace keel {
namespace {

struct By8 {
  uint64_t operator()(int k) const { return static_cast<uint64_t>(k) / 8; }
};
using Map = CowMap<int, std::string, By8>;

std::vector<std::pair<int, std::string>> Items(const Map& m) {
  return {m.begin(), m.end()};
}

TEST(CowMap, BehavesAsAnOrderedMap) {
  Map m;
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(m.begin(), m.end());
  m[20] = "twenty";
  m[3] = "three";
  m[9] = "nine";
  m[3] = "THREE";
  EXPECT_EQ(m.size(), 3u);
  EXPECT_EQ(Items(m), (std::vector<std::pair<int, std::string>>{{3, "THREE"}, {9, "nine"}, {20, "twenty"}}));
  ASSERT_NE(m.find(9), m.end());
  EXPECT_EQ(m.find(9)->second, "nine");
  EXPECT_EQ(m.find(10), m.end());
  EXPECT_EQ(m.find(100), m.end());
  EXPECT_TRUE(m.contains(20));
  EXPECT_EQ(m.erase(9), 1u);
  EXPECT_EQ(m.erase(9), 0u);
  EXPECT_EQ(Items(m), (std::vector<std::pair<int, std::string>>{{3, "THREE"}, {20, "twenty"}}));
  m.clear();
  EXPECT_TRUE(m.empty());
}

TEST(CowMap, ACopyIsIndependentOfItsSource) {
  Map a;
  for (int k = 0; k < 40; ++k) a[k] = std::to_string(k);
  Map b = a;
  b[5] = "changed";
  b.erase(17);
  b[99] = "new";
  EXPECT_EQ(a.find(5)->second, "5");
  EXPECT_TRUE(a.contains(17));
  EXPECT_FALSE(a.contains(99));
  EXPECT_EQ(a.size(), 40u);
  EXPECT_EQ(b.find(5)->second, "changed");
  EXPECT_FALSE(b.contains(17));
  EXPECT_EQ(b.size(), 40u);
  // The source is still whole after the copy goes away.
  b = Map();
  EXPECT_EQ(a.find(39)->second, "39");
}

TEST(CowMap, MatchesStdMapUnderRandomEditsOfCopies) {
  std::mt19937 rng(7);
  Map cow;
  std::map<int, std::string> ref;
  std::vector<Map> history;
  for (int step = 0; step < 3000; ++step) {
    int k = static_cast<int>(rng() % 200);
    if (rng() % 3 == 0) {
      EXPECT_EQ(cow.erase(k), ref.erase(k));
    } else {
      cow[k] = ref[k] = std::to_string(step);
    }
    if (step % 100 == 0) history.push_back(cow);  // shares chunks with later edits
    ASSERT_EQ(cow.size(), ref.size());
  }
  EXPECT_EQ(Items(cow), (std::vector<std::pair<int, std::string>>(ref.begin(), ref.end())));
  for (const Map& old : history) EXPECT_LE(old.size(), 200u);
}

}  // namespace
}  // namespace keel
