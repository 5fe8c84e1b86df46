#include "profile/store.h"

#include <rocksdb/write_batch.h>

#include <algorithm>
#include <chrono>
#include <functional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/text.h"
#include "profile/crypto.h"

namespace aurora::profile {
namespace {

constexpr char kFormatKey[] = "m/format";
constexpr char kFormat[] = "1";

std::string UserPrefix(char kind, const std::string& user) {
  return absl::StrCat(std::string(1, kind), "/", user, "/");
}

std::string BigEndian(uint64_t value) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  return out;
}

// The smallest key greater than every key that starts with `prefix` (prefixes end in '/').
std::string PrefixEnd(std::string prefix) {
  prefix.back() = static_cast<char>(prefix.back() + 1);
  return prefix;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ProfileStore>> ProfileStore::Open(Database* database,
                                                                 std::string master_key) {
  if (master_key.size() != kAeadKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat("the profile master key has ", kAeadKeyBytes,
                                                   " bytes, this one has ", master_key.size()));
  }
  rocksdb::ColumnFamilyHandle* family = database->family(kProfileColumnFamily);
  if (family == nullptr) {
    return absl::FailedPreconditionError("the database has no \"profile\" column family");
  }
  std::string format;
  auto status = database->db()->Get(rocksdb::ReadOptions(), family, kFormatKey, &format);
  if (status.IsNotFound()) {
    rocksdb::WriteOptions sync;
    sync.sync = true;
    status = database->db()->Put(sync, family, kFormatKey, kFormat);
    if (!status.ok()) return FromRocksStatus(status, "writing the profile format version");
  } else if (!status.ok()) {
    return FromRocksStatus(status, "reading the profile format version");
  } else if (format != kFormat) {
    return absl::FailedPreconditionError(absl::StrCat("the profile data has format version ",
                                                      QuoteForMessage(format), "; this node reads ",
                                                      kFormat));
  }
  return std::unique_ptr<ProfileStore>(new ProfileStore(database, std::move(master_key)));
}

ProfileStore::ProfileStore(Database* database, std::string master_key)
    : database_(database),
      family_(database->family(kProfileColumnFamily)),
      master_key_(std::move(master_key)) {}

std::mutex& ProfileStore::LockOf(const std::string& user) const {
  return user_locks_[std::hash<std::string>()(user) % user_locks_.size()];
}

absl::Status ProfileStore::Write(rocksdb::WriteBatch* batch) {
  rocksdb::WriteOptions sync;
  sync.sync = true;
  return FromRocksStatus(database_->db()->Write(sync, batch), "writing profile records");
}

absl::StatusOr<std::optional<std::string>> ProfileStore::DataKey(const std::string& user) const {
  const std::string key = absl::StrCat("k/", user);
  std::string sealed;
  auto status = database_->db()->Get(rocksdb::ReadOptions(), family_, key, &sealed);
  if (status.IsNotFound()) return std::nullopt;
  if (!status.ok()) return FromRocksStatus(status, "reading a data key");
  auto data_key = Unseal(master_key_, sealed, key);
  if (!data_key.ok()) {
    return absl::DataLossError(absl::StrCat(
        "a person's data key does not open with this node's master key (was the master key "
        "replaced?): ",
        data_key.status().message()));
  }
  return *std::move(data_key);
}

absl::StatusOr<std::string> ProfileStore::DataKeyForWrite(const std::string& user,
                                                          bool existing_only) {
  auto existing = DataKey(user);
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) return **existing;
  if (existing_only) return absl::NotFoundError("the person has no profile at this node");
  std::string data_key = RandomBytes(kAeadKeyBytes);
  const std::string key = absl::StrCat("k/", user);
  auto sealed = Seal(master_key_, data_key, key);
  if (!sealed.ok()) return sealed.status();
  rocksdb::WriteBatch batch;
  batch.Put(family_, key, *sealed);
  if (auto status = Write(&batch); !status.ok()) return status;
  return data_key;
}

template <typename T>
absl::Status ProfileStore::PutSealed(rocksdb::WriteBatch* batch, const std::string& data_key,
                                     const std::string& key, const T& message) const {
  auto sealed = Seal(data_key, message.SerializeAsString(), key);
  if (!sealed.ok()) return sealed.status();
  batch->Put(family_, key, *sealed);
  return absl::OkStatus();
}

