// Asio's SSL support, compiled once (BOOST_ASIO_SEPARATE_COMPILATION is set project-wide and
// base/asio_impl.cc compiles only the non-SSL parts). If base ever compiles
// <boost/asio/ssl/impl/src.hpp> itself, delete this file.
#include <boost/asio/ssl/impl/src.hpp>
