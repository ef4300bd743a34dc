#include "tailcfg/capver.h"

#include <array>
#include <utility>

namespace keel::tailcfg {
namespace {

// Each stable release with the capability version it shipped (Tailscale's tailcfg.go
// CurrentCapabilityVersion at each release tag); releases may share a version.
constexpr std::array<std::pair<int, const char*>, 40> kReleases{{
    {32, "v1.24"},  {32, "v1.26"},  {32, "v1.28"},  {41, "v1.30"},  {46, "v1.32"},
    {51, "v1.34"},  {56, "v1.36"},  {58, "v1.38"},  {61, "v1.40"},  {62, "v1.42"},
    {63, "v1.44"},  {65, "v1.46"},  {68, "v1.48"},  {74, "v1.50"},  {79, "v1.52"},
    {79, "v1.54"},  {82, "v1.56"},  {85, "v1.58"},  {87, "v1.60"},  {88, "v1.62"},
    {90, "v1.64"},  {95, "v1.66"},  {97, "v1.68"},  {102, "v1.70"}, {104, "v1.72"},
    {106, "v1.74"}, {106, "v1.76"}, {109, "v1.78"}, {113, "v1.80"}, {115, "v1.82"},
    {116, "v1.84"}, {123, "v1.86"}, {125, "v1.88"}, {130, "v1.90"}, {131, "v1.92"},
    {131, "v1.94"}, {133, "v1.96"}, {138, "v1.98"}, {141, "v1.100"}, {142, "v1.102"},
}};

std::string WithRelease(int capver, const char* prefix) {
  std::string release = ReleaseForCapVer(capver);
  std::string text = std::to_string(capver);
  if (!release.empty()) text += std::string(" (") + prefix + release + ")";
  return text;
}

}  // namespace

std::string ReleaseForCapVer(int capver) {
  // The newest release at or below capver, with any later release of the same version; a
  // version past the newest release here belongs to a release this table does not know.
  if (capver > kReleases.back().first) return "";
  int found = -1;
  for (const auto& [v, name] : kReleases) {
    if (v <= capver) found = v;
  }
  std::string first, last;
  for (const auto& [v, name] : kReleases) {
    if (v != found) continue;
    if (first.empty()) first = name;
    last = name;
  }
  return first == last ? first : first + "-" + last;
}

std::string TooOldMessage(int client_capver, int min_capver) {
  return "keel: client capability version " + WithRelease(client_capver, "Tailscale ") +
         " is too old; this server needs >= " + WithRelease(min_capver, "") +
         "; please upgrade Tailscale";
}

}  // namespace keel::tailcfg
