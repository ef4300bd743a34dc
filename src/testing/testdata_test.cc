#include "testing/testdata.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace keel::testing {
namespace {

TEST(TestData, ReadsPlainFiles) {
  auto v = ReadTestJson("noise/ts2021_vectors.json");
  EXPECT_TRUE(v.contains("vectors"));
}

TEST(TestData, FindsAndDecompressesZstdCaptures) {
  auto files = ListTestData("policy-golden/acl_results", ".json");
  ASSERT_FALSE(files.empty());
  EXPECT_EQ(files.front(), "policy-golden/acl_results/acl-a01.json");
  auto doc = ReadTestJson(files.front());
  EXPECT_EQ(doc.value("test_id", ""), "acl-a01");
}

TEST(TestData, MissingFileNamesItAndTheWayToRestoreIt) {
  try {
    ReadTestData("noise/no-such-vectors.json");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("testdata/noise/no-such-vectors.json"), std::string::npos) << what;
    EXPECT_NE(what.find("git checkout -- testdata"), std::string::npos) << what;
  }
  EXPECT_THROW(ListTestData("no-such-folder", ".json"), std::runtime_error);
}

}  // namespace
}  // namespace keel::testing
