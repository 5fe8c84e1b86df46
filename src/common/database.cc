#include "common/database.h"

#include <rocksdb/cache.h>
#include <rocksdb/listener.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/stackable_db.h>
#include <rocksdb/write_batch.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace aurora {
namespace {

// RocksDB's info log into the node's log: its warnings and errors (its info lines are options
// and periodic statistics, which /metrics has). Thread-safe like Log().
class RocksDbLogger final : public rocksdb::Logger {
 public:
  RocksDbLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}

  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel() || level == rocksdb::InfoLogLevel::HEADER_LEVEL) return;
    char text[1024];
    const int length = std::vsnprintf(text, sizeof text, format, ap);
    if (length < 0) return;
    const bool error = level >= rocksdb::InfoLogLevel::ERROR_LEVEL;
    Log(error ? LogLevel::kError : LogLevel::kWarning, "rocksdb",
        error ? "RocksDB error" : "RocksDB warning",
        {{"text", std::string(text, std::min<size_t>(length, sizeof text - 1))}});
  }
};

// The database as the components see it: RocksDB's, but SyncWAL() is an empty synced write. The
// RocksDB of Debian keeps its assertions, and one aborts the process when SyncWAL() finds the WAL
// file after a failed append (a write that found the disk full on another thread a moment
// earlier). A synced write syncs the same WAL files from inside RocksDB's write queue, where no
// append can fail in between, and once a write failed the next ones get the error instead.
class SyncInWriteQueue final : public rocksdb::StackableDB {
 public:
  explicit SyncInWriteQueue(rocksdb::DB* db) : rocksdb::StackableDB(db) {}

  rocksdb::Status SyncWAL() override {
    rocksdb::WriteOptions synced;
    synced.sync = true;
    rocksdb::WriteBatch nothing;
    return db_->Write(synced, &nothing);
  }
  rocksdb::Status FlushWAL(bool sync) override { return sync ? SyncWAL() : db_->FlushWAL(false); }
  rocksdb::Status Resume() override { return db_->Resume(); }
};

}  // namespace

// Resumes writes after RocksDB stopped them for a full disk, once enough space is free (see the
// header). RocksDB calls the listener methods on its own threads; one thread of this class does
// the waiting and DB::Resume(). Thread-safe.
class NoSpaceRecovery final : public rocksdb::EventListener {
 public:
  NoSpaceRecovery(std::string path, absl::Duration interval, uint64_t resume_free_bytes)
      : path_(std::move(path)), interval_(interval), resume_free_bytes_(resume_free_bytes) {}
  ~NoSpaceRecovery() override { Stop(); }

  void Start(rocksdb::DB* db) {
    std::lock_guard lock(mu_);
    db_ = db;
    thread_ = std::thread([this] { Run(); });
  }

