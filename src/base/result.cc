#include "base/result.h"

#include <stdexcept>

namespace keel {

std::string_view ErrcName(Errc code) {
  switch (code) {
    case Errc::kInvalidArgument: return "invalid argument";
    case Errc::kNotFound: return "not found";
    case Errc::kAlreadyExists: return "already exists";
    case Errc::kPermissionDenied: return "permission denied";
    case Errc::kUnauthenticated: return "unauthenticated";
    case Errc::kFailedPrecondition: return "failed precondition";
    case Errc::kResourceExhausted: return "resource exhausted";
    case Errc::kUnavailable: return "unavailable";
    case Errc::kUnsupported: return "unsupported";
    case Errc::kInternal: return "internal";
    case Errc::kDataLoss: return "data loss";
  }
  return "unknown";
}

void throw_exception_from_error(const Error& e, const boost::source_location& loc) {
  throw std::runtime_error(std::string(loc.file_name()) + ":" + std::to_string(loc.line()) +
                           ": " + std::string(ErrcName(e.code)) + ": " + e.message);
}

}  // namespace keel
