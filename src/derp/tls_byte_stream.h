#pragma once
// A ByteStream over an asio::ssl client stream, starting with bytes already read past the
// upgrade response: the mesh client's link to another relay (the listener's server side is
// TlsSocketStream). Threading: the stream's executor (ByteStream rules).

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <string>

#include "http/asio_byte_stream.h"

namespace keel::derp {

using TlsStream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;

}  // namespace keel::derp

namespace keel::http {
// Compiled once, in tls_byte_stream.cc.
extern template class AsioByteStream<derp::TlsStream>;
}  // namespace keel::http

namespace keel::derp {

class TlsByteStream final : public http::AsioByteStream<TlsStream> {
 public:
  using Stream = TlsStream;
  using AsioByteStream::AsioByteStream;

 protected:
  bool IsCleanEnd(const boost::system::error_code& ec) const override;
};

}  // namespace keel::derp
