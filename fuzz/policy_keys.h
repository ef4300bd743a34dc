#pragma once
// Policy file keys (Tailscale's ACL format as keel reads it) for the policy fuzz target's
// structure-aware mutator.

#include <string_view>

namespace keel::fuzz {

inline constexpr std::string_view kPolicyKeys[] = {
    "acls", "action", "src", "dst", "proto", "users", "groups", "tagOwners", "hosts",
    "autoApprovers", "routes", "exitNode", "ssh", "checkPeriod", "acceptEnv", "nodeAttrs",
    "target", "attr", "grants", "ip", "app", "via", "tests", "accept", "deny", "sshTests",
    "postures", "defaultSrcPosture", "srcPosture", "ipsets", "derpMap", "randomizeClientPort",
    "OneCGNATRoute", "ipPool", "check", "allow", "autogroup:member", "autogroup:self",
    "autogroup:tagged", "autogroup:internet", "autogroup:nonroot", "tag:server", "tag:exit",
    "tag:router", "group:admins", "odin@example.com", "*", "*:*",
};

}  // namespace keel::fuzz
