#include "derp/tls_byte_stream.h"

#include <boost/asio/ssl/error.hpp>

namespace keel::http {
template class AsioByteStream<derp::TlsStream>;
}  // namespace keel::http

namespace keel::derp {

// Clients usually drop the TCP connection without a close_notify.
bool TlsByteStream::IsCleanEnd(const boost::system::error_code& ec) const {
  return ec == boost::asio::ssl::error::stream_truncated;
}

}  // namespace keel::derp
