#include "api/api_keys.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "base/bytes.h"
#include "crypto/blake2s.h"
#include "tailnet/auth_key.h"

namespace keel::api {
namespace {

constexpr std::string_view kHashKeySetting = "api_key_hash_key";
// A last-use time this recent is not written again.
constexpr auto kLastSeenGranularity = std::chrono::minutes(1);

Error Unauthenticated(std::string why) { return MakeError(Errc::kUnauthenticated, std::move(why)); }

// The bare prefix of "keel-api-<prefix>-***", "keel-api-<prefix>" or "<prefix>".
std::string_view BarePrefix(std::string_view text) {
  if (text.starts_with(kApiKeyTextPrefix)) text.remove_prefix(kApiKeyTextPrefix.size());
  if (text.ends_with("-***")) text.remove_suffix(4);
  return text;
}

}  // namespace

ApiKeys::ApiKeys(store::Store& store, const Clock& clock) : store_(store), clock_(clock) {}

Result<void> ApiKeys::Load() {
  std::vector<model::ApiKey> loaded;
  std::string hash_key;
  KEEL_TRY(store_.Transaction([&](store::Tx& tx) -> Result<void> {
    auto keys = tx.ListApiKeys();
    if (!keys) return keys.error();
    loaded = std::move(*keys);
    auto stored = tx.GetSetting(kHashKeySetting);
    if (!stored) return stored.error();
    if (*stored) {
      auto raw = HexDecode(**stored);
      if (!raw || raw->size() != 32) {
        return MakeError(Errc::kDataLoss, "setting api_key_hash_key is not 32 hex bytes");
      }
      hash_key.assign(raw->begin(), raw->end());
      return {};
    }
    Bytes fresh(32);
    if (RAND_bytes(fresh.data(), static_cast<int>(fresh.size())) != 1) {
      return MakeError(Errc::kInternal, "random number generator failed");
    }
    hash_key.assign(fresh.begin(), fresh.end());
    return tx.PutSetting(kHashKeySetting, HexEncode(fresh));
  }));
  std::lock_guard lock(mu_);
  hash_key_ = std::move(hash_key);
  keys_.clear();
  for (auto& k : loaded) keys_.emplace(k.id, std::move(k));
  return {};
}

std::string ApiKeys::Hash(std::string_view secret) const {
  auto key = std::span(reinterpret_cast<const uint8_t*>(hash_key_.data()), hash_key_.size());
  auto mac = crypto::HmacBlake2s(
      key, {std::span(reinterpret_cast<const uint8_t*>(secret.data()), secret.size())});
  return HexEncode(mac);
}

Result<CreatedApiKey> ApiKeys::Create(SystemTime expiration) {
  auto generated = tailnet::GenerateAuthKey(kApiKeyTextPrefix);
  if (!generated) return generated.error();
  auto parts = tailnet::ParseAuthKey(generated->text, kApiKeyTextPrefix);
  if (!parts) return MakeError(Errc::kInternal, "generated API key does not parse");
  std::lock_guard lock(mu_);
  model::ApiKey key;
  key.prefix = parts->prefix;
  key.secret_hash = Hash(parts->secret);
  key.created = clock_.Now();
  key.expiration = expiration;
  Result<model::ApiKey> stored = MakeError(Errc::kInternal, "unset");
  KEEL_TRY(store_.Transaction([&](store::Tx& tx) -> Result<void> {
    stored = tx.InsertApiKey(key);
    return stored ? Result<void>() : Result<void>(stored.error());
  }));
  keys_[stored->id] = *stored;
  return CreatedApiKey{*stored, generated->text};
}

std::vector<model::ApiKey> ApiKeys::List() const {
  std::lock_guard lock(mu_);
  std::vector<model::ApiKey> out;
  for (const auto& [id, key] : keys_) out.push_back(key);
  return out;
}

Result<model::ApiKey*> ApiKeys::Find(std::string_view prefix, model::ApiKeyId id) {
  if (prefix.empty() && id == 0) {
    return MakeError(Errc::kInvalidArgument, "name the API key by its prefix or its id");
  }
  std::string_view bare = BarePrefix(prefix);
  for (auto& [key_id, key] : keys_) {
    if ((id != 0 && key_id == id) || (id == 0 && key.prefix == bare)) return &key;
  }
  return MakeError(Errc::kNotFound, id != 0 ? "API key " + std::to_string(id) + " not found"
                                            : "API key " + std::string(prefix) + " not found");
}

Result<void> ApiKeys::Expire(std::string_view prefix, model::ApiKeyId id) {
  std::lock_guard lock(mu_);
  auto key = Find(prefix, id);
  if (!key) return key.error();
  model::ApiKey updated = **key;
  SystemTime now = clock_.Now();
  if (!updated.IsExpired(now)) updated.expiration = now;
  KEEL_TRY(store_.Transaction([&](store::Tx& tx) { return tx.UpdateApiKey(updated); }));
  **key = updated;
  return {};
}

Result<void> ApiKeys::Delete(std::string_view prefix, model::ApiKeyId id) {
  std::lock_guard lock(mu_);
  auto key = Find(prefix, id);
  if (!key) return key.error();
  model::ApiKeyId gone = (*key)->id;
  KEEL_TRY(store_.Transaction([&](store::Tx& tx) { return tx.DeleteApiKey(gone); }));
  keys_.erase(gone);
  return {};
}

Result<void> ApiKeys::Check(std::string_view text) {
  auto parts = tailnet::ParseAuthKey(text, kApiKeyTextPrefix);
  if (!parts) return Unauthenticated("malformed API key");
  std::lock_guard lock(mu_);
  for (auto& [id, key] : keys_) {
    if (key.prefix != parts->prefix) continue;
    std::string computed = Hash(parts->secret);
    if (computed.size() != key.secret_hash.size() ||
        CRYPTO_memcmp(computed.data(), key.secret_hash.data(), computed.size()) != 0) {
      return Unauthenticated("invalid API key");
    }
    SystemTime now = clock_.Now();
    if (key.IsExpired(now)) return Unauthenticated("API key expired");
    if (IsZeroTime(key.last_seen) || now - key.last_seen >= kLastSeenGranularity) {
      model::ApiKey updated = key;
      updated.last_seen = now;
      // Losing a last-use time is harmless; the request is admitted either way.
      if (store_.Transaction([&](store::Tx& tx) { return tx.UpdateApiKey(updated); })) {
        key = updated;
      }
    }
    return {};
  }
  return Unauthenticated("invalid API key");
}

std::string ApiKeys::MaskedPrefix(const model::ApiKey& key) {
  return std::string(kApiKeyTextPrefix) + key.prefix + "-***";
}

}  // namespace keel::api
