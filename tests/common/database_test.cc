// Unit tests of common/database.h: status conversion and the database wrapper's own behaviour
// (the full-disk recovery runs against a real full filesystem in tests/e2e/test_faults_node.py).

#include "common/database.h"

#include <rocksdb/statistics.h>
#include <rocksdb/write_batch.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

namespace aurora {
namespace {

std::string TempPath(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("aurora-database-test-" + std::to_string(::getpid())) / name;
  std::filesystem::remove_all(dir);
  return dir.string();
}

TEST_CASE("a full disk is RESOURCE_EXHAUSTED with what failed and how it ends",
          "[common][database]") {
  const absl::Status full =
      FromRocksStatus(rocksdb::Status::NoSpace("While appending to file: /data/rocksdb/000004.log",
                                               "No space left on device"),
                      "writing to the directory");
  CHECK(full.code() == absl::StatusCode::kResourceExhausted);
  const std::string message(full.message());
  CHECK(message.rfind("writing to the directory: the data directory's disk is full", 0) == 0);
  CHECK(message.find("/data/rocksdb/000004.log") != std::string::npos);
  CHECK(message.find("once space is freed") != std::string::npos);

  CHECK(FromRocksStatus(rocksdb::Status::OK(), "x").ok());
  CHECK(FromRocksStatus(rocksdb::Status::NotFound(), "x").code() == absl::StatusCode::kNotFound);
  CHECK(FromRocksStatus(rocksdb::Status::Corruption(), "x").code() == absl::StatusCode::kDataLoss);
  CHECK(FromRocksStatus(rocksdb::Status::IOError("disk"), "x").code() ==
        absl::StatusCode::kInternal);
}

TEST_CASE("the database makes its folder, logs to the node's log and syncs the WAL",
          "[common][database]") {
  const std::string path = TempPath("nested/rocksdb");
  {
    auto database = Database::Open(path, {"directory"});
    REQUIRE(database.ok());
    rocksdb::DB* db = (*database)->db();
    rocksdb::WriteBatch batch;
    REQUIRE(batch.Put((*database)->family("directory"), "key", "value").ok());
    rocksdb::WriteOptions unsynced;
    REQUIRE(db->Write(unsynced, &batch).ok());
    const uint64_t synced_before =
        (*database)->statistics()->getTickerCount(rocksdb::WAL_FILE_SYNCED);
    REQUIRE(db->SyncWAL().ok());
    CHECK((*database)->statistics()->getTickerCount(rocksdb::WAL_FILE_SYNCED) > synced_before);
    CHECK(db->FlushWAL(true).ok());
    CHECK(db->Resume().ok());  // nothing to resume from
    CHECK((*database)->Close().ok());
  }
  CHECK(std::filesystem::is_directory(path));
  CHECK_FALSE(std::filesystem::exists(std::filesystem::path(path) / "LOG"));
  auto reopened = Database::Open(path, {"directory"});
  REQUIRE(reopened.ok());
  std::string value;
  REQUIRE((*reopened)
              ->db()
              ->Get(rocksdb::ReadOptions(), (*reopened)->family("directory"), "key", &value)
              .ok());
  CHECK(value == "value");
  CHECK((*reopened)->Close().ok());
  std::filesystem::remove_all(std::filesystem::path(path).parent_path().parent_path());
}

}  // namespace
}  // namespace aurora
