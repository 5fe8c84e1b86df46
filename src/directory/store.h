#pragma once
// DirectoryStore: the directory's durable state in the node's RocksDB (column family
// "directory") plus the in-memory ServiceIndex rebuilt from it at start-up.
//
// Key layout (column family "directory"; <id> is a canonical UUID, <rev> 8 bytes big-endian):
//   m/format          "1"                         format version of this layout
//   o/<id>            Organization
//   c/<client id>     ApiClient (public view)
//   k/<client id>     secret hash "pbkdf2-sha256$..." (never leaves the store)
//   x/<org id>/<client id>  ""                    the clients of an organisation
//   s/<id>            <rev> of the live service's last change; its body is in l/<rev>
//   l/<rev>           ChangeEvent                 the change log, one entry per revision; a
//                                                 service's body is written only here, and a
//                                                 deletion's entry is its tombstone
//   n/<org id>        network.v1.Member           a member's node address (the network registry)
//   p/<name>          network.v1.NetworkService   a published network service
//   m/registry        <rev>                       the registry's version: the revision of its
//                                                 newest change (organisation registered, node
//                                                 address set, network service published or
//                                                 withdrawn)
//
// Live services are also held in memory, serialized, by the ServiceIndex (rebuilt at start-up
// from s/ and l/), so reads and list pages never touch RocksDB.
//
// Revisions. Mutations are serialised by one mutex that assigns the next revision and writes the
// entity and its log entry in one atomic batch; the write-ahead log is then synced before the call
// returns, in groups (a caller whose revision was covered by another caller's sync does not sync
// again). durable_revision() only advances after a sync, and readers of the change log never see
// past it, so a watcher can never observe a revision that a crash could take back. (Get and List
// read the in-memory index, which a mutation updates just before its sync; they may show it for
// that sync's duration, while its writer is not yet acknowledged.) Recovery keeps a consistent
// prefix of the log, so revisions continue without gaps after a crash.
//
// Thread-safe.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "aurora/directory/v1/directory.pb.h"
#include "aurora/network/v1/network.pb.h"
#include "common/database.h"
#include "common/codelists.h"
#include "directory/service_index.h"

namespace aurora::directory {

inline constexpr char kDirectoryColumnFamily[] = "directory";

struct DirectoryStoreOptions {
  // PBKDF2 iterations for new API client secrets.
  int secret_hash_iterations = 600000;
};

// One record of an import batch that passed validation.
struct ImportRecord {
  int64_t index = 0;
  v1::Service service;
};

class DirectoryStore {
 public:
  static absl::StatusOr<std::unique_ptr<DirectoryStore>> Open(Database* database,
                                                              const CodeLists* codes,
                                                              DirectoryStoreOptions options = {});
  ~DirectoryStore();

  // The newest revision that is durable (0 for an empty directory).
  int64_t durable_revision() const { return durable_.load(std::memory_order_acquire); }

  // Calls `listener(revision)` after each advance of the durable revision (from the committing
  // thread; keep it short). Returns an id for RemoveRevisionListener.
  int AddRevisionListener(std::function<void(int64_t)> listener);
  void RemoveRevisionListener(int id);

  // Organisations. Inputs must have passed validation.
  absl::StatusOr<v1::Organization> RegisterOrganization(v1::Organization organization);
  absl::StatusOr<v1::Organization> GetOrganization(const std::string& id) const;
  absl::StatusOr<std::vector<v1::Organization>> ListOrganizations(const std::string& after,
                                                                  int limit, bool* more) const;

  // API clients.
  absl::StatusOr<v1::ApiClientCredentials> RegisterApiClient(const std::string& organization_id,
                                                             const std::string& display_name);
  absl::StatusOr<v1::ApiClientCredentials> RotateApiClientSecret(const std::string& organization_id,
                                                                 const std::string& client_id);
  absl::StatusOr<std::vector<v1::ApiClient>> ListApiClients(const std::string& organization_id,
                                                            const std::string& after, int limit,
                                                            bool* more) const;
  absl::StatusOr<v1::ApiClient> RevokeApiClient(const std::string& organization_id,
                                                const std::string& client_id);
  // The active client whose secret matches; UNAUTHENTICATED otherwise (no detail on which part
  // was wrong).
  absl::StatusOr<v1::ApiClient> VerifyApiClient(const std::string& client_id,
                                                const std::string& secret) const;
  // The client (active or revoked) and its organisation; NOT_FOUND naming the id otherwise.
  absl::StatusOr<v1::ApiClientDescription> DescribeApiClient(const std::string& client_id) const;

  // Services. Inputs must have passed validation; the organisation must be registered.
  absl::StatusOr<v1::Service> CreateService(v1::Service service);
  absl::StatusOr<v1::Service> UpdateService(v1::Service service, int64_t expected_revision);
  absl::StatusOr<v1::Service> GetService(const std::string& id) const;
  // Returns the tombstone's revision.
  absl::StatusOr<int64_t> DeleteService(const std::string& id, int64_t expected_revision);
  // Creates or replaces each record; one atomic write and one sync for the batch. Results are in
  // input order; records naming an unknown organisation are rejected.
  absl::StatusOr<std::vector<v1::ImportResult>> ImportBatch(std::vector<ImportRecord> records);

