#include "tailcfg/capver.h"

#include <array>
#include <utility>

namespace keel::tailcfg {
namespace {

// First capability version of each minor release (Headscale's capver_generated.go).
constexpr std::array<std::pair<int, const char*>, 19> kReleases{{
    {88, "v1.62"},  {90, "v1.64"},  {95, "v1.66"},  {97, "v1.68"},  {102, "v1.70"},
    {104, "v1.72"}, {106, "v1.74"}, {109, "v1.78"}, {113, "v1.80"}, {115, "v1.82"},
    {116, "v1.84"}, {123, "v1.86"}, {125, "v1.88"}, {130, "v1.90"}, {131, "v1.92"},
    {133, "v1.96"}, {138, "v1.98"}, {142, "v1.102"}, {145, "v1.103"},
}};

std::string WithRelease(int capver, const char* prefix) {
  std::string release = ReleaseForCapVer(capver);
  std::string text = std::to_string(capver);
  if (!release.empty()) text += std::string(" (") + prefix + release + ")";
  return text;
}

}  // namespace

std::string ReleaseForCapVer(int capver) {
  const char* found = "";
  for (const auto& [first, name] : kReleases) {
    if (capver >= first) found = name;
  }
  return found;
}

std::string TooOldMessage(int client_capver, int min_capver) {
  return "keel: client capability version " + WithRelease(client_capver, "Tailscale ") +
         " is too old; this server needs >= " + WithRelease(min_capver, "") +
         "; please upgrade Tailscale";
}

}  // namespace keel::tailcfg
