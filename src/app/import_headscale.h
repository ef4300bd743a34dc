#pragma once
// `keel import headscale`: brings a Headscale 0.29 SQLite database into keel's empty store, so
// an operator can stop Headscale, import, and start keel on the same server_url without any
// client logging in again.
//
// Brought over, ids kept: users; nodes with their machine, node and disco keys, addresses,
// given names, expiry, tags, approved routes and last Hostinfo; pre-auth keys as records (used
// flags, tags, expiry, the nodes that registered with them); the database-mode policy; and,
// with --noise-key, Headscale's Noise key, which clients have pinned. Headscale keeps only
// bcrypt hashes of its pre-auth and API key secrets, which keel cannot check: those keys are
// listed as needing a new key, and imported pre-auth keys admit no new registration.
//
// The source is opened read-only and never written. A schema other than Headscale 0.29's (a
// migration keel does not know, or one it expects missing) is refused, as is a keel database
// that already holds users or nodes.
// Threading: blocking; call from the CLI's thread while no keel serves the target database.

#include <string>
#include <vector>

#include "base/result.h"
#include "config/config.h"

namespace keel::app {

struct ImportReport {
  size_t users = 0;
  size_t nodes = 0;
  size_t pre_auth_keys = 0;
  bool policy = false;
  bool noise_key = false;
  // What the operator must do by hand (keys to re-issue, nodes adjusted), one line each.
  std::vector<std::string> notes;
};

// Imports `headscale_db` into the database `config` names; `noise_key` is Headscale's
// noise_private.key ("" keeps keel's own, and every client must log in again).
Result<ImportReport> ImportHeadscale(const config::Config& config,
                                     const std::string& headscale_db,
                                     const std::string& noise_key);

}  // namespace keel::app
