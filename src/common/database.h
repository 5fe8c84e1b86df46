#pragma once
// The node's one RocksDB database (DESIGN.md §6): one column family per component, opened once by
// the node and shared by the components. Writes of user data go through the component stores,
// which decide on sync; this class only owns the handles, the statistics and the recovery from a
// full disk.
//
// A full disk: a write that finds no space fails with RESOURCE_EXHAUSTED (FromRocksStatus), and
// RocksDB then refuses every write (reads go on) until it is resumed. RocksDB resumes by itself
// only once a memtable's worth of space (64 MiB) is free, which a small volume never has; this
// class instead looks at the free space every DatabaseOptions::space_check_interval and resumes
// as soon as resume_free_bytes are free, so writes work again without a restart. RocksDB's own
// log goes to the node's log (warnings and errors, component "rocksdb"), not to a LOG file in
// the data directory: writing that file on a full disk would abort the process.
//
// Thread-safe: RocksDB handles may be used from any thread. Close() must not race with use.

#include <rocksdb/db.h>
#include <rocksdb/statistics.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace aurora {

struct DatabaseOptions {
  // LRU block cache shared by all column families.
  size_t block_cache_bytes = 128u << 20;
  // Collect RocksDB statistics (tickers and histograms) for /metrics.
  bool statistics = true;
  // After the disk was full: how often the free space is looked at, and how much must be free
  // before writes are resumed.
  absl::Duration space_check_interval = absl::Seconds(1);
  uint64_t resume_free_bytes = 1u << 20;
};

class NoSpaceRecovery;

class Database {
 public:
  // Opens (creating if needed) the database in `path` with the given column families (plus
  // "default"). Existing column families not listed are opened too, so that a node running fewer
  // components never loses another component's data.
  static absl::StatusOr<std::unique_ptr<Database>> Open(const std::string& path,
                                                        const std::vector<std::string>& families,
                                                        const DatabaseOptions& options = {});
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  rocksdb::DB* db() const { return db_; }
  // The handle of a column family given to Open; nullptr for an unknown name.
  rocksdb::ColumnFamilyHandle* family(const std::string& name) const;
  // Statistics, or nullptr when disabled.
  rocksdb::Statistics* statistics() const { return statistics_.get(); }
  const std::string& path() const { return path_; }

  // Flushes memtables and closes the database; idempotent. Called on shutdown after the servers
  // have drained.
  absl::Status Close();

 private:
  Database() = default;

  std::string path_;
  rocksdb::DB* db_ = nullptr;
  std::map<std::string, rocksdb::ColumnFamilyHandle*> families_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::shared_ptr<rocksdb::Statistics> statistics_;
  std::shared_ptr<NoSpaceRecovery> recovery_;
};

// Converts a RocksDB status into an absl::Status with `what` as context. A full disk is
// RESOURCE_EXHAUSTED (gRPC's code for "the entire file system is out of space").
absl::Status FromRocksStatus(const rocksdb::Status& status, const std::string& what);

}  // namespace aurora
