#pragma once
// Errors as values at module boundaries (architecture.md decision 6).
//
// Result<T> is boost::system::result<T, Error>. Error carries an Errc for code that branches
// on the kind of failure and a message meant for the operator or the remote user; the
// message is what ends up in logs, CLI output and RegisterResponse.Error.

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>
#include <string>
#include <string_view>

namespace keel {

enum class Errc {
  kInvalidArgument = 1,  // bad input from a client or an admin
  kNotFound,
  kAlreadyExists,
  kPermissionDenied,
  kUnauthenticated,
  kFailedPrecondition,  // the request is valid but the state forbids it (expired, used)
  kResourceExhausted,   // size limits, address pools
  kUnavailable,         // transient: the caller may retry
  kUnsupported,         // e.g. a capability version we do not serve
  kInternal,
  kDataLoss,
};

struct Error {
  Errc code = Errc::kInternal;
  std::string message;
};

template <class T>
using Result = boost::system::result<T, Error>;

inline Error MakeError(Errc code, std::string message) { return Error{code, std::move(message)}; }

std::string_view ErrcName(Errc code);

// Found by ADL when Result<T>::value() is called on an error: throws std::runtime_error with
// the message. Only for code paths where an error is a bug (tests, startup).
[[noreturn]] void throw_exception_from_error(const Error& e, const boost::source_location& loc);

// Returns early from the enclosing function with the error of `expr` if it failed.
#define KEEL_TRY(expr)                                  \
  do {                                                  \
    auto keel_try_r_ = (expr);                          \
    if (!keel_try_r_) return keel_try_r_.error();       \
  } while (0)

}  // namespace keel
