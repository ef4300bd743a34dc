#pragma once
// Client capability versions: the release a number first shipped in, and the readable text
// keel sends when it refuses a client that is too old. Pure; any thread.

#include <string>

namespace keel::tailcfg {

// "v1.80" for 113..114, "v1.74-v1.76" for 106 (both shipped it); "" before v1.24 (< 32) and
// past the newest release the table knows.
std::string ReleaseForCapVer(int capver);

// "keel: client capability version 95 (Tailscale v1.66) is too old; this server needs >= 113
// (v1.80)".
std::string TooOldMessage(int client_capver, int min_capver);

}  // namespace keel::tailcfg
