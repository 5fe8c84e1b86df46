// Unit tests of ProfileStore over a real RocksDB in a temporary folder: encryption at rest, the
// pseudonym index, consents, the access log, and erasure by crypto-shredding.

#include "profile/store.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "common/database.h"
#include "common/text.h"
#include "profile/crypto.h"

namespace aurora::profile {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("aurora-profile-store-" + NewRandomUuid())) {
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string path() const { return path_.string(); }

 private:
  fs::path path_;
};

std::unique_ptr<Database> OpenDatabase(const std::string& path) {
  auto database = Database::Open(path, {kProfileColumnFamily});
  REQUIRE(database.ok());
  return *std::move(database);
}

v1::Attribute MakeAttribute(const std::string& name, const std::string& text) {
  v1::Attribute attribute;
  attribute.set_name(name);
  attribute.mutable_value()->set_string_value(text);
  attribute.set_source("user");
  return attribute;
}

// Whether any file under `dir` contains `needle` (SST, WAL, MANIFEST, logs, everything).
bool AnyFileContains(const std::string& dir, const std::string& needle) {
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.find(needle) != std::string::npos) return true;
  }
  return false;
}

TEST_CASE("ProfileStore keeps attributes encrypted and reads them back after a restart",
          "[profile][store]") {
  TempDir dir;
  const std::string master = RandomBytes(kAeadKeyBytes);
  const std::string marker = "MARKER-" + NewRandomUuid();
  const std::string user = NewRandomUuid();
  {
    auto database = OpenDatabase(dir.path());
    auto store = ProfileStore::Open(database.get(), master);
    REQUIRE(store.ok());
    CHECK_FALSE(*(*store)->Exists(user));
    REQUIRE((*store)
                ->PutAttributes(user, {MakeAttribute("note", marker),
                                       MakeAttribute("municipality_code", "091")})
                .ok());
    CHECK(*(*store)->Exists(user));
    auto one = (*store)->GetAttributes(user, {"note"});
    REQUIRE(one.ok());
    REQUIRE(one->size() == 1);
    CHECK((*one)[0].value().string_value() == marker);
    REQUIRE(database->Close().ok());
  }
  // Neither the WAL nor the flushed tables hold the plaintext, nor the user's id in the clear
  // next to it... the id is a key, but the value is sealed.
  CHECK_FALSE(AnyFileContains(dir.path(), marker));

  auto database = OpenDatabase(dir.path());
  auto store = ProfileStore::Open(database.get(), master);
  REQUIRE(store.ok());
  auto all = (*store)->GetAttributes(user);
  REQUIRE(all.ok());
  REQUIRE(all->size() == 2);
  CHECK((*all)[0].name() == "municipality_code");  // by name
  CHECK((*all)[1].value().string_value() == marker);

  // Another master key cannot open the person's data key.
  REQUIRE(database->Close().ok());
  auto reopened = OpenDatabase(dir.path());
  auto wrong = ProfileStore::Open(reopened.get(), RandomBytes(kAeadKeyBytes));
  REQUIRE(wrong.ok());
  auto denied = (*wrong)->GetAttributes(user);
  CHECK(denied.status().code() == absl::StatusCode::kDataLoss);
  CHECK(std::string(denied.status().message()).find("master key") != std::string::npos);
}

TEST_CASE("ProfileStore refuses a bad master key and a foreign format", "[profile][store]") {
  TempDir dir;
  auto database = OpenDatabase(dir.path());
  auto short_key = ProfileStore::Open(database.get(), std::string(16, 'k'));
  CHECK(short_key.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(short_key.status().message()).find("16") != std::string::npos);

  rocksdb::WriteOptions options;
  REQUIRE(
      database->db()->Put(options, database->family(kProfileColumnFamily), "m/format", "9").ok());
  auto future = ProfileStore::Open(database.get(), RandomBytes(kAeadKeyBytes));
  CHECK(future.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(future.status().message()).find("\"9\"") != std::string::npos);
}

