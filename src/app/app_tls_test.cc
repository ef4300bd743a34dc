// TLS on the control listener (tls_cert_path / tls_key_path): the real client's view is in
// tests/e2e/test_control_tls.py; these check the listener's edges in process.
#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "app/app_test_fixture.h"
#include "derp/tls_cert.h"

namespace keel::app {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;

class AppTlsTest : public AppTest {
 protected:
  void SetUp() override {
    AppTest::SetUp();
    std::filesystem::create_directories(dir_);
    auto cert = derp::GenerateSelfSignedCertificate("127.0.0.1");
    ASSERT_TRUE(cert) << cert.error().message;
    cert_path_ = (dir_ / "control.crt").string();
    key_path_ = (dir_ / "control.key").string();
    std::ofstream(cert_path_) << cert->chain_pem;
    std::ofstream(key_path_) << cert->key_pem;
    config_.tls_cert_path = cert_path_;
    config_.tls_key_path = key_path_;
    config_.server_url = "https://127.0.0.1";
  }

  // One request over TLS, verifying the server against the test certificate.
  bhttp::response<bhttp::string_body> GetTls(uint16_t port, const std::string& target) {
    asio::io_context io;
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.load_verify_file(cert_path_);
    ctx.set_verify_mode(asio::ssl::verify_peer);
    asio::ssl::stream<tcp::socket> stream(io, ctx);
    stream.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    stream.handshake(asio::ssl::stream_base::client);
    bhttp::request<bhttp::string_body> req(bhttp::verb::get, target, 11);
    req.set(bhttp::field::host, "127.0.0.1");
    bhttp::write(stream, req);
    boost::beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(stream, buffer, res);
    return res;
  }

  std::string cert_path_, key_path_;
};

TEST_F(AppTlsTest, ControlListenerServesTlsAndRefusesPlainHttp) {
  auto app = App::Create(config_, TestOptions());
  ASSERT_TRUE(app) << app.error().message;
  (*app)->Start();
  uint16_t port = (*app)->http_port();

  // A client that connects and says nothing does not hold up the others.
  asio::io_context io;
  tcp::socket silent(io);
  silent.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));

  auto health = GetTls(port, "/health");
  EXPECT_EQ(health.result_int(), 200);
  EXPECT_EQ(health.body(), "{\"status\":\"pass\"}\n");
  auto key = GetTls(port, "/key?v=142");
  ASSERT_EQ(key.result_int(), 200) << key.body();
  auto doc = nlohmann::json::parse(key.body());
  EXPECT_TRUE(doc["publicKey"].get<std::string>().starts_with("mkey:"));
  // The admin API over TLS still wants its key.
  EXPECT_EQ(GetTls(port, "/api/v1/user").result_int(), 401);

  // Plain HTTP to the TLS port gets no HTTP answer: the handshake fails and the connection ends.
  tcp::socket plain(io);
  plain.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  std::string request = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  asio::write(plain, asio::buffer(request));
  std::string got;
  boost::system::error_code ec;
  asio::read(plain, asio::dynamic_buffer(got), ec);
  EXPECT_TRUE(ec) << "the connection ends";
  EXPECT_EQ(got.find("HTTP/1.1 200"), std::string::npos) << got;

  EXPECT_EQ(GetTls(port, "/health").result_int(), 200);
  (*app)->Stop();
  (*app)->Wait();
}

TEST_F(AppTlsTest, RefusesHalfOrMismatchedCertificateSettings) {
  config::Config only_cert = config_;
  only_cert.tls_key_path.clear();
  auto app = App::Create(only_cert, TestOptions());
  ASSERT_FALSE(app);
  EXPECT_NE(app.error().message.find("tls_cert_path and tls_key_path go together"),
            std::string::npos) << app.error().message;

  auto other = derp::GenerateSelfSignedCertificate("127.0.0.1");
  ASSERT_TRUE(other);
  std::string other_key = (dir_ / "other.key").string();
  std::ofstream(other_key) << other->key_pem;
  config::Config mismatched = config_;
  mismatched.tls_key_path = other_key;
  app = App::Create(mismatched, TestOptions());
  ASSERT_FALSE(app);
  EXPECT_NE(app.error().message.find("does not match the certificate"), std::string::npos)
      << app.error().message;

  config::Config missing = config_;
  missing.tls_cert_path = (dir_ / "nowhere.crt").string();
  app = App::Create(missing, TestOptions());
  ASSERT_FALSE(app);
  EXPECT_NE(app.error().message.find("nowhere.crt: no usable certificate"), std::string::npos)
      << app.error().message;
  EXPECT_TRUE(App::Create(config_, TestOptions())) << "the good pair still starts";
}

}  // namespace
}  // namespace keel::app
