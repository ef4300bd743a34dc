#include "cli/commands.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "app/app.h"
#include "cli/output.h"
#include "cli/api_client.h"

namespace keel::cli {
namespace {

using nlohmann::json;

struct CliRun {
  int code;
  std::string out;
  std::string err;
};

CliRun Cli(std::vector<std::string> args) {
  args.insert(args.begin(), "keel");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  std::istringstream in;
  std::ostringstream out, err;
  int code = RunCli(static_cast<int>(argv.size()), argv.data(), in, out, err);
  return CliRun{code, out.str(), err.str()};
}

TEST(CliArgsTest, BadArgumentsFail) {
  EXPECT_NE(Cli({}).code, 0);
  EXPECT_NE(Cli({"frobnicate"}).code, 0);
  EXPECT_NE(Cli({"users"}).code, 0);
  EXPECT_NE(Cli({"users", "create"}).code, 0);
  EXPECT_NE(Cli({"nodes", "delete"}).code, 0);
  EXPECT_NE(Cli({"nodes", "delete", "-i", "abc"}).code, 0);
  EXPECT_NE(Cli({"nodes", "rename", "-i", "3"}).code, 0);
  EXPECT_NE(Cli({"preauthkeys", "create"}).code, 0);
  auto r = Cli({"users", "list", "-o", "xml"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("xml"), std::string::npos);
  EXPECT_EQ(Cli({"--help"}).code, 0);
  r = Cli({"frobnicate"});
  EXPECT_EQ(r.err, "Error: unknown command \"frobnicate\" for \"keel\"\n");
  r = Cli({"nodes", "frobnicate"});
  EXPECT_NE(r.err.find("unknown command \"frobnicate\" for \"keel nodes\""), std::string::npos)
      << r.err;
  // Errors under -o json are JSON too.
  r = Cli({"-o", "json", "nodes", "delete", "-i", "abc"});
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(json::parse(r.err).contains("error")) << r.err;
}

TEST(CliArgsTest, BadConfigAndDuration) {
  auto r = Cli({"-c", "/nonexistent/keel.yaml", "users", "list"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("/nonexistent/keel.yaml"), std::string::npos);
  r = Cli({"preauthkeys", "create", "--user", "a", "--expiration", "soon"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("--expiration"), std::string::npos);
}

TEST(CliArgsTest, VersionAndConfigTest) {
  auto v = Cli({"version"});
  EXPECT_EQ(v.code, 0);
  EXPECT_EQ(v.out.rfind("keel ", 0), 0u) << v.out;
  auto flag = Cli({"--version"});
  EXPECT_EQ(flag.code, 0);
  EXPECT_EQ(flag.out, v.out);
  auto dir = std::filesystem::temp_directory_path() / ("keel_cli_configtest_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "good.yaml") << "server_url: http://127.0.0.1:9999\n";
  std::ofstream(dir / "typo.yaml") << "server_ur: http://127.0.0.1:9999\n";
  auto good = Cli({"-c", (dir / "good.yaml").string(), "configtest"});
  EXPECT_EQ(good.code, 0) << good.err;
  EXPECT_NE(good.out.find("is valid"), std::string::npos);
  auto typo = Cli({"-c", (dir / "typo.yaml").string(), "configtest"});
  EXPECT_EQ(typo.code, 1);
  EXPECT_NE(typo.err.find("did you mean \"server_url\"?"), std::string::npos) << typo.err;
  std::filesystem::remove_all(dir);
}

TEST(CliArgsTest, GeneratePrivateKey) {
  auto r = Cli({"generate", "private-key"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("privkey:")) << r.out;
  EXPECT_EQ(r.out.size(), 8u + 64u + 1u);
  auto again = Cli({"gen", "private-key", "-o", "json"});
  EXPECT_EQ(again.code, 0) << again.err;
  auto j = nlohmann::json::parse(again.out);
  EXPECT_TRUE(j["private_key"].get<std::string>().starts_with("privkey:"));
  EXPECT_NE(j["private_key"].get<std::string>() + "\n", r.out);
  EXPECT_NE(Cli({"generate"}).code, 0);
}

TEST(CliArgsTest, HeadscalePolicyAliases) {
  // Parsed as policy get / set: they get as far as reaching the (absent) server.
  for (const char* alias : {"get", "show", "view", "fetch"}) {
    auto r = Cli({"--remote", "http://127.0.0.1:1", "--api-key", "k", "policy", alias});
    EXPECT_EQ(r.code, 1) << alias;
    EXPECT_NE(r.err.find("cannot reach keel"), std::string::npos) << alias << ": " << r.err;
  }
  for (const char* alias : {"set", "put", "update"}) {
    auto r = Cli({"policy", alias});
    EXPECT_NE(r.code, 0) << alias;
    EXPECT_NE(r.err.find("--file"), std::string::npos) << alias << ": " << r.err;
  }
}

TEST(CliArgsTest, UnreachableServer) {
  ApiEndpoint endpoint;
  endpoint.unix_socket = "/nonexistent/keel.sock";
  auto reply = ApiRequest(endpoint, "GET", "/api/v1/user");
  ASSERT_FALSE(reply);
  EXPECT_NE(reply.error().message.find("cannot reach keel at /nonexistent/keel.sock"),
            std::string::npos);
  EXPECT_NE(reply.error().message.find("is `keel serve` running?"), std::string::npos);
}

TEST(OutputTest, Table) {
  EXPECT_EQ(RenderTable({"ID", "Name"}, {{"1", "alice"}, {"22", "b"}}),
            "ID | Name\n1  | alice\n22 | b\n");
  EXPECT_EQ(Cell(nullptr), "-");
  EXPECT_EQ(Cell(true), "yes");
  EXPECT_EQ(Cell(json::array({"a", "b"})), "a, b");
  EXPECT_EQ(Cell(7), "7");
  EXPECT_EQ(RenderOutput(json{{"a", 1}}, "json-line"), "{\"a\":1}\n");
  EXPECT_EQ(RenderOutput(json{{"id", "1"}, {"tags", json::array({"tag:a"})}, {"on", true}},
                         "yaml"),
            "id: \"1\"\non: true\ntags:\n  - \"tag:a\"\n");
}

// The CLI against a real server in this process: App on port 0 and a temp unix socket.
class CliEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("keel_cli_test_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    config_path_ = (dir_ / "config.yaml").string();
    std::ofstream(config_path_) << "listen_addr: 127.0.0.1:0\nmetrics_listen_addr: 127.0.0.1:0\n"
                                << "unix_socket: " << (dir_ / "keel.sock").string() << "\n"
                                << "private_key_path: " << (dir_ / "private.key").string() << "\n"
                                << "noise:\n  private_key_path: " << (dir_ / "noise.key").string()
                                << "\ndatabase:\n  sqlite:\n    path: "
                                << (dir_ / "db.sqlite").string() << "\n";
    auto config = config::LoadConfig(config_path_);
    ASSERT_TRUE(config) << config.error().message;
    app::Options options;
    options.handle_signals = false;
    auto app = app::App::Create(*config, options);
    ASSERT_TRUE(app) << app.error().message;
    app_ = std::move(*app);
    app_->Start();
  }
  void TearDown() override {
    if (app_) {
      app_->Stop();
      app_->Wait();
      app_.reset();
    }
    std::filesystem::remove_all(dir_);
  }

  CliRun Keel(std::vector<std::string> args) {
    args.insert(args.begin(), {"-c", config_path_});
    return Cli(std::move(args));
  }

  std::filesystem::path dir_;
  std::string config_path_;
  std::unique_ptr<app::App> app_;
};

TEST_F(CliEndToEndTest, UsersKeysNodes) {
  auto r = Keel({"users", "create", "alice", "--email", "alice@example.com"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "User created\n");
  r = Keel({"users", "create", "alice"});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(r.err.starts_with("Error: ")) << r.err;
  r = Keel({"users", "create", "alice", "-o", "json"});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(json::parse(r.err)["error"].is_string()) << r.err;

  // -o json prints the API's own shape.
  r = Keel({"users", "list", "-o", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  json users = json::parse(r.out);
  ASSERT_EQ(users.size(), 1u);
  EXPECT_EQ(users[0]["id"], "1");
  EXPECT_EQ(users[0]["name"], "alice");
  EXPECT_EQ(users[0]["email"], "alice@example.com");
  EXPECT_TRUE(users[0]["createdAt"].is_string());
  r = Keel({"users", "list"});
  EXPECT_NE(r.out.find("alice@example.com"), std::string::npos);
  r = Keel({"users", "list", "-o", "yaml"});
  EXPECT_NE(r.out.find("name: \"alice\""), std::string::npos) << r.out;

  // -u takes an id, as in Headscale 0.29, or a name.
  r = Keel({"preauthkeys", "create", "-u", "1", "--reusable", "--expiration", "24h"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::string key = r.out.substr(0, r.out.find('\n'));
  EXPECT_TRUE(key.starts_with("keel-auth-")) << key;
  EXPECT_EQ(r.out, key + "\n");  // table mode prints just the key
  EXPECT_EQ(Keel({"preauthkeys", "create", "--user", "alice"}).code, 0);
  // --expiration 0 is Headscale's "now": the key is born expired.
  r = Keel({"preauthkeys", "create", "-u", "alice", "-e", "0", "-o", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_LE(ParseTime(json::parse(r.out)["expiration"].get<std::string>()).value(),
            std::chrono::system_clock::now());

  r = Keel({"preauthkeys", "list", "-o", "json-line"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1);
  json keys = json::parse(r.out);
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[0]["reusable"], true);
  EXPECT_EQ(keys[0]["user"]["name"], "alice");
  EXPECT_TRUE(keys[0]["key"].get<std::string>().ends_with("-***"));

  EXPECT_EQ(Keel({"preauthkeys", "expire", "-i", keys[0]["id"]}).code, 0);
  EXPECT_EQ(Keel({"preauthkeys", "expire", key}).code, 0);
  EXPECT_EQ(Keel({"preauthkeys", "delete", "-i", "2"}).code, 0);
  EXPECT_EQ(json::parse(Keel({"preauthkeys", "list", "-o", "json"}).out).size(), 2u);

  r = Keel({"nodes", "list", "-o", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out), json::array());
  r = Keel({"nodes", "delete", "-i", "42", "--force"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("Error: "), std::string::npos);
  EXPECT_EQ(Keel({"health"}).out, "Database: OK\n");

  r = Keel({"users", "destroy", "--name", "alice", "--force"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(Keel({"users", "list", "-o", "json"}).out), json::array());
}

// Remote mode: the CLI over TCP with an API key, as Headscale's cli.address / cli.api_key.
TEST_F(CliEndToEndTest, RemoteWithApiKey) {
  auto r = Keel({"apikeys", "create", "-e", "1h"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::string key = r.out.substr(0, r.out.find('\n'));
  EXPECT_TRUE(key.starts_with("keel-api-")) << key;
  std::string url = "http://127.0.0.1:" + std::to_string(app_->http_port());

  r = Cli({"--remote", url, "--api-key", key, "users", "create", "remote-user"});
  EXPECT_EQ(r.code, 0) << r.err;
  r = Cli({"--remote", url, "users", "list"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("needs an API key"), std::string::npos) << r.err;
  r = Cli({"--remote", url, "--api-key", key + "x", "users", "list"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("malformed API key"), std::string::npos) << r.err;

  r = Keel({"apikeys", "list", "-o", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  json listed = json::parse(r.out);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_TRUE(listed[0]["lastSeen"].is_string());
  std::string prefix = listed[0]["prefix"];
  EXPECT_EQ(Keel({"apikeys", "expire", "--prefix", prefix}).code, 0);
  r = Cli({"--remote", url, "--api-key", key, "users", "list"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("API key expired"), std::string::npos) << r.err;
  EXPECT_EQ(Keel({"apikeys", "delete", "-i", listed[0]["id"]}).code, 0);
  EXPECT_EQ(json::parse(Keel({"apikeys", "list", "-o", "json"}).out), json::array());
}

TEST_F(CliEndToEndTest, ServerGoneGivesClearError) {
  app_->Stop();
  app_->Wait();
  app_.reset();
  auto r = Keel({"users", "list"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("is `keel serve` running?"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace keel::cli