template <typename T>
absl::StatusOr<std::vector<T>> ProfileStore::Scan(const std::string& prefix,
                                                  const std::string& user, bool newest_first,
                                                  size_t limit) const {
  std::vector<T> out;
  auto data_key = DataKey(user);
  if (!data_key.ok()) return data_key.status();
  if (!data_key->has_value()) return out;
  const std::string end = PrefixEnd(prefix);
  rocksdb::Slice lower(prefix), upper(end);
  rocksdb::ReadOptions options;
  options.iterate_lower_bound = &lower;
  options.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(database_->db()->NewIterator(options, family_));
  for (newest_first ? it->SeekToLast() : it->SeekToFirst();
       it->Valid() && (limit == 0 || out.size() < limit); newest_first ? it->Prev() : it->Next()) {
    const std::string key = it->key().ToString();
    auto plain = Unseal(**data_key, std::string_view(it->value().data(), it->value().size()), key);
    if (!plain.ok()) return plain.status();
    T message;
    if (!message.ParseFromString(*plain)) {
      return absl::DataLossError(
          absl::StrCat("profile record ", QuoteForMessage(key), " does not parse"));
    }
    out.push_back(std::move(message));
  }
  if (!it->status().ok()) return FromRocksStatus(it->status(), "reading profile records");
  return out;
}

absl::StatusOr<std::vector<v1::Attribute>> ProfileStore::GetAttributes(
    const std::string& user, const std::vector<std::string>& names) const {
  auto all = Scan<v1::Attribute>(UserPrefix('a', user), user);
  if (!all.ok() || names.empty()) return all;
  std::vector<v1::Attribute> out;
  for (auto& attribute : *all) {
    if (std::find(names.begin(), names.end(), attribute.name()) != names.end()) {
      out.push_back(std::move(attribute));
    }
  }
  return out;
}

absl::Status ProfileStore::PutAttributes(const std::string& user,
                                         const std::vector<v1::Attribute>& attributes,
                                         bool existing_only) {
  std::lock_guard<std::mutex> lock(LockOf(user));
  auto data_key = DataKeyForWrite(user, existing_only);
  if (!data_key.ok()) return data_key.status();
  rocksdb::WriteBatch batch;
  for (const auto& attribute : attributes) {
    auto status = PutSealed(&batch, *data_key, UserPrefix('a', user) + attribute.name(), attribute);
    if (!status.ok()) return status;
  }
  return Write(&batch);
}

absl::StatusOr<int> ProfileStore::DeleteAttributes(const std::string& user,
                                                   const std::vector<std::string>& names) {
  std::lock_guard<std::mutex> lock(LockOf(user));
  rocksdb::WriteBatch batch;
  int deleted = 0;
  for (const auto& name : names) {
    const std::string key = UserPrefix('a', user) + name;
    std::string value;
    auto status = database_->db()->Get(rocksdb::ReadOptions(), family_, key, &value);
    if (status.IsNotFound()) continue;
    if (!status.ok()) return FromRocksStatus(status, "reading an attribute");
    batch.Delete(family_, key);
    ++deleted;
  }
  if (deleted == 0) return 0;
  if (auto status = Write(&batch); !status.ok()) return status;
  return deleted;
}

absl::Status ProfileStore::PutServicePseudonym(const std::string& user,
                                               const v1::ServicePseudonym& service) {
  std::lock_guard<std::mutex> lock(LockOf(user));
  auto data_key = DataKeyForWrite(user);
  if (!data_key.ok()) return data_key.status();
  rocksdb::WriteBatch batch;
  auto status = PutSealed(&batch, *data_key, UserPrefix('s', user) + service.client_id(), service);
  if (!status.ok()) return status;
  const std::string index_key = absl::StrCat("p/", service.client_id(), "/", service.user_id());
  auto sealed_user = Seal(master_key_, user, index_key);
  if (!sealed_user.ok()) return sealed_user.status();
  batch.Put(family_, index_key, *sealed_user);
  return Write(&batch);
}

