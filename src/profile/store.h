#pragma once
// ProfileStore: the people's profiles of one node in its RocksDB (column family "profile"), every
// record encrypted with the person's own data key, and each data key wrapped by the node's master
// key. The store knows people only by their store pseudonym (`user`, see pseudonym.h), never by
// the identity provider's subject.
//
// Key layout (column family "profile"; <user> the store pseudonym, a UUID; every value except
// m/format is sealed with AES-256-GCM, its key string as the authenticated context):
//   m/format                  "1"                 format version of this layout
//   k/<user>                  data key, sealed with the master key
//   a/<user>/<name>           Attribute            sealed with the data key
//   s/<user>/<client id>      ServicePseudonym     sealed with the data key
//   c/<user>/<consent id>     Consent              sealed with the data key
//   r/<user>/<receipt id>     ConsentReceipt       sealed with the data key
//   l/<user>/<seq>            AccessLogEntry       sealed with the data key; <seq> 8 bytes
//                                                  big-endian, increasing (newest last)
//   p/<client id>/<pseudonym> <user>, sealed with the master key (resolves a service's id for
//                                                  the person without revealing the link to
//                                                  anyone who has the files but not the key)
//   t/<token hash>            StoredTransfer       sealed with the transfer's own key,
//                                                  HMAC-SHA-256(master key, "aurora-transfer-key/"
//                                                  token); <token hash> the SHA-256 of the token
//                                                  in hex. The token itself is never stored, so
//                                                  once a transfer is redeemed or expired (and
//                                                  deleted) no copy the files may still hold of it
//                                                  opens, even with the master key
//   x/<expiry>/<token hash>   ""                   transfers by expiry (8 bytes big-endian
//                                                  microseconds), for sweeping
//
// Erasure (crypto-shredding): k/<user> is deleted and synced first, which makes every record and
// every copy RocksDB still holds of it (older SST files, the WAL) unreadable; then the records are
// deleted and the ranges compacted.
//
// Every acknowledged write is synced to the WAL before the call returns. Writes of one person are
// serialised (a lock per person, striped); different people's writes proceed in parallel and share
// syncs through RocksDB's group commit. Thread-safe.

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aurora/profile/v1/profile.pb.h"
#include "common/database.h"

namespace aurora::profile {

inline constexpr char kProfileColumnFamily[] = "profile";

class ProfileStore {
 public:
  // `master_key`: kAeadKeyBytes bytes. The database must outlive the store and have the
  // "profile" column family.
  static absl::StatusOr<std::unique_ptr<ProfileStore>> Open(Database* database,
                                                            std::string master_key);

  // Attributes; `names` empty: all of them, by name.
  absl::StatusOr<std::vector<v1::Attribute>> GetAttributes(
      const std::string& user, const std::vector<std::string>& names = {}) const;
  // Writes the (validated) attributes in one batch. With `existing_only` (a service writing under
  // consent), NOT_FOUND if the person has no profile (e.g. erased meanwhile) instead of making one.
  absl::Status PutAttributes(const std::string& user, const std::vector<v1::Attribute>& attributes,
                             bool existing_only = false);
  // Returns how many of `names` had a value.
  absl::StatusOr<int> DeleteAttributes(const std::string& user,
                                       const std::vector<std::string>& names);

  // The pseudonym a service knows the person by (written once per service).
  absl::Status PutServicePseudonym(const std::string& user, const v1::ServicePseudonym& service);
  absl::StatusOr<std::vector<v1::ServicePseudonym>> ListServicePseudonyms(
      const std::string& user) const;
  // The person a service's pseudonym stands for, or nullopt.
  absl::StatusOr<std::optional<std::string>> FindUser(const std::string& client_id,
                                                      const std::string& pseudonym) const;

