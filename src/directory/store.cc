#include "directory/store.h"

#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/util/time_util.h>
#include <rocksdb/write_batch.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/secret_hash.h"
#include "common/text.h"
#include "common/wire.h"

namespace aurora::directory {
namespace {

constexpr char kFormatKey[] = "m/format";
constexpr char kFormatVersion[] = "1";
constexpr char kRegistryVersionKey[] = "m/registry";

std::string OrgKey(std::string_view id) { return absl::StrCat("o/", Sv(id)); }
std::string ClientKey(std::string_view id) { return absl::StrCat("c/", Sv(id)); }
std::string SecretKey(std::string_view id) { return absl::StrCat("k/", Sv(id)); }
std::string OrgClientKey(std::string_view org, std::string_view client) {
  return absl::StrCat("x/", Sv(org), "/", Sv(client));
}
std::string ServiceKeyString(std::string_view id) { return absl::StrCat("s/", Sv(id)); }
std::string MemberKey(std::string_view id) { return absl::StrCat("n/", Sv(id)); }
std::string NetworkServiceKey(std::string_view name) { return absl::StrCat("p/", Sv(name)); }
std::string LogKey(int64_t revision) {
  std::string key = "l/";
  for (int shift = 56; shift >= 0; shift -= 8) {
    key.push_back(static_cast<char>((static_cast<uint64_t>(revision) >> shift) & 0xFF));
  }
  return key;
}
int64_t RevisionFromLogKey(const rocksdb::Slice& key) {
  uint64_t value = 0;
  for (size_t i = 2; i < 10 && i < key.size(); ++i) {
    value = (value << 8) | static_cast<unsigned char>(key[i]);
  }
  return static_cast<int64_t>(value);
}

std::string EncodeRevision(int64_t revision) { return LogKey(revision).substr(2); }
int64_t DecodeRevision(const rocksdb::Slice& value) {
  uint64_t out = 0;
  for (size_t i = 0; i < value.size() && i < 8; ++i) {
    out = (out << 8) | static_cast<unsigned char>(value[i]);
  }
  return static_cast<int64_t>(out);
}

// A ChangeEvent{revision, TYPE_SERVICE_PUT, service, service_id} around already serialized bytes.
std::string EncodeServicePut(int64_t revision, const std::string& id, std::string_view service) {
  std::string out;
  out.reserve(service.size() + id.size() + 24);
  wire::AppendVarintField(&out, v1::ChangeEvent::kRevisionFieldNumber,
                          static_cast<uint64_t>(revision));
  wire::AppendVarintField(&out, v1::ChangeEvent::kTypeFieldNumber,
                          v1::ChangeEvent::TYPE_SERVICE_PUT);
  wire::AppendLengthDelimitedField(&out, v1::ChangeEvent::kServiceFieldNumber, service);
  wire::AppendLengthDelimitedField(&out, v1::ChangeEvent::kServiceIdFieldNumber, id);
  return out;
}

google::protobuf::Timestamp Now() {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::GetCurrentTimeNanos());
}

absl::Status Corrupt(const std::string& key) {
  return absl::DataLossError(
      absl::StrCat("directory record ", QuoteForMessage(key), " cannot be parsed"));
}

// Service content without the output-only fields, for "unchanged" detection.
bool SameContent(const v1::Service& stored, const v1::Service& incoming) {
  v1::Service a = stored, b = incoming;
  for (v1::Service* s : {&a, &b}) {
    s->clear_revision();
    s->clear_create_revision();
    s->clear_update_time();
  }
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

// Iterates keys with `prefix` starting after `prefix + after` (or at the prefix).
template <typename Fn>
absl::Status ScanPrefix(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, const std::string& prefix,
                        const std::string& after, const rocksdb::Snapshot* snapshot, Fn&& fn) {
  rocksdb::ReadOptions read;
  read.snapshot = snapshot;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read, cf));
  const std::string start = prefix + after;
  for (it->Seek(start); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (!after.empty() && it->key() == start) continue;
    if (!fn(it->key(), it->value())) break;
  }
  return FromRocksStatus(it->status(), "scanning the directory");
}

}  // namespace

DirectoryStore::DirectoryStore(Database* database, const CodeLists* codes,
                               DirectoryStoreOptions options)
    : database_(database),
      db_(database->db()),
      cf_(database->family(kDirectoryColumnFamily)),
      codes_(codes),
      options_(options),
      index_(codes) {}

DirectoryStore::~DirectoryStore() = default;

absl::StatusOr<std::unique_ptr<DirectoryStore>> DirectoryStore::Open(
    Database* database, const CodeLists* codes, DirectoryStoreOptions options) {
  if (database->family(kDirectoryColumnFamily) == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("the database has no column family \"", kDirectoryColumnFamily, "\""));
  }
  std::unique_ptr<DirectoryStore> store(new DirectoryStore(database, codes, options));
  if (auto s = store->Load(); !s.ok()) return s;
  return store;
}