absl::StatusOr<std::vector<v1::ServicePseudonym>> ProfileStore::ListServicePseudonyms(
    const std::string& user) const {
  return Scan<v1::ServicePseudonym>(UserPrefix('s', user), user);
}

absl::StatusOr<std::optional<std::string>> ProfileStore::FindUser(
    const std::string& client_id, const std::string& pseudonym) const {
  const std::string key = absl::StrCat("p/", client_id, "/", pseudonym);
  std::string sealed;
  auto status = database_->db()->Get(rocksdb::ReadOptions(), family_, key, &sealed);
  if (status.IsNotFound()) return std::nullopt;
  if (!status.ok()) return FromRocksStatus(status, "reading a pseudonym");
  auto user = Unseal(master_key_, sealed, key);
  if (!user.ok()) return user.status();
  return *std::move(user);
}

absl::Status ProfileStore::PutConsent(const std::string& user, const v1::Consent& consent,
                                      const v1::ConsentReceipt& receipt) {
  std::lock_guard<std::mutex> lock(LockOf(user));
  auto data_key = DataKeyForWrite(user);
  if (!data_key.ok()) return data_key.status();
  rocksdb::WriteBatch batch;
  auto status = PutSealed(&batch, *data_key, UserPrefix('c', user) + consent.consent_id(), consent);
  if (status.ok()) {
    status = PutSealed(&batch, *data_key, UserPrefix('r', user) + receipt.receipt_id(), receipt);
  }
  if (!status.ok()) return status;
  return Write(&batch);
}

absl::StatusOr<std::optional<v1::Consent>> ProfileStore::GetConsent(
    const std::string& user, const std::string& consent_id) const {
  auto data_key = DataKey(user);
  if (!data_key.ok()) return data_key.status();
  if (!data_key->has_value()) return std::nullopt;
  const std::string key = UserPrefix('c', user) + consent_id;
  std::string sealed;
  auto status = database_->db()->Get(rocksdb::ReadOptions(), family_, key, &sealed);
  if (status.IsNotFound()) return std::nullopt;
  if (!status.ok()) return FromRocksStatus(status, "reading a consent");
  auto plain = Unseal(**data_key, sealed, key);
  if (!plain.ok()) return plain.status();
  v1::Consent consent;
  if (!consent.ParseFromString(*plain)) {
    return absl::DataLossError(
        absl::StrCat("consent ", QuoteForMessage(consent_id), " does not parse"));
  }
  return consent;
}

absl::StatusOr<std::vector<v1::Consent>> ProfileStore::ListConsents(const std::string& user) const {
  return Scan<v1::Consent>(UserPrefix('c', user), user);
}

absl::StatusOr<std::vector<v1::ConsentReceipt>> ProfileStore::ListReceipts(
    const std::string& user) const {
  return Scan<v1::ConsentReceipt>(UserPrefix('r', user), user);
}

std::string ProfileStore::NextAccessLogKey(const std::string& user) {
  uint64_t sequence;
  {
    // Microseconds since the epoch, strictly increasing in this process; 4 random bytes keep
    // keys apart should a restarted node's clock be behind its last entry.
    std::lock_guard<std::mutex> lock(sequence_mu_);
    const auto now = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count());
    next_sequence_ = std::max(next_sequence_ + 1, now);
    sequence = next_sequence_;
  }
  return UserPrefix('l', user) + BigEndian(sequence) + RandomBytes(4);
}

absl::Status ProfileStore::AppendAccessLog(const std::string& user,
                                           const v1::AccessLogEntry& entry) {
  const std::string key = NextAccessLogKey(user);
  std::lock_guard<std::mutex> lock(LockOf(user));
  auto data_key = DataKeyForWrite(user, /*existing_only=*/true);
  if (!data_key.ok()) return data_key.status();
  rocksdb::WriteBatch batch;
  auto status = PutSealed(&batch, *data_key, key, entry);
  if (!status.ok()) return status;
  return Write(&batch);
}

absl::StatusOr<std::vector<v1::AccessLogEntry>> ProfileStore::ListAccessLog(const std::string& user,
                                                                            size_t limit) const {
  // Keys increase with time: read backwards, and only as far as the limit.
  return Scan<v1::AccessLogEntry>(UserPrefix('l', user), user, /*newest_first=*/true, limit);
}

