// Asio's SSL support, compiled once for every module above http (BOOST_ASIO_SEPARATE_COMPILATION
// is set project-wide and base/asio_impl.cc compiles only the non-SSL parts): the HTTP client
// (client.cc), the DERP relay's TLS and the CLI all use it.
#include <boost/asio/ssl/impl/src.hpp>