absl::Status DirectoryStore::Load() {
  auto format = GetRaw(kFormatKey);
  if (!format.ok()) return format.status();
  if (!format->has_value()) {
    rocksdb::WriteOptions write;
    write.sync = true;
    if (auto s = db_->Put(write, cf_, kFormatKey, kFormatVersion); !s.ok()) {
      return FromRocksStatus(s, "writing the directory format version");
    }
  } else if (**format != kFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("the directory data in ", database_->path(), " has format version ",
                     QuoteForMessage(**format), " but this build reads version ", kFormatVersion));
  }

  // The last revision is the last log key.
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_));
    it->SeekForPrev(LogKey(INT64_MAX));
    if (it->Valid() && it->key().starts_with("l/")) assigned_ = RevisionFromLogKey(it->key());
    if (auto s = FromRocksStatus(it->status(), "reading the change log"); !s.ok()) return s;
  }
  durable_.store(assigned_);

  // Organisations, and the registry's members and services.
  bool parsed = true;
  std::string bad_key;
  const auto parse = [&](google::protobuf::Message* message, const rocksdb::Slice& key,
                         const rocksdb::Slice& value) {
    if (!message->ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      parsed = false;
      bad_key = key.ToString();
    }
    return parsed;
  };
  auto s = ScanPrefix(db_, cf_, "o/", "", nullptr,
                      [&](const rocksdb::Slice& key, const rocksdb::Slice& value) {
                        v1::Organization organization;
                        if (!parse(&organization, key, value)) return false;
                        organization_ids_.insert(organization.id());
                        network::v1::Member member;
                        member.set_organization_id(organization.id());
                        *member.mutable_name() = organization.name();
                        member.set_revision(organization.revision());
                        members_[organization.id()] = std::move(member);
                        return true;
                      });
  if (s.ok()) {
    s = ScanPrefix(db_, cf_, "n/", "", nullptr,
                   [&](const rocksdb::Slice& key, const rocksdb::Slice& value) {
                     network::v1::Member member;
                     if (!parse(&member, key, value)) return false;
                     auto found = members_.find(member.organization_id());
                     if (found != members_.end()) {
                       found->second.set_node_address(member.node_address());
                       found->second.set_revision(member.revision());
                     }
                     return true;
                   });
  }
  if (s.ok()) {
    s = ScanPrefix(db_, cf_, "p/", "", nullptr,
                   [&](const rocksdb::Slice& key, const rocksdb::Slice& value) {
                     network::v1::NetworkService service;
                     if (!parse(&service, key, value)) return false;
                     network_services_[service.name()] = std::move(service);
                     return true;
                   });
  }
  if (!s.ok()) return s;
  if (!parsed) return Corrupt(bad_key);
  auto version = GetRaw(kRegistryVersionKey);
  if (!version.ok()) return version.status();
  if (version->has_value()) {
    registry_version_ = DecodeRevision(**version);
  } else {
    // Written before the registry existed: its version is its newest organisation.
    for (const auto& [id, member] : members_) {
      registry_version_ = std::max(registry_version_, member.revision());
    }
  }
  // Live services: s/<id> names the revision whose log entry holds the body.
  std::vector<std::string> log_keys;
  s = ScanPrefix(db_, cf_, "s/", "", nullptr,
                 [&](const rocksdb::Slice&, const rocksdb::Slice& value) {
                   log_keys.push_back(LogKey(DecodeRevision(value)));
                   return true;
                 });
  if (!s.ok()) return s;
  constexpr size_t kChunk = 1024;
  for (size_t start = 0; start < log_keys.size(); start += kChunk) {
    const size_t n = std::min(kChunk, log_keys.size() - start);
    std::vector<rocksdb::Slice> keys(log_keys.begin() + static_cast<std::ptrdiff_t>(start),
                                     log_keys.begin() + static_cast<std::ptrdiff_t>(start + n));
    std::vector<rocksdb::PinnableSlice> values(n);
    std::vector<rocksdb::Status> statuses(n);
    db_->MultiGet(rocksdb::ReadOptions(), cf_, n, keys.data(), values.data(), statuses.data());
    for (size_t i = 0; i < n; ++i) {
      if (!statuses[i].ok()) return FromRocksStatus(statuses[i], "reading a service's log entry");
      v1::ChangeEvent event;
      if (!event.ParseFromArray(values[i].data(), static_cast<int>(values[i].size())) ||
          event.type() != v1::ChangeEvent::TYPE_SERVICE_PUT) {
        return Corrupt(keys[i].ToString());
      }
      auto bytes = std::make_shared<const std::string>(event.service().SerializeAsString());
      index_.Put(event.service(), std::move(bytes));
    }
  }
  return absl::OkStatus();
}

int DirectoryStore::AddRevisionListener(std::function<void(int64_t)> listener) {
  std::lock_guard lock(listeners_mu_);
  const int id = next_listener_id_++;
  listeners_.emplace_back(id, std::move(listener));
  return id;
}

void DirectoryStore::RemoveRevisionListener(int id) {
  std::lock_guard lock(listeners_mu_);
  std::erase_if(listeners_, [id](const auto& entry) { return entry.first == id; });
}

absl::StatusOr<std::optional<std::string>> DirectoryStore::GetRaw(const std::string& key) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf_, key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocksStatus(s, absl::StrCat("reading ", key));
  return std::optional<std::string>(std::move(value));
}

void DirectoryStore::AppendLog(rocksdb::WriteBatch* batch, const v1::ChangeEvent& event) {
  batch->Put(cf_, LogKey(event.revision()), event.SerializeAsString());
}