absl::StatusOr<bool> ProfileStore::Exists(const std::string& user) const {
  auto data_key = DataKey(user);
  if (!data_key.ok()) return data_key.status();
  return data_key->has_value();
}

absl::Status ProfileStore::Create(const NewProfile& profile) {
  const std::string& user = profile.user;
  std::lock_guard<std::mutex> lock(LockOf(user));
  auto existing = DataKey(user);
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) {
    return absl::AlreadyExistsError("the store already holds a profile under this pseudonym");
  }
  // Unlike DataKeyForWrite, the data key goes in the same batch as everything sealed with it: a
  // failed write leaves no trace of the person.
  const std::string data_key = RandomBytes(kAeadKeyBytes);
  const std::string key_name = absl::StrCat("k/", user);
  auto sealed_key = Seal(master_key_, data_key, key_name);
  if (!sealed_key.ok()) return sealed_key.status();
  rocksdb::WriteBatch batch;
  batch.Put(family_, key_name, *sealed_key);
  for (const auto& attribute : profile.attributes) {
    auto status = PutSealed(&batch, data_key, UserPrefix('a', user) + attribute.name(), attribute);
    if (!status.ok()) return status;
  }
  for (const auto& service : profile.services) {
    auto status = PutSealed(&batch, data_key, UserPrefix('s', user) + service.client_id(), service);
    if (!status.ok()) return status;
    const std::string index_key = absl::StrCat("p/", service.client_id(), "/", service.user_id());
    auto sealed_user = Seal(master_key_, user, index_key);
    if (!sealed_user.ok()) return sealed_user.status();
    batch.Put(family_, index_key, *sealed_user);
  }
  for (const auto& [consent, receipt] : profile.consents) {
    auto status =
        PutSealed(&batch, data_key, UserPrefix('c', user) + consent.consent_id(), consent);
    if (status.ok()) {
      status = PutSealed(&batch, data_key, UserPrefix('r', user) + receipt.receipt_id(), receipt);
    }
    if (!status.ok()) return status;
  }
  for (const auto& entry : profile.access_log) {
    auto status = PutSealed(&batch, data_key, NextAccessLogKey(user), entry);
    if (!status.ok()) return status;
  }
  return Write(&batch);
}

absl::StatusOr<int64_t> ProfileStore::Erase(const std::string& user) {
  std::lock_guard<std::mutex> lock(LockOf(user));
  auto exists = Exists(user);
  if (!exists.ok()) return exists.status();
  if (!*exists) return int64_t{0};
  // The pseudonym index entries are found through the person's own records, which need the data
  // key: read them before shredding it.
  auto services = Scan<v1::ServicePseudonym>(UserPrefix('s', user), user);
  if (!services.ok()) return services.status();

  const std::string data_key = absl::StrCat("k/", user);
  rocksdb::WriteBatch shred;
  shred.Delete(family_, data_key);
  if (auto status = Write(&shred); !status.ok()) return status;

  int64_t deleted = 1;
  rocksdb::WriteBatch batch;
  for (const auto& service : *services) {
    batch.Delete(family_, absl::StrCat("p/", service.client_id(), "/", service.user_id()));
    ++deleted;
  }
  std::vector<std::pair<std::string, std::string>> ranges = {
      {data_key, data_key + std::string(1, '\0')}};
  for (char kind : {'a', 's', 'c', 'r', 'l'}) {
    const std::string prefix = UserPrefix(kind, user);
    rocksdb::ReadOptions options;
    const std::string end = PrefixEnd(prefix);
    rocksdb::Slice upper(end);
    options.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(database_->db()->NewIterator(options, family_));
    for (it->Seek(prefix); it->Valid(); it->Next()) {
      batch.Delete(family_, it->key());
      ++deleted;
    }
    if (!it->status().ok()) return FromRocksStatus(it->status(), "reading profile records");
    ranges.emplace_back(prefix, end);
  }
  if (auto status = Write(&batch); !status.ok()) return status;
  // Flush and push the deletions to the bottom level, so that no file keeps the wrapped data key
  // or the sealed records (which are unreadable already without the data key).
  rocksdb::CompactRangeOptions compact;
  compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  for (const auto& [begin, end] : ranges) {
    rocksdb::Slice b(begin), e(end);
    auto status = database_->db()->CompactRange(compact, family_, &b, &e);
    if (!status.ok()) return FromRocksStatus(status, "compacting an erased profile");
  }
  return deleted;
}

