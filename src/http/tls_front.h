#pragma once
// TLS on the server's TCP listeners (Server::ListenTls). Each accepted connection completes
// its TLS handshake here; its plaintext then flows through a local socket pair into the same
// connection coroutine that plain TCP and unix connections run. Why a pair and not a second
// socket type in the connection code: the HTTP/1.1 loop, its upgrades (Noise, DERP, WebSocket)
// and its streamed answers are all written against one socket type, and a pair leaves them
// unchanged for one more copy and two descriptors per TLS connection.
// Threading: the server's executor, like everything in ServerState.

#include <openssl/ssl.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>

#include "http/server_internal.h"

namespace keel::http::internal {

// Serves one accepted TCP connection over TLS with `ctx` until either side ends it.
boost::asio::awaitable<void> ServeTlsConnection(std::shared_ptr<ServerState> state,
                                                std::shared_ptr<SSL_CTX> ctx,
                                                boost::asio::ip::tcp::socket socket,
                                                std::string remote);

}  // namespace keel::http::internal
