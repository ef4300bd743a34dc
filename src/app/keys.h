#pragma once
// The server's long-lived private keys on disk: text "privkey:<64 hex>" (Headscale's format),
// mode 0600. Generated on first start, refused at every later start if unreadable or
// malformed, because silently replacing a key would log every client out.
// Blocking file I/O; call at startup only.

#include <memory>
#include <spdlog/logger.h>
#include <string>

#include "base/result.h"
#include "crypto/keys.h"

namespace keel::app {

// Reads the key at `path`, or generates and writes one if the file does not exist.
Result<crypto::PrivateKey> LoadOrCreateKey(const std::string& path, spdlog::logger& logger);

// Writes `key` to a new file at `path`, mode 0600; refuses a file that is already there.
Result<void> WriteKeyFile(const std::string& path, const crypto::PrivateKey& key);

// Reads the key file at `path` (also any Headscale wrote).
Result<crypto::PrivateKey> ReadKey(const std::string& path);

// Creates the directory that will hold `file_path` (and its parents); no-op when it has none.
Result<void> EnsureParentDir(const std::string& file_path);

}  // namespace keel::app