namespace {

std::string ExpiryKey(const v1::StoredTransfer& transfer, const std::string& token_hash) {
  const int64_t micros =
      transfer.expire_time().seconds() * 1000000 + transfer.expire_time().nanos() / 1000;
  return absl::StrCat("x/", BigEndian(static_cast<uint64_t>(std::max<int64_t>(0, micros))), "/",
                      token_hash);
}

}  // namespace

std::string ProfileStore::TransferKey(const std::string& token) const {
  return HmacSha256(master_key_, absl::StrCat("aurora-transfer-key/", token));
}

absl::Status ProfileStore::PutTransfer(const std::string& token,
                                       const v1::StoredTransfer& transfer) {
  const std::string token_hash = HexEncode(Sha256(token));
  const std::string key = absl::StrCat("t/", token_hash);
  auto sealed = Seal(TransferKey(token), transfer.SerializeAsString(), key);
  if (!sealed.ok()) return sealed.status();
  rocksdb::WriteBatch batch;
  batch.Put(family_, key, *sealed);
  batch.Put(family_, ExpiryKey(transfer, token_hash), "");
  return Write(&batch);
}

absl::StatusOr<std::optional<v1::StoredTransfer>> ProfileStore::TakeTransfer(
    const std::string& token, absl::Time now,
    const std::function<absl::Status(const v1::StoredTransfer&)>& check) {
  const std::string token_hash = HexEncode(Sha256(token));
  const std::string key = absl::StrCat("t/", token_hash);
  std::lock_guard<std::mutex> lock(transfers_mu_);
  std::string sealed;
  auto status = database_->db()->Get(rocksdb::ReadOptions(), family_, key, &sealed);
  if (status.IsNotFound()) return std::nullopt;
  if (!status.ok()) return FromRocksStatus(status, "reading a transfer");
  auto plain = Unseal(TransferKey(token), sealed, key);
  // Transfers made by earlier versions were sealed with the master key itself; they live for
  // the transfer lifetime (minutes) after an upgrade.
  if (!plain.ok()) plain = Unseal(master_key_, sealed, key);
  if (!plain.ok()) return plain.status();
  v1::StoredTransfer transfer;
  if (!transfer.ParseFromString(*plain)) {
    return absl::DataLossError("a stored transfer does not parse");
  }
  const bool live = absl::FromUnixSeconds(transfer.expire_time().seconds()) +
                        absl::Nanoseconds(transfer.expire_time().nanos()) >
                    now;
  if (live) {
    if (auto refused = check(transfer); !refused.ok()) return refused;
  }
  rocksdb::WriteBatch batch;
  batch.Delete(family_, key);
  batch.Delete(family_, ExpiryKey(transfer, token_hash));
  if (auto written = Write(&batch); !written.ok()) return written;
  if (!live) return std::nullopt;
  return transfer;
}

absl::StatusOr<size_t> ProfileStore::SweepTransfers(absl::Time now, size_t limit) {
  const std::string end = absl::StrCat(
      "x/", BigEndian(static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixMicros(now)))));
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions options;
  options.iterate_upper_bound = &upper;
  std::lock_guard<std::mutex> lock(transfers_mu_);
  std::unique_ptr<rocksdb::Iterator> it(database_->db()->NewIterator(options, family_));
  rocksdb::WriteBatch batch;
  size_t swept = 0;
  for (it->Seek("x/"); it->Valid() && swept < limit; it->Next()) {
    const std::string key = it->key().ToString();
    batch.Delete(family_, key);
    batch.Delete(family_, absl::StrCat("t/", key.substr(2 + 8 + 1)));
    ++swept;
  }
  if (!it->status().ok()) return FromRocksStatus(it->status(), "reading expired transfers");
  if (swept == 0) return swept;
  if (auto written = Write(&batch); !written.ok()) return written;
  return swept;
}

}  // namespace aurora::profile
