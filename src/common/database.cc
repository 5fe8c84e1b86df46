#include "common/database.h"

#include <rocksdb/cache.h>
#include <rocksdb/table.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace aurora {

absl::Status FromRocksStatus(const rocksdb::Status& status, const std::string& what) {
  if (status.ok()) return absl::OkStatus();
  const std::string message = absl::StrCat(what, ": ", status.ToString());
  if (status.IsNotFound()) return absl::NotFoundError(message);
  if (status.IsBusy() || status.IsTryAgain() || status.IsTimedOut()) {
    return absl::UnavailableError(message);
  }
  if (status.IsInvalidArgument()) return absl::InvalidArgumentError(message);
  if (status.IsCorruption()) return absl::DataLossError(message);
  return absl::InternalError(message);
}

absl::StatusOr<std::unique_ptr<Database>> Database::Open(const std::string& path,
                                                         const std::vector<std::string>& families,
                                                         const DatabaseOptions& options) {
  std::unique_ptr<Database> database(new Database());
  database->path_ = path;

  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.IncreaseParallelism(2);
  db_options.max_open_files = 512;
  // Writes that are not synced by the caller are still ordered; recovery keeps a consistent prefix.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  if (options.statistics) {
    database->statistics_ = rocksdb::CreateDBStatistics();
    database->statistics_->set_stats_level(rocksdb::StatsLevel::kExceptTimeForMutex);
    db_options.statistics = database->statistics_;
  }

  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf_options.compression = rocksdb::kLZ4Compression;

  std::vector<std::string> names = {rocksdb::kDefaultColumnFamilyName};
  std::vector<std::string> existing;
  if (rocksdb::DB::ListColumnFamilies(db_options, path, &existing).ok()) {
    for (const auto& name : existing) {
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
  }
  for (const auto& name : families) {
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& name : names) descriptors.emplace_back(name, cf_options);

  rocksdb::Status status =
      rocksdb::DB::Open(db_options, path, descriptors, &database->handles_, &database->db_);
  if (!status.ok()) return FromRocksStatus(status, absl::StrCat("opening RocksDB at ", path));
  for (size_t i = 0; i < names.size(); ++i) database->families_[names[i]] = database->handles_[i];
  return database;
}

rocksdb::ColumnFamilyHandle* Database::family(const std::string& name) const {
  auto it = families_.find(name);
  return it == families_.end() ? nullptr : it->second;
}

absl::Status Database::Close() {
  if (db_ == nullptr) return absl::OkStatus();
  absl::Status result;
  rocksdb::FlushOptions flush;
  flush.wait = true;
  for (auto* handle : handles_) {
    if (auto s = db_->Flush(flush, handle); !s.ok() && result.ok()) {
      result = FromRocksStatus(s, "flushing RocksDB on close");
    }
  }
  for (auto* handle : handles_) db_->DestroyColumnFamilyHandle(handle);
  handles_.clear();
  families_.clear();
  if (auto s = db_->Close(); !s.ok() && result.ok()) {
    result = FromRocksStatus(s, "closing RocksDB");
  }
  delete db_;
  db_ = nullptr;
  return result;
}

Database::~Database() { (void)Close(); }

}  // namespace aurora