  // The network registry (network.proto). Inputs must have passed validation; organisations must
  // be registered (NOT_FOUND naming the field otherwise).
  absl::StatusOr<network::v1::Member> SetNodeAddress(const std::string& organization_id,
                                                     const std::string& node_address);
  // Creates (expected_revision 0; ALREADY_EXISTS if the name is taken) or replaces (ABORTED unless
  // expected_revision is the stored revision) a service. Sets revision and update_time.
  absl::StatusOr<network::v1::NetworkService> PublishNetworkService(
      network::v1::NetworkService service, int64_t expected_revision);
  // Returns the withdrawal's revision. expected_revision 0: whatever is stored.
  absl::StatusOr<int64_t> WithdrawNetworkService(const std::string& name,
                                                 int64_t expected_revision);
  std::optional<network::v1::NetworkService> GetNetworkService(const std::string& name) const;
  bool HasOrganization(const std::string& id) const;
  // The registry as of its newest durable version: members and services ordered by id and name
  // (issue_time and valid_until unset).
  absl::StatusOr<network::v1::RegistrySnapshot> Registry();
  // The newest version (durable or about to be).
  int64_t registry_version() const;

  // Services matching `query` after the id `after`, in id order (serialized), and the revision
  // read at.
  struct ServicePage {
    std::vector<ServiceIndex::Hit> hits;
    bool more = false;
    int64_t revision = 0;
  };
  ServicePage ListServices(const ServiceIndex::Query& query, const std::string& after,
                           int limit) const;
  const ServiceIndex& index() const { return index_; }

  // Change log entries with after < revision <= durable_revision(), at most `limit`.
  absl::StatusOr<std::vector<v1::ChangeEvent>> ReadChanges(int64_t after, int limit) const;

  // A consistent view of every live record as of one durable revision, read in chunks.
  class Snapshot {
   public:
    ~Snapshot();
    int64_t revision() const { return revision_; }
    // Up to `limit` events (organisations, members' node addresses, then API clients, then
    // services); empty when done.
    absl::StatusOr<std::vector<v1::ChangeEvent>> Next(int limit);

   private:
    friend class DirectoryStore;
    Snapshot() = default;
    rocksdb::DB* db_ = nullptr;
    rocksdb::ColumnFamilyHandle* cf_ = nullptr;
    const rocksdb::Snapshot* snapshot_ = nullptr;
    std::unique_ptr<rocksdb::Iterator> it_;
    int phase_ = 0;  // 0 organisations, 1 node addresses, 2 clients, 3 services, 4 done
    int64_t revision_ = 0;
  };
  absl::StatusOr<std::unique_ptr<Snapshot>> StartSnapshot();

 private:
  DirectoryStore(Database* database, const CodeLists* codes, DirectoryStoreOptions options);
  absl::Status Load();
  // Writes `batch` (already holding the log entries up to `last_revision`); caller holds write_mu_.
  absl::Status WriteLocked(rocksdb::WriteBatch* batch, int64_t last_revision);
  // Makes every revision up to `revision` durable (group commit) and notifies listeners.
  absl::Status SyncTo(int64_t revision);
  absl::StatusOr<std::optional<std::string>> GetRaw(const std::string& key) const;
  // Reads and parses one record; NOT_FOUND "id: no <what> <id>" when absent.
  template <typename Record>
  absl::StatusOr<Record> GetRecord(const std::string& key, std::string_view what,
                                   const std::string& id) const;
  void AppendLog(rocksdb::WriteBatch* batch, const v1::ChangeEvent& event);
  std::shared_ptr<const std::string> PutServiceLocked(rocksdb::WriteBatch* batch,
                                                      const v1::Service& service);
  absl::Status CheckOrganizationLocked(const v1::Service& service) const;
  absl::StatusOr<v1::ApiClient> LoadClientLocked(const std::string& organization_id,
                                                 const std::string& client_id) const;

  // The registry in memory: small (one record per organisation and network service), read whole.
  // Updated under write_mu_ (in revision order), read under registry_mu_.
  mutable std::mutex registry_mu_;
  int64_t registry_version_ = 0;
  std::map<std::string, network::v1::Member> members_;
  std::map<std::string, network::v1::NetworkService> network_services_;
  void PutMemberLocked(const network::v1::Member& member, int64_t revision);

  Database* database_;
  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* cf_;
  const CodeLists* codes_;
  DirectoryStoreOptions options_;
  ServiceIndex index_;

  std::mutex write_mu_;                                // serialises mutations
  int64_t assigned_ = 0;                               // guarded by write_mu_
  absl::flat_hash_set<std::string> organization_ids_;  // guarded by write_mu_

  std::mutex sync_mu_;  // one WAL sync at a time
  std::atomic<int64_t> durable_{0};

  std::mutex listeners_mu_;
  int next_listener_id_ = 1;
  std::vector<std::pair<int, std::function<void(int64_t)>>> listeners_;
};

}  // namespace aurora::directory
