// log.format json: one parseable object a line, whatever the message holds.

#include "base/log.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <nlohmann/json.hpp>
#include <sstream>

namespace keel {
namespace {

TEST(LogTest, JsonFormatWritesOneObjectALine) {
  std::ostringstream out;
  auto logger = std::make_shared<spdlog::logger>(
      "json-test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  spdlog::register_logger(logger);
  ASSERT_TRUE(SetLogFormat("json"));
  logger->warn("a \"quoted\" {} with\nnewline", 42);
  ASSERT_TRUE(SetLogFormat("text"));
  logger->info("plain again");
  spdlog::drop("json-test");
  EXPECT_FALSE(SetLogFormat("xml"));

  std::istringstream lines(out.str());
  std::string first, second;
  std::getline(lines, first);
  std::getline(lines, second);
  auto j = nlohmann::json::parse(first);
  EXPECT_EQ(j["level"], "warning");
  EXPECT_EQ(j["logger"], "json-test");
  EXPECT_EQ(j["message"], "a \"quoted\" 42 with\nnewline");
  EXPECT_TRUE(j["time"].get<std::string>().ends_with("Z"));
  EXPECT_NE(second.find("plain again"), std::string::npos);
  EXPECT_FALSE(nlohmann::json::accept(second));
}

}  // namespace
}  // namespace keel