absl::Status DirectoryStore::WriteLocked(rocksdb::WriteBatch* batch, int64_t last_revision) {
  rocksdb::WriteOptions write;
  write.sync = false;  // synced by SyncTo, in groups
  if (auto s = db_->Write(write, batch); !s.ok()) {
    return FromRocksStatus(s, "writing to the directory");
  }
  assigned_ = last_revision;
  return absl::OkStatus();
}

absl::Status DirectoryStore::SyncTo(int64_t revision) {
  int64_t reached;
  {
    std::lock_guard lock(sync_mu_);
    if (durable_.load(std::memory_order_acquire) >= revision) return absl::OkStatus();
    int64_t target;
    {
      std::lock_guard write_lock(write_mu_);
      target = assigned_;
    }
    if (auto s = db_->SyncWAL(); !s.ok()) {
      return FromRocksStatus(s, "syncing the directory's write-ahead log");
    }
    durable_.store(target, std::memory_order_release);
    reached = target;
  }
  std::lock_guard lock(listeners_mu_);
  for (const auto& [id, listener] : listeners_) listener(reached);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Organisations

absl::StatusOr<v1::Organization> DirectoryStore::RegisterOrganization(
    v1::Organization organization) {
  if (organization.id().empty()) organization.set_id(NewRandomUuid());
  int64_t revision;
  {
    std::lock_guard lock(write_mu_);
    if (organization_ids_.contains(organization.id())) {
      return absl::AlreadyExistsError(absl::StrCat("organization.id: organisation ",
                                                   QuoteForMessage(organization.id()),
                                                   " is already registered"));
    }
    revision = assigned_ + 1;
    organization.set_revision(revision);
    *organization.mutable_create_time() = Now();
    rocksdb::WriteBatch batch;
    batch.Put(cf_, OrgKey(organization.id()), organization.SerializeAsString());
    v1::ChangeEvent event;
    event.set_revision(revision);
    event.set_type(v1::ChangeEvent::TYPE_ORGANIZATION_PUT);
    *event.mutable_organization() = organization;
    AppendLog(&batch, event);
    batch.Put(cf_, kRegistryVersionKey, EncodeRevision(revision));
    if (auto s = WriteLocked(&batch, revision); !s.ok()) return s;
    organization_ids_.insert(organization.id());
    network::v1::Member member;
    member.set_organization_id(organization.id());
    *member.mutable_name() = organization.name();
    PutMemberLocked(member, revision);
  }
  if (auto s = SyncTo(revision); !s.ok()) return s;
  return organization;
}

template <typename Record>
absl::StatusOr<Record> DirectoryStore::GetRecord(const std::string& key, std::string_view what,
                                                 const std::string& id) const {
  auto raw = GetRaw(key);
  if (!raw.ok()) return raw.status();
  if (!raw->has_value()) {
    return absl::NotFoundError(absl::StrCat("id: no ", Sv(what), " ", QuoteForMessage(id)));
  }
  Record record;
  if (!record.ParseFromString(**raw)) return Corrupt(key);
  return record;
}

absl::StatusOr<v1::Organization> DirectoryStore::GetOrganization(const std::string& id) const {
  return GetRecord<v1::Organization>(OrgKey(id), "organisation", id);
}

absl::StatusOr<std::vector<v1::Organization>> DirectoryStore::ListOrganizations(
    const std::string& after, int limit, bool* more) const {
  std::vector<v1::Organization> out;
  *more = false;
  absl::Status parse_status;
  auto s = ScanPrefix(
      db_, cf_, "o/", after, nullptr, [&](const rocksdb::Slice& key, const rocksdb::Slice& value) {
        if (static_cast<int>(out.size()) == limit) {
          *more = true;
          return false;
        }
        v1::Organization organization;
        if (!organization.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
          parse_status = Corrupt(key.ToString());
          return false;
        }
        out.push_back(std::move(organization));
        return true;
      });
  if (!s.ok()) return s;
  if (!parse_status.ok()) return parse_status;
  return out;
}

// ---------------------------------------------------------------------------------------------
// API clients

absl::StatusOr<v1::ApiClient> DirectoryStore::LoadClientLocked(const std::string& organization_id,
                                                               const std::string& client_id) const {
  auto raw = GetRaw(ClientKey(client_id));
  if (!raw.ok()) return raw.status();
  v1::ApiClient client;
  if (raw->has_value() && !client.ParseFromString(**raw)) return Corrupt(ClientKey(client_id));
  if (!raw->has_value() || client.organization_id() != organization_id) {
    return absl::NotFoundError(absl::StrCat("client_id: organisation ",
                                            QuoteForMessage(organization_id), " has no API client ",
                                            QuoteForMessage(client_id)));
  }
  return client;
}

absl::StatusOr<v1::ApiClientCredentials> DirectoryStore::RegisterApiClient(
    const std::string& organization_id, const std::string& display_name) {
  v1::ApiClientCredentials credentials;
  credentials.set_client_secret(NewSecret());
  // The slow hash is computed outside the write lock.
  const std::string hash = HashSecret(credentials.client_secret(), options_.secret_hash_iterations);
  v1::ApiClient& client = *credentials.mutable_client();
  client.set_client_id(NewRandomUuid());
  client.set_organization_id(organization_id);
  client.set_display_name(display_name);
  client.set_state(v1::ApiClient::STATE_ACTIVE);
  client.set_secret_version(1);
  *client.mutable_create_time() = Now();
  *client.mutable_secret_rotate_time() = client.create_time();
  int64_t revision;
  {
    std::lock_guard lock(write_mu_);
    if (!organization_ids_.contains(organization_id)) {
      return absl::NotFoundError(
          absl::StrCat("organization_id: no organisation ", QuoteForMessage(organization_id)));
    }
    revision = assigned_ + 1;
    client.set_revision(revision);
    rocksdb::WriteBatch batch;
    batch.Put(cf_, ClientKey(client.client_id()), client.SerializeAsString());
    batch.Put(cf_, SecretKey(client.client_id()), hash);
    batch.Put(cf_, OrgClientKey(organization_id, client.client_id()), "");
    v1::ChangeEvent event;
    event.set_revision(revision);
    event.set_type(v1::ChangeEvent::TYPE_API_CLIENT_PUT);
    *event.mutable_api_client() = client;
    AppendLog(&batch, event);
    if (auto s = WriteLocked(&batch, revision); !s.ok()) return s;
  }
  if (auto s = SyncTo(revision); !s.ok()) return s;
  return credentials;
}

absl::StatusOr<v1::ApiClientCredentials> DirectoryStore::RotateApiClientSecret(
    const std::string& organization_id, const std::string& client_id) {
  v1::ApiClientCredentials credentials;
  credentials.set_client_secret(NewSecret());
  const std::string hash = HashSecret(credentials.client_secret(), options_.secret_hash_iterations);
  int64_t revision;
  {
    std::lock_guard lock(write_mu_);
    auto client = LoadClientLocked(organization_id, client_id);
    if (!client.ok()) return client.status();
    if (client->state() == v1::ApiClient::STATE_REVOKED) {
      return absl::FailedPreconditionError(absl::StrCat("client_id: API client ",
                                                        QuoteForMessage(client_id),
                                                        " is revoked and cannot be rotated"));
    }
    revision = assigned_ + 1;
    client->set_secret_version(client->secret_version() + 1);
    *client->mutable_secret_rotate_time() = Now();
    client->set_revision(revision);
    rocksdb::WriteBatch batch;
    batch.Put(cf_, ClientKey(client_id), client->SerializeAsString());
    batch.Put(cf_, SecretKey(client_id), hash);
    v1::ChangeEvent event;
    event.set_revision(revision);
    event.set_type(v1::ChangeEvent::TYPE_API_CLIENT_PUT);
    *event.mutable_api_client() = *client;
    AppendLog(&batch, event);
    if (auto s = WriteLocked(&batch, revision); !s.ok()) return s;
    *credentials.mutable_client() = std::move(*client);
  }
  if (auto s = SyncTo(revision); !s.ok()) return s;
  return credentials;
}

absl::StatusOr<std::vector<v1::ApiClient>> DirectoryStore::ListApiClients(
    const std::string& organization_id, const std::string& after, int limit, bool* more) const {
  if (auto org = GetOrganization(organization_id); !org.ok()) {
    return absl::NotFoundError(
        absl::StrCat("organization_id: no organisation ", QuoteForMessage(organization_id)));
  }
  std::vector<std::string> ids;
  *more = false;
  const std::string prefix = absl::StrCat("x/", organization_id, "/");
  auto s = ScanPrefix(db_, cf_, prefix, after, nullptr, [&](const rocksdb::Slice& key, auto) {
    if (static_cast<int>(ids.size()) == limit) {
      *more = true;
      return false;
    }
    ids.push_back(key.ToString().substr(prefix.size()));
    return true;
  });
  if (!s.ok()) return s;
  std::vector<v1::ApiClient> out;
  for (const auto& id : ids) {
    auto raw = GetRaw(ClientKey(id));
    if (!raw.ok()) return raw.status();
    if (!raw->has_value()) continue;
    v1::ApiClient client;
    if (!client.ParseFromString(**raw)) return Corrupt(ClientKey(id));
    out.push_back(std::move(client));
  }
  return out;
}

absl::StatusOr<v1::ApiClient> DirectoryStore::RevokeApiClient(const std::string& organization_id,
                                                              const std::string& client_id) {
  v1::ApiClient result;
  int64_t revision;
  {
    std::lock_guard lock(write_mu_);
    auto client = LoadClientLocked(organization_id, client_id);
    if (!client.ok()) return client.status();
    if (client->state() == v1::ApiClient::STATE_REVOKED) return *client;
    revision = assigned_ + 1;
    client->set_state(v1::ApiClient::STATE_REVOKED);
    *client->mutable_revoke_time() = Now();
    client->set_revision(revision);
    rocksdb::WriteBatch batch;
    batch.Put(cf_, ClientKey(client_id), client->SerializeAsString());
    batch.Delete(cf_, SecretKey(client_id));
    v1::ChangeEvent event;
    event.set_revision(revision);
    event.set_type(v1::ChangeEvent::TYPE_API_CLIENT_PUT);
    *event.mutable_api_client() = *client;
    AppendLog(&batch, event);
    if (auto s = WriteLocked(&batch, revision); !s.ok()) return s;
    result = std::move(*client);
  }
  if (auto s = SyncTo(revision); !s.ok()) return s;
  return result;
}

absl::StatusOr<v1::ApiClient> DirectoryStore::VerifyApiClient(const std::string& client_id,
                                                              const std::string& secret) const {
  const auto denied = absl::UnauthenticatedError("invalid client credentials");
  auto raw = GetRaw(ClientKey(client_id));
  if (!raw.ok()) return raw.status();
  auto hash = GetRaw(SecretKey(client_id));
  if (!hash.ok()) return hash.status();
  if (!raw->has_value() || !hash->has_value()) return denied;
  v1::ApiClient client;
  if (!client.ParseFromString(**raw)) return Corrupt(ClientKey(client_id));
  if (client.state() != v1::ApiClient::STATE_ACTIVE || !VerifySecret(secret, **hash)) return denied;
  return client;
}

absl::StatusOr<v1::ApiClientDescription> DirectoryStore::DescribeApiClient(
    const std::string& client_id) const {
  auto raw = GetRaw(ClientKey(client_id));
  if (!raw.ok()) return raw.status();
  if (!raw->has_value()) {
    return absl::NotFoundError(
        absl::StrCat("client_id: no API client ", QuoteForMessage(client_id)));
  }
  v1::ApiClientDescription out;
  if (!out.mutable_client()->ParseFromString(**raw)) return Corrupt(ClientKey(client_id));
  auto organization = GetOrganization(out.client().organization_id());
  if (!organization.ok()) return organization.status();
  *out.mutable_organization() = *std::move(organization);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Services

// Writes the service (with revision, create_revision and update_time set) as the change-log entry
// of `revision`, points s/<id> at it, and returns the serialized service.
std::shared_ptr<const std::string> DirectoryStore::PutServiceLocked(rocksdb::WriteBatch* batch,
                                                                    const v1::Service& service) {
  auto bytes = std::make_shared<const std::string>(service.SerializeAsString());
  batch->Put(cf_, LogKey(service.revision()),
             EncodeServicePut(service.revision(), service.id(), *bytes));
  batch->Put(cf_, ServiceKeyString(service.id()), EncodeRevision(service.revision()));
  return bytes;
}

absl::Status DirectoryStore::CheckOrganizationLocked(const v1::Service& service) const {
  if (!service.organization_id().empty() &&
      !organization_ids_.contains(service.organization_id())) {
    return absl::InvalidArgumentError(absl::StrCat("service.organization_id: no organisation ",
                                                   QuoteForMessage(service.organization_id())));
  }
  // A channel's session transfers go to an API client of the service's own organisation.
  for (int i = 0; i < service.channels_size(); ++i) {
    if (!service.channels(i).has_session_transfer()) continue;
    const std::string& client_id = service.channels(i).session_transfer().client_id();
    auto raw = GetRaw(ClientKey(client_id));
    if (!raw.ok()) return raw.status();
    v1::ApiClient client;
    if (raw->has_value() && !client.ParseFromString(**raw)) return Corrupt(ClientKey(client_id));
    if (!raw->has_value() || service.organization_id().empty() ||
        client.organization_id() != service.organization_id()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "service.channels[", i, "].session_transfer.client_id: ", QuoteForMessage(client_id),
          " is not an API client of the service's organisation ",
          QuoteForMessage(service.organization_id())));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Service> DirectoryStore::CreateService(v1::Service service) {
  if (service.id().empty()) service.set_id(NewRandomUuid());
  int64_t revision;
  {
    std::lock_guard lock(write_mu_);
    if (auto s = CheckOrganizationLocked(service); !s.ok()) return s;
    if (index_.Get(service.id())) {
      return absl::AlreadyExistsError(
          absl::StrCat("service.id: service ", QuoteForMessage(service.id()), " already exists"));
    }
    revision = assigned_ + 1;
    service.set_revision(revision);
    service.set_create_revision(revision);
    *service.mutable_update_time() = Now();
    rocksdb::WriteBatch batch;
    auto bytes = PutServiceLocked(&batch, service);
    if (auto s = WriteLocked(&batch, revision); !s.ok()) return s;
    index_.Put(service, std::move(bytes));
  }
  if (auto s = SyncTo(revision); !s.ok()) return s;
  return service;
}

absl::StatusOr<v1::Service> DirectoryStore::UpdateService(v1::Service service,
                                                          int64_t expected_revision) {
  int64_t revision;
  {
    std::lock_guard lock(write_mu_);
    if (auto s = CheckOrganizationLocked(service); !s.ok()) return s;
    auto current = index_.Get(service.id());
    if (!current) {
      return absl::NotFoundError(
          absl::StrCat("service.id: no service ", QuoteForMessage(service.id())));
    }
    if (current->revision != expected_revision) {
      return absl::AbortedError(absl::StrCat(
          "expected_revision: service ", QuoteForMessage(service.id()), " is at revision ",
          current->revision, ", not ", expected_revision, "; read it again and retry"));
    }
    revision = assigned_ + 1;
    service.set_revision(revision);
    service.set_create_revision(current->create_revision);
    *service.mutable_update_time() = Now();
    rocksdb::WriteBatch batch;
    auto bytes = PutServiceLocked(&batch, service);
    if (auto s = WriteLocked(&batch, revision); !s.ok()) return s;
    index_.Put(service, std::move(bytes));
  }
  if (auto s = SyncTo(revision); !s.ok()) return s;
  return service;
}

absl::StatusOr<v1::Service> DirectoryStore::GetService(const std::string& id) const {
  auto stored = index_.Get(id);
  if (!stored) return absl::NotFoundError(absl::StrCat("id: no service ", QuoteForMessage(id)));
  v1::Service service;
  if (!service.ParseFromString(*stored->bytes)) return Corrupt(ServiceKeyString(id));
  return service;
}

absl::StatusOr<int64_t> DirectoryStore::DeleteService(const std::string& id,
                                                      int64_t expected_revision) {
  int64_t revision;
  {
    std::lock_guard lock(write_mu_);
    auto current = index_.Get(id);
    if (!current) return absl::NotFoundError(absl::StrCat("id: no service ", QuoteForMessage(id)));
    if (expected_revision != 0 && current->revision != expected_revision) {
      return absl::AbortedError(absl::StrCat("expected_revision: service ", QuoteForMessage(id),
                                             " is at revision ", current->revision, ", not ",
                                             expected_revision));
    }
    revision = assigned_ + 1;
    rocksdb::WriteBatch batch;
    batch.Delete(cf_, ServiceKeyString(id));
    v1::ChangeEvent event;
    event.set_revision(revision);
    event.set_type(v1::ChangeEvent::TYPE_SERVICE_DELETE);
    event.set_service_id(id);
    AppendLog(&batch, event);
    if (auto s = WriteLocked(&batch, revision); !s.ok()) return s;
    index_.Remove(id);
  }
  if (auto s = SyncTo(revision); !s.ok()) return s;
  return revision;
}

absl::StatusOr<std::vector<v1::ImportResult>> DirectoryStore::ImportBatch(
    std::vector<ImportRecord> records) {
  std::vector<v1::ImportResult> results(records.size());
  int64_t last_revision;
  {
    std::lock_guard lock(write_mu_);
    rocksdb::WriteBatch batch;
    int64_t revision = assigned_;
    // The live state of every id this batch touches: the index, overlaid by earlier records of
    // the same batch.
    absl::flat_hash_map<std::string, ServiceIndex::Stored> pending;
    std::vector<std::pair<const v1::Service*, ServiceIndex::Bytes>> changed;
    const auto timestamp = Now();
    for (size_t i = 0; i < records.size(); ++i) {
      v1::Service& service = records[i].service;
      v1::ImportResult& result = results[i];
      result.set_index(records[i].index);
      if (service.id().empty()) service.set_id(NewRandomUuid());
      result.set_service_id(service.id());
      if (auto s = CheckOrganizationLocked(service); !s.ok()) {
        result.set_outcome(v1::ImportResult::OUTCOME_REJECTED);
        result.set_error(std::string(s.message()));
        continue;
      }
      std::optional<ServiceIndex::Stored> current;
      if (auto it = pending.find(service.id()); it != pending.end()) {
        current = it->second;
      } else {
        current = index_.Get(service.id());
      }
      if (current) {
        v1::Service stored;
        if (!stored.ParseFromString(*current->bytes))
          return Corrupt(ServiceKeyString(service.id()));
        if (SameContent(stored, service)) {
          result.set_outcome(v1::ImportResult::OUTCOME_UNCHANGED);
          result.set_revision(current->revision);
          continue;
        }
      }
      ++revision;
      service.set_revision(revision);
      service.set_create_revision(current ? current->create_revision : revision);
      *service.mutable_update_time() = timestamp;
      result.set_outcome(current ? v1::ImportResult::OUTCOME_UPDATED
                                 : v1::ImportResult::OUTCOME_CREATED);
      result.set_revision(revision);
      auto bytes = PutServiceLocked(&batch, service);
      pending[service.id()] = ServiceIndex::Stored{bytes, revision, service.create_revision()};
      changed.emplace_back(&service, std::move(bytes));
    }
    if (changed.empty()) return results;
    if (auto s = WriteLocked(&batch, revision); !s.ok()) return s;
    for (auto& [service, bytes] : changed) index_.Put(*service, std::move(bytes));
    last_revision = revision;
  }
  if (auto s = SyncTo(last_revision); !s.ok()) return s;
  return results;
}

DirectoryStore::ServicePage DirectoryStore::ListServices(const ServiceIndex::Query& query,
                                                         const std::string& after,
                                                         int limit) const {
  ServicePage page;
  page.revision = durable_revision();
  page.hits = index_.Find(query, after, static_cast<size_t>(limit), &page.more);
  return page;
}

// ---------------------------------------------------------------------------------------------
// Change log and snapshots

absl::StatusOr<std::vector<v1::ChangeEvent>> DirectoryStore::ReadChanges(int64_t after,
                                                                         int limit) const {
  std::vector<v1::ChangeEvent> out;
  const int64_t durable = durable_revision();
  if (after >= durable) return out;
  rocksdb::ReadOptions read;
  const std::string upper = LogKey(durable + 1);
  rocksdb::Slice upper_slice(upper);
  read.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read, cf_));
  for (it->Seek(LogKey(after + 1)); it->Valid() && static_cast<int>(out.size()) < limit;
       it->Next()) {
    v1::ChangeEvent& event = out.emplace_back();
    if (!event.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return Corrupt(it->key().ToString());
    }
  }
  if (auto s = FromRocksStatus(it->status(), "reading the change log"); !s.ok()) return s;
  return out;
}

// ---------------------------------------------------------------------------------------------
// The network registry

void DirectoryStore::PutMemberLocked(const network::v1::Member& member, int64_t revision) {
  std::lock_guard lock(registry_mu_);
  network::v1::Member& stored = members_[member.organization_id()];
  stored = member;
  stored.set_revision(revision);
  registry_version_ = revision;
}

bool DirectoryStore::HasOrganization(const std::string& id) const {
  std::lock_guard lock(registry_mu_);
  return members_.contains(id);
}

int64_t DirectoryStore::registry_version() const {
  std::lock_guard lock(registry_mu_);
  return registry_version_;
}

absl::StatusOr<network::v1::Member> DirectoryStore::SetNodeAddress(
    const std::string& organization_id, const std::string& node_address) {
  network::v1::Member member;
  int64_t revision;
  {
    std::lock_guard lock(write_mu_);
    {
      std::lock_guard registry_lock(registry_mu_);
      auto found = members_.find(organization_id);
      if (found == members_.end()) {
        return absl::NotFoundError(absl::StrCat(
            "organization_id: no organisation ", QuoteForMessage(organization_id)));
      }
      member = found->second;
    }
    revision = assigned_ + 1;
    member.set_node_address(node_address);
    member.set_revision(revision);
    rocksdb::WriteBatch batch;
    batch.Put(cf_, MemberKey(organization_id), member.SerializeAsString());
    v1::ChangeEvent event;
    event.set_revision(revision);
    event.set_type(v1::ChangeEvent::TYPE_MEMBER_PUT);
    *event.mutable_member() = member;
    AppendLog(&batch, event);
    batch.Put(cf_, kRegistryVersionKey, EncodeRevision(revision));
    if (auto s = WriteLocked(&batch, revision); !s.ok()) return s;
    PutMemberLocked(member, revision);
  }
  if (auto s = SyncTo(revision); !s.ok()) return s;
  return member;
}

absl::StatusOr<network::v1::NetworkService> DirectoryStore::PublishNetworkService(
    network::v1::NetworkService service, int64_t expected_revision) {
  int64_t revision;
  {
    std::lock_guard lock(write_mu_);
    {
      std::lock_guard registry_lock(registry_mu_);
      if (!members_.contains(service.organization_id())) {
        return absl::NotFoundError(absl::StrCat("service.organization_id: no organisation ",
                                                QuoteForMessage(service.organization_id())));
      }
      auto found = network_services_.find(service.name());
      if (found == network_services_.end() && expected_revision != 0) {
        return absl::NotFoundError(absl::StrCat("service.name: no published service ",
                                                QuoteForMessage(service.name())));
      }
      if (found != network_services_.end()) {
        if (expected_revision == 0) {
          return absl::AlreadyExistsError(
              absl::StrCat("service.name: ", QuoteForMessage(service.name()),
                           " is already published (by organisation ",
                           found->second.organization_id(), "); give expected_revision ",
                           found->second.revision(), " to replace it"));
        }
        if (found->second.organization_id() != service.organization_id()) {
          return absl::PermissionDeniedError(
              absl::StrCat("service.name: ", QuoteForMessage(service.name()),
                           " is published by organisation ", found->second.organization_id(),
                           ", not by ", service.organization_id()));
        }
        if (found->second.revision() != expected_revision) {
          return absl::AbortedError(absl::StrCat(
              "expected_revision: ", expected_revision, " is not the revision of ",
              QuoteForMessage(service.name()), " (", found->second.revision(), ")"));
        }
      }
    }
    revision = assigned_ + 1;
    service.set_revision(revision);
    *service.mutable_update_time() = Now();
    rocksdb::WriteBatch batch;
    batch.Put(cf_, NetworkServiceKey(service.name()), service.SerializeAsString());
    v1::ChangeEvent event;
    event.set_revision(revision);
    event.set_type(v1::ChangeEvent::TYPE_NETWORK_SERVICE_PUT);
    *event.mutable_network_service() = service;
    event.set_network_service_name(service.name());
    AppendLog(&batch, event);
    batch.Put(cf_, kRegistryVersionKey, EncodeRevision(revision));
    if (auto s = WriteLocked(&batch, revision); !s.ok()) return s;
    std::lock_guard registry_lock(registry_mu_);
    network_services_[service.name()] = service;
    registry_version_ = revision;
  }
  if (auto s = SyncTo(revision); !s.ok()) return s;
  return service;
}

absl::StatusOr<int64_t> DirectoryStore::WithdrawNetworkService(const std::string& name,
                                                               int64_t expected_revision) {
  int64_t revision;
  {
    std::lock_guard lock(write_mu_);
    {
      std::lock_guard registry_lock(registry_mu_);
      auto found = network_services_.find(name);
      if (found == network_services_.end()) {
        return absl::NotFoundError(
            absl::StrCat("name: no published service ", QuoteForMessage(name)));
      }
      if (expected_revision != 0 && found->second.revision() != expected_revision) {
        return absl::AbortedError(absl::StrCat("expected_revision: ", expected_revision,
                                               " is not the revision of ", QuoteForMessage(name),
                                               " (", found->second.revision(), ")"));
      }
    }
    revision = assigned_ + 1;
    rocksdb::WriteBatch batch;
    batch.Delete(cf_, NetworkServiceKey(name));
    v1::ChangeEvent event;
    event.set_revision(revision);
    event.set_type(v1::ChangeEvent::TYPE_NETWORK_SERVICE_DELETE);
    event.set_network_service_name(name);
    AppendLog(&batch, event);
    batch.Put(cf_, kRegistryVersionKey, EncodeRevision(revision));
    if (auto s = WriteLocked(&batch, revision); !s.ok()) return s;
    std::lock_guard registry_lock(registry_mu_);
    network_services_.erase(name);
    registry_version_ = revision;
  }
  if (auto s = SyncTo(revision); !s.ok()) return s;
  return revision;
}

std::optional<network::v1::NetworkService> DirectoryStore::GetNetworkService(
    const std::string& name) const {
  std::lock_guard lock(registry_mu_);
  auto found = network_services_.find(name);
  if (found == network_services_.end()) return std::nullopt;
  return found->second;
}

absl::StatusOr<network::v1::RegistrySnapshot> DirectoryStore::Registry() {
  network::v1::RegistrySnapshot snapshot;
  {
    std::lock_guard lock(registry_mu_);
    snapshot.set_version(registry_version_);
    for (const auto& [id, member] : members_) *snapshot.add_members() = member;
    for (const auto& [name, service] : network_services_) *snapshot.add_services() = service;
  }
  // Hand out only durable versions: a node never accepts an older version than one it has seen,
  // so a version that a crash could take back must not leave the directory.
  if (auto s = SyncTo(snapshot.version()); !s.ok()) return s;
  return snapshot;
}

absl::StatusOr<std::unique_ptr<DirectoryStore::Snapshot>> DirectoryStore::StartSnapshot() {
  std::unique_ptr<Snapshot> snapshot(new Snapshot());
  snapshot->db_ = db_;
  snapshot->cf_ = cf_;
  int64_t revision;
  {
    // No commit can run between reading the revision and taking the RocksDB snapshot.
    std::lock_guard lock(write_mu_);
    snapshot->snapshot_ = db_->GetSnapshot();
    revision = assigned_;
  }
  snapshot->revision_ = revision;
  // Serve only durable state: wait for (or perform) the sync covering the snapshot.
  if (auto s = SyncTo(revision); !s.ok()) return s;
  rocksdb::ReadOptions read;
  read.snapshot = snapshot->snapshot_;
  snapshot->it_.reset(db_->NewIterator(read, cf_));
  snapshot->it_->Seek("o/");
  return snapshot;
}

DirectoryStore::Snapshot::~Snapshot() {
  it_.reset();
  if (snapshot_ != nullptr) db_->ReleaseSnapshot(snapshot_);
}

absl::StatusOr<std::vector<v1::ChangeEvent>> DirectoryStore::Snapshot::Next(int limit) {
  static constexpr const char* kPrefixes[4] = {"o/", "n/", "c/", "s/"};
  std::vector<v1::ChangeEvent> out;
  while (phase_ < 4 && static_cast<int>(out.size()) < limit) {
    if (!it_->Valid() || !it_->key().starts_with(kPrefixes[phase_])) {
      if (auto s = FromRocksStatus(it_->status(), "reading the snapshot"); !s.ok()) return s;
      ++phase_;
      if (phase_ < 4) it_->Seek(kPrefixes[phase_]);
      continue;
    }
    v1::ChangeEvent& event = out.emplace_back();
    const rocksdb::Slice value = it_->value();
    bool parsed = false;
    switch (phase_) {
      case 0:
        event.set_type(v1::ChangeEvent::TYPE_ORGANIZATION_PUT);
        parsed = event.mutable_organization()->ParseFromArray(value.data(),
                                                              static_cast<int>(value.size()));
        event.set_revision(event.organization().revision());
        break;
      case 1:
        event.set_type(v1::ChangeEvent::TYPE_MEMBER_PUT);
        parsed =
            event.mutable_member()->ParseFromArray(value.data(), static_cast<int>(value.size()));
        event.set_revision(event.member().revision());
        break;
      case 2:
        event.set_type(v1::ChangeEvent::TYPE_API_CLIENT_PUT);
        parsed = event.mutable_api_client()->ParseFromArray(value.data(),
                                                            static_cast<int>(value.size()));
        event.set_revision(event.api_client().revision());
        break;
      default: {
        // s/<id> names the log entry that holds the service; read it in the same snapshot.
        rocksdb::ReadOptions read;
        read.snapshot = snapshot_;
        std::string entry;
        const std::string log_key = LogKey(DecodeRevision(value));
        if (auto st = db_->Get(read, cf_, log_key, &entry); !st.ok()) {
          return FromRocksStatus(st, "reading a service's log entry");
        }
        parsed = event.ParseFromString(entry) && event.type() == v1::ChangeEvent::TYPE_SERVICE_PUT;
        break;
      }
    }
    if (!parsed) return Corrupt(it_->key().ToString());
    it_->Next();
  }
  return out;
}

}  // namespace aurora::directory
