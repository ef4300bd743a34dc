#include "http/tcp_byte_stream.h"

namespace keel::http {

template class AsioByteStream<boost::asio::generic::stream_protocol::socket>;

}  // namespace keel::http
