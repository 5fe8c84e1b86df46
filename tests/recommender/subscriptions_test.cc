// Subscriptions (recommender/subscriptions.h) over a real RocksDB and a real index: matching of
// the services a change puts, tokens, persistence across a reopen, expiry, deletion and the
// bound on kept matches.

#include "recommender/subscriptions.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "catalogue_fixture.h"
#include "common/database.h"
#include "common/text.h"
#include "recommender/feedback_store.h"

namespace aurora::recommender {
namespace {

namespace fs = std::filesystem;
namespace dv1 = aurora::directory::v1;
namespace cv1 = aurora::common::v1;
namespace rv1 = aurora::recommender::v1;

dv1::Service Service(int n, const std::string& name, std::vector<cv1::LifeArea> areas,
                     const std::string& municipality = "") {
  dv1::Service s;
  s.set_id(absl::StrCat("b0000000-0000-4000-8000-", absl::StrFormat("%012d", n)));
  s.set_kind(dv1::SERVICE_KIND_SERVICE);
  s.mutable_name()->set_fi(name);
  s.mutable_summary()->set_fi(name);
  if (municipality.empty()) {
    s.set_area_type(dv1::AREA_TYPE_NATIONWIDE);
  } else {
    s.set_area_type(dv1::AREA_TYPE_LIMITED);
    s.add_municipality_codes(municipality);
  }
  for (auto a : areas) s.add_life_areas(a);
  return s;
}

rv1::SubscribeRequest HousingInOulu() {
  rv1::SubscribeRequest r;
  r.mutable_life_situation_meters()->add_housing(1);
  r.set_municipality_code("564");
  r.set_consent(true);
  return r;
}

class Fixture {
 public:
  Fixture() : dir_(fs::temp_directory_path() / ("aurora-subscriptions-" + NewRandomUuid())) {
    fs::create_directories(dir_);
    Reopen();
  }
  ~Fixture() {
    subscriptions_.reset();
    database_.reset();
    fs::remove_all(dir_);
  }
  void Reopen() {
    subscriptions_.reset();
    database_.reset();
    auto database = Database::Open(dir_.string(), {kRecommenderColumnFamily});
    REQUIRE(database.ok());
    database_ = *std::move(database);
    SubscriptionOptions options;
    options.now = [this] { return now; };
    options.max_matches = 3;
    auto subscriptions = Subscriptions::Open(database_.get(), catalogue.ranker.get(),
                                             testing::Demo().codes.get(), options);
    REQUIRE(subscriptions.ok());
    subscriptions_ = *std::move(subscriptions);
    subscriptions_->SetListener([this](const std::string& id) { notified.push_back(id); });
    subscriptions_->Start();
  }
  // Puts `service` into the index at `revision` and has the subscriptions match it.
  void Change(int64_t revision, const std::vector<dv1::Service>& services) {
    std::vector<std::string> ids;
    for (const auto& s : services) {
      catalogue.index->Upsert(s);
      ids.push_back(s.id());
    }
    catalogue.index->SetRevision(revision);
    subscriptions_->OnChanges(revision, ids);
    REQUIRE(subscriptions_->WaitForRevision(revision, absl::Seconds(10)));
  }
  Subscriptions& subscriptions() { return *subscriptions_; }
  std::vector<std::string> Keys() const {
    std::vector<std::string> keys;
    std::unique_ptr<rocksdb::Iterator> it(database_->db()->NewIterator(
        rocksdb::ReadOptions(), database_->family(kRecommenderColumnFamily)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) keys.push_back(it->key().ToString());
    return keys;
  }

  testing::EmptyCatalogue catalogue = testing::Empty();
  absl::Time now = absl::FromUnixSeconds(1800000000);
  std::vector<std::string> notified;  // read after WaitForRevision

 private:
  fs::path dir_;
  std::unique_ptr<Database> database_;
  std::unique_ptr<Subscriptions> subscriptions_;
};

TEST_CASE(
    "a subscription is told of new and changed services that match its situation, and "
    "only of those",
    "[subscriptions]") {
  Fixture f;
  f.Change(1, {Service(1, "Asumisneuvonta", {cv1::LIFE_AREA_HOUSING})});  // before it
  auto created = f.subscriptions().Create(HousingInOulu(), 1);
  REQUIRE(created.ok());
  const std::string id = created->subscription_id();
  CHECK(IsCanonicalUuid(id));
  CHECK(created->token().size() == 64);
  CHECK(created->revision() == 1);
  CHECK(absl::FromUnixSeconds(created->expire_time().seconds()) == f.now + absl::Hours(24 * 90));
  CHECK(f.subscriptions().active() == 1);
  // The token is kept as its hash only.
  for (const auto& key : f.Keys()) CHECK(key.find(created->token()) == std::string::npos);

  // A matching service, one for another need, one only for another town.
  f.Change(2, {Service(2, "Vuokra-asunnot", {cv1::LIFE_AREA_HOUSING}),
               Service(3, "Terveysneuvonta", {cv1::LIFE_AREA_HEALTH}),
               Service(4, "Turun asunnot", {cv1::LIFE_AREA_HOUSING}, "853")});
  auto listed = f.subscriptions().List(id, 0, 10);
  REQUIRE(listed.ok());
  REQUIRE(listed->matches_size() == 1);
  const rv1::ServiceMatch& match = listed->matches(0);
  CHECK(match.sequence() == 1);
  CHECK(match.revision() == 2);
  CHECK(match.service().service().id() == Service(2, "", {}).id());
  REQUIRE(match.service().explanation().life_areas_size() == 1);
  CHECK(match.service().explanation().life_areas(0).area() == cv1::LIFE_AREA_HOUSING);
  CHECK(f.notified == std::vector<std::string>{id});
  // A change of the service before the subscription matches too (changed: it comes again).
  f.Change(3, {Service(1, "Asumisneuvonta ja -ohjaus", {cv1::LIFE_AREA_HOUSING})});
  listed = f.subscriptions().List(id, 1, 10);
  REQUIRE(listed.ok());
  REQUIRE(listed->matches_size() == 1);
  CHECK(listed->matches(0).sequence() == 2);
  CHECK(listed->matches(0).service().service().name().fi() == "Asumisneuvonta ja -ohjaus");
  // Paging.
  listed = f.subscriptions().List(id, 0, 1);
  REQUIRE(listed.ok());
  CHECK(listed->matches_size() == 1);
  CHECK(listed->more());
}

TEST_CASE("tokens, persistence, expiry, deletion and the bound on kept matches",
          "[subscriptions]") {
  Fixture f;
  auto created = f.subscriptions().Create(HousingInOulu(), 0);
  REQUIRE(created.ok());
  const std::string id = created->subscription_id();
  CHECK(f.subscriptions().Authorize(id, created->token()).ok());
  CHECK(f.subscriptions().Authorize(id, std::string(64, 'a')).code() ==
        absl::StatusCode::kNotFound);
  CHECK(f.subscriptions().Authorize(NewRandomUuid(), created->token()).code() ==
        absl::StatusCode::kNotFound);

  // Five matches, three kept.
  for (int i = 1; i <= 5; ++i) {
    f.Change(i, {Service(10 + i, absl::StrCat("Asunto ", i), {cv1::LIFE_AREA_HOUSING})});
  }
  auto listed = f.subscriptions().List(id, 0, 10);
  REQUIRE(listed.ok());
  REQUIRE(listed->matches_size() == 3);
  CHECK(listed->matches(0).sequence() == 3);
  CHECK(listed->matches(2).sequence() == 5);

  // After a reopen: the subscription, its token and its matches are there, and it goes on.
  f.Reopen();
  CHECK(f.subscriptions().active() == 1);
  CHECK(f.subscriptions().Authorize(id, created->token()).ok());
  f.Change(6, {Service(20, "Asunto 6", {cv1::LIFE_AREA_HOUSING})});
  listed = f.subscriptions().List(id, 5, 10);
  REQUIRE(listed.ok());
  REQUIRE(listed->matches_size() == 1);
  CHECK(listed->matches(0).sequence() == 6);

  // A second one, deleted: it and its matches are gone from the store.
  auto other = f.subscriptions().Create(HousingInOulu(), 6);
  REQUIRE(other.ok());
  f.Change(7, {Service(21, "Asunto 7", {cv1::LIFE_AREA_HOUSING})});
  auto deleted = f.subscriptions().Delete(other->subscription_id());
  REQUIRE(deleted.ok());
  CHECK(*deleted == 1);
  for (const auto& key : f.Keys()) CHECK(key.find(other->subscription_id()) == std::string::npos);
  CHECK(f.subscriptions().Delete(other->subscription_id()).status().code() ==
        absl::StatusCode::kNotFound);
  CHECK(f.subscriptions().List(other->subscription_id(), 0, 10).status().code() ==
        absl::StatusCode::kNotFound);

  // Expired: refused, and deleted with its matches.
  f.now += absl::Hours(24 * 91);
  CHECK(f.subscriptions().Authorize(id, created->token()).code() == absl::StatusCode::kNotFound);
  CHECK(f.subscriptions().active() == 0);
  CHECK(f.Keys().empty());
}

}  // namespace
}  // namespace aurora::recommender