  // A consent and its receipt, in one batch (a grant, or a withdrawal that rewrites the consent).
  absl::Status PutConsent(const std::string& user, const v1::Consent& consent,
                          const v1::ConsentReceipt& receipt);
  absl::StatusOr<std::optional<v1::Consent>> GetConsent(const std::string& user,
                                                        const std::string& consent_id) const;
  absl::StatusOr<std::vector<v1::Consent>> ListConsents(const std::string& user) const;
  absl::StatusOr<std::vector<v1::ConsentReceipt>> ListReceipts(const std::string& user) const;

  // NOT_FOUND if the person has no profile (erased while a service was reading): a log entry
  // never makes a profile again.
  absl::Status AppendAccessLog(const std::string& user, const v1::AccessLogEntry& entry);
  // Newest first; limit 0: all.
  absl::StatusOr<std::vector<v1::AccessLogEntry>> ListAccessLog(const std::string& user,
                                                                size_t limit = 0) const;

  // Crypto-shreds and deletes everything of the person; returns the number of records deleted
  // (0 if the store held nothing of them).
  absl::StatusOr<int64_t> Erase(const std::string& user);

  // Session transfers, by their token (kept as its SHA-256 only; the record is sealed with a key
  // derived from the token, see the key layout).
  absl::Status PutTransfer(const std::string& token, const v1::StoredTransfer& transfer);
  // Reads and deletes (synced) the transfer if it is live at `now` and `check` accepts it;
  // nullopt if there is none (or it expired: then it is deleted). A transfer `check` refuses
  // stays, and its status is returned. One caller at a time: a token is taken once.
  absl::StatusOr<std::optional<v1::StoredTransfer>> TakeTransfer(
      const std::string& token, absl::Time now,
      const std::function<absl::Status(const v1::StoredTransfer&)>& check);
  // Deletes the transfers expired at `now` (at most `limit`); returns how many.
  absl::StatusOr<size_t> SweepTransfers(absl::Time now, size_t limit = 1000);

  // Whether the store holds a data key for the person.
  absl::StatusOr<bool> Exists(const std::string& user) const;

  // A new person's whole profile, written in one synced batch with a fresh data key: nothing of it
  // is written unless all of it is. ALREADY_EXISTS if the store holds a data key for `user`.
  struct NewProfile {
    std::string user;
    std::vector<v1::Attribute> attributes;
    std::vector<v1::ServicePseudonym> services;
    std::vector<std::pair<v1::Consent, v1::ConsentReceipt>> consents;
    std::vector<v1::AccessLogEntry> access_log;  // oldest first
  };
  absl::Status Create(const NewProfile& profile);

 private:
  ProfileStore(Database* database, std::string master_key);

  std::mutex& LockOf(const std::string& user) const;
  // The person's data key; nullopt if they have none (and `create` is false).
  absl::StatusOr<std::optional<std::string>> DataKey(const std::string& user) const;
  // The data key, made and written (synced) first if the person has none (NOT_FOUND instead with
  // `existing_only`). Under LockOf(user).
  absl::StatusOr<std::string> DataKeyForWrite(const std::string& user, bool existing_only = false);
  absl::Status Write(rocksdb::WriteBatch* batch);
  // The key of the person's next access log entry (l/<user>/<seq><4 random bytes>).
  std::string NextAccessLogKey(const std::string& user);
  // The key a transfer is sealed with (see the key layout).
  std::string TransferKey(const std::string& token) const;
  // The values under `prefix` (in key order, or reversed), opened with `user`'s data key and
  // parsed as T; at most `limit` (0: all).
  template <typename T>
  absl::StatusOr<std::vector<T>> Scan(const std::string& prefix, const std::string& user,
                                      bool newest_first = false, size_t limit = 0) const;
  template <typename T>
  absl::Status PutSealed(rocksdb::WriteBatch* batch, const std::string& data_key,
                         const std::string& key, const T& message) const;

  Database* database_;
  rocksdb::ColumnFamilyHandle* family_;
  std::string master_key_;
  mutable std::array<std::mutex, 64> user_locks_;
  std::mutex sequence_mu_;
  std::mutex transfers_mu_;
  uint64_t next_sequence_ = 0;  // of access log entries, across people
};

}  // namespace aurora::profile