TEST_CASE("ProfileStore resolves service pseudonyms, keeps consents, receipts and the access log",
          "[profile][store]") {
  TempDir dir;
  auto database = OpenDatabase(dir.path());
  auto opened = ProfileStore::Open(database.get(), RandomBytes(kAeadKeyBytes));
  REQUIRE(opened.ok());
  ProfileStore& store = **opened;
  const std::string user = NewRandomUuid(), other = NewRandomUuid();

  v1::ServicePseudonym service;
  service.set_client_id("client-a");
  service.set_client_name("Chatbot");
  service.set_user_id(NewRandomUuid());
  REQUIRE(store.PutServicePseudonym(user, service).ok());
  auto found = store.FindUser("client-a", service.user_id());
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  CHECK(**found == user);
  CHECK_FALSE(store.FindUser("client-b", service.user_id())->has_value());
  CHECK_FALSE(store.FindUser("client-a", NewRandomUuid())->has_value());
  auto listed = store.ListServicePseudonyms(user);
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 1);
  CHECK((*listed)[0].client_name() == "Chatbot");

  v1::Consent consent;
  consent.set_consent_id(NewRandomUuid());
  consent.set_client_id("client-a");
  consent.add_attributes("age");
  consent.set_purpose("recommend services");
  v1::ConsentReceipt receipt;
  receipt.set_receipt_id(NewRandomUuid());
  receipt.set_event("grant");
  *receipt.mutable_consent() = consent;
  REQUIRE(store.PutConsent(user, consent, receipt).ok());
  auto got = store.GetConsent(user, consent.consent_id());
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK((*got)->purpose() == "recommend services");
  CHECK_FALSE(store.GetConsent(other, consent.consent_id())->has_value());
  CHECK(store.ListConsents(user)->size() == 1);
  CHECK(store.ListReceipts(user)->size() == 1);
  CHECK(store.ListConsents(other)->empty());

  for (int i = 0; i < 5; ++i) {
    v1::AccessLogEntry entry;
    entry.set_client_id("client-a");
    entry.set_purpose("read " + std::to_string(i));
    REQUIRE(store.AppendAccessLog(user, entry).ok());
  }
  auto log = store.ListAccessLog(user);
  REQUIRE(log.ok());
  REQUIRE(log->size() == 5);
  CHECK((*log)[0].purpose() == "read 4");  // newest first
  CHECK((*log)[4].purpose() == "read 0");
  auto limited = store.ListAccessLog(user, 2);
  REQUIRE(limited->size() == 2);
  CHECK((*limited)[1].purpose() == "read 3");

  auto deleted = store.DeleteAttributes(user, {"age", "nothing"});
  REQUIRE(deleted.ok());
  CHECK(*deleted == 0);
}

TEST_CASE("erasing a person shreds their data key and leaves no plaintext in the data directory",
          "[profile][store]") {
  TempDir dir;
  const std::string master = RandomBytes(kAeadKeyBytes);
  const std::string marker = "ERASE-ME-" + NewRandomUuid();
  const std::string user = NewRandomUuid(), neighbour = NewRandomUuid();
  auto database = OpenDatabase(dir.path());
  auto opened = ProfileStore::Open(database.get(), master);
  REQUIRE(opened.ok());
  ProfileStore& store = **opened;
  REQUIRE(store.PutAttributes(user, {MakeAttribute("note", marker)}).ok());
  REQUIRE(store.PutAttributes(neighbour, {MakeAttribute("note", "stays")}).ok());
  v1::ServicePseudonym service;
  service.set_client_id("client-a");
  service.set_user_id(NewRandomUuid());
  REQUIRE(store.PutServicePseudonym(user, service).ok());
  v1::AccessLogEntry entry;
  entry.set_client_id("client-a");
  REQUIRE(store.AppendAccessLog(user, entry).ok());
  // Flushed into table files, so that the deletion has to reach into them.
  REQUIRE(
      database->db()->Flush(rocksdb::FlushOptions(), database->family(kProfileColumnFamily)).ok());

  auto erased = store.Erase(user);
  REQUIRE(erased.ok());
  CHECK(*erased == 5);  // data key, attribute, service, index entry, log entry
  CHECK_FALSE(*store.Exists(user));
  CHECK(store.GetAttributes(user)->empty());
  CHECK_FALSE(store.FindUser("client-a", service.user_id())->has_value());
  CHECK(store.ListAccessLog(user)->empty());
  CHECK(*store.Erase(user) == 0);
  // A service's read or write that raced the erasure does not bring the profile back.
  CHECK(store.AppendAccessLog(user, entry).code() == absl::StatusCode::kNotFound);
  CHECK(store.PutAttributes(user, {MakeAttribute("note", "late")}, /*existing_only=*/true).code() ==
        absl::StatusCode::kNotFound);
  CHECK_FALSE(*store.Exists(user));
  // The neighbour is untouched.
  auto kept = store.GetAttributes(neighbour);
  REQUIRE(kept.ok());
  REQUIRE(kept->size() == 1);
  CHECK(kept->front().value().string_value() == "stays");

  REQUIRE(database->Close().ok());
  CHECK_FALSE(AnyFileContains(dir.path(), marker));
  // No key of the erased person is left in any table file either.
  bool key_left = false;
  for (const auto& file : fs::directory_iterator(dir.path())) {
    if (file.path().extension() != ".sst") continue;
    std::ifstream in(file.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    key_left |= bytes.find("k/" + user) != std::string::npos;
  }
  CHECK_FALSE(key_left);
}

}  // namespace
}  // namespace aurora::profile
