#pragma once
// ApiKeys: the keys that admit requests to /api/v1 over TCP (`keel apikeys`, Headscale's API
// keys). A key reads "keel-api-<prefix>-<secret>"; listings show only "keel-api-<prefix>-***".
//
// Only HMAC-BLAKE2s(hash key, secret) is stored, keyed with a random per-database key kept in
// the store's settings. Secrets are 192 random bits, so a fast hash is as safe as a slow one
// here, and a check costs microseconds instead of bcrypt's tens of milliseconds.
//
// Keys live in memory after Load(); every change is written to the store first. Checking a key
// records its last use, written to the store at most once a minute per key.
// Threading: thread-safe; calls that touch the store block on it (run them on the worker pool).

#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "model/types.h"
#include "store/store.h"

namespace keel::api {

inline constexpr std::string_view kApiKeyTextPrefix = "keel-api-";

struct CreatedApiKey {
  model::ApiKey key;
  std::string text;  // the whole key, shown once
};

class ApiKeys {
 public:
  // `store` and `clock` must outlive this.
  ApiKeys(store::Store& store, const Clock& clock);

  // Reads the keys and the hash key (creating it on first use).
  Result<void> Load();

  // `expiration` ZeroTime(): never expires.
  Result<CreatedApiKey> Create(SystemTime expiration);
  std::vector<model::ApiKey> List() const;
  // The key named by `prefix` (as listed, with or without "keel-api-" and "-***") or by `id`
  // (0: not given); kNotFound when none, kInvalidArgument when neither is given.
  Result<void> Expire(std::string_view prefix, model::ApiKeyId id);
  Result<void> Delete(std::string_view prefix, model::ApiKeyId id);

  // Success when `text` is a known, unexpired key; kUnauthenticated saying why not.
  Result<void> Check(std::string_view text);

  // "keel-api-<prefix>-***".
  static std::string MaskedPrefix(const model::ApiKey& key);

 private:
  Result<model::ApiKey*> Find(std::string_view prefix, model::ApiKeyId id);
  std::string Hash(std::string_view secret) const;

  store::Store& store_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::string hash_key_;                          // 32 raw bytes
  std::map<model::ApiKeyId, model::ApiKey> keys_;  // by id
};

}  // namespace keel::api