  // Ends the thread (a Resume() under way finishes first). Before the database closes.
  void Stop() {
    {
      std::lock_guard lock(mu_);
      closing_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  void OnBackgroundError(rocksdb::BackgroundErrorReason reason, rocksdb::Status* error) override {
    const bool stops_writes = error->severity() >= rocksdb::Status::kHardError;
    const bool no_space = error->IsNoSpace() && error->severity() < rocksdb::Status::kFatalError;
    const char* message =
        !no_space ? "RocksDB background error"
        : stops_writes
            ? "the data directory's disk is full: writes fail until space is freed there"
            : "the data directory's disk is full: flushes and compactions wait for space";
    LogError("database", message,
             {{"data_dir", path_},
              {"reason", ReasonName(reason)},
              {"writes_stopped", stops_writes ? "true" : "false"},
              {"error", error->ToString()}});
    if (!no_space) return;
    {
      std::lock_guard lock(mu_);
      ++errors_;
    }
    wake_.notify_all();
  }

  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status error,
                            bool* auto_recovery) override {
    if (error.IsNoSpace()) *auto_recovery = false;  // Run() resumes, with a smaller margin
  }

 private:
  static const char* ReasonName(rocksdb::BackgroundErrorReason reason) {
    switch (reason) {
      case rocksdb::BackgroundErrorReason::kFlush:
        return "flush";
      case rocksdb::BackgroundErrorReason::kCompaction:
        return "compaction";
      case rocksdb::BackgroundErrorReason::kWriteCallback:
        return "write";
      case rocksdb::BackgroundErrorReason::kMemTable:
        return "memtable";
      case rocksdb::BackgroundErrorReason::kManifestWrite:
        return "manifest write";
      case rocksdb::BackgroundErrorReason::kFlushNoWAL:
        return "flush without WAL";
      case rocksdb::BackgroundErrorReason::kManifestWriteNoWAL:
        return "manifest write without WAL";
    }
    return "other";
  }

  void Run() {
    std::unique_lock lock(mu_);
    uint64_t resumed_errors = 0;
    std::string last_problem;
    while (!closing_) {
      if (errors_ == resumed_errors) {
        wake_.wait(lock, [&] { return closing_ || errors_ != resumed_errors; });
        continue;
      }
      const uint64_t errors = errors_;
      lock.unlock();
      std::string problem = TryResume();
      lock.lock();
      if (problem.empty()) {
        resumed_errors = errors;
        last_problem.clear();
        continue;
      }
      if (problem != last_problem) {
        LogWarning("database", "writes not resumed yet",
                   {{"data_dir", path_}, {"problem", problem}});
        last_problem = std::move(problem);
      }
      wake_.wait_for(lock, absl::ToChronoMilliseconds(interval_), [&] { return closing_; });
    }
  }

  // Empty when writes were resumed, else why not.
  std::string TryResume() {
    struct statvfs fs {};
    if (statvfs(path_.c_str(), &fs) == 0) {
      const uint64_t available = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
      if (available < resume_free_bytes_) {
        return absl::StrCat("only ", available, " bytes are free, ", resume_free_bytes_,
                            " are needed");
      }
    }
    rocksdb::Status status = db_->Resume();
    if (!status.ok()) return absl::StrCat("RocksDB did not resume: ", status.ToString());
    LogInfo("database", "writes resumed: the data directory's disk has space again",
            {{"data_dir", path_}});
    return "";
  }

  const std::string path_;
  const absl::Duration interval_;
  const uint64_t resume_free_bytes_;
  std::mutex mu_;
  std::condition_variable wake_;
  rocksdb::DB* db_ = nullptr;
  uint64_t errors_ = 0;  // full-disk background errors so far
  bool closing_ = false;
  std::thread thread_;
};

absl::Status FromRocksStatus(const rocksdb::Status& status, const std::string& what) {
  if (status.ok()) return absl::OkStatus();
  if (status.IsNoSpace()) {
    return absl::ResourceExhaustedError(
        absl::StrCat(what, ": the data directory's disk is full (", status.ToString(),
                     "); writes work again, without a restart, once space is freed there"));
  }
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
  // RocksDB's own file logger made the folder before RocksDB looked into it; ours does not. A
  // failure here is RocksDB's to report, with its create_if_missing.
  std::error_code ignored;
  std::filesystem::create_directories(path, ignored);

  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.IncreaseParallelism(2);
  db_options.max_open_files = 512;
  // Writes that are not synced by the caller are still ordered; recovery keeps a consistent prefix.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  // Not a LOG file in the data directory: see the header.
  db_options.info_log = std::make_shared<RocksDbLogger>();
  database->recovery_ = std::make_shared<NoSpaceRecovery>(path, options.space_check_interval,
                                                          options.resume_free_bytes);
  db_options.listeners.push_back(database->recovery_);
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

  rocksdb::DB* db = nullptr;
  rocksdb::Status status =
      rocksdb::DB::Open(db_options, path, descriptors, &database->handles_, &db);
  if (!status.ok()) return FromRocksStatus(status, absl::StrCat("opening RocksDB at ", path));
  database->db_ = new SyncInWriteQueue(db);
  for (size_t i = 0; i < names.size(); ++i) database->families_[names[i]] = database->handles_[i];
  database->recovery_->Start(db);
  return database;
}

rocksdb::ColumnFamilyHandle* Database::family(const std::string& name) const {
  auto it = families_.find(name);
  return it == families_.end() ? nullptr : it->second;
}

absl::Status Database::Close() {
  if (db_ == nullptr) return absl::OkStatus();
  recovery_->Stop();
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
