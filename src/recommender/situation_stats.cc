#include "recommender/situation_stats.h"

#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "recommender/feedback_store.h"

namespace aurora::recommender {
namespace {

namespace rv1 = aurora::recommender::v1;

constexpr char kNoiseKey[] = "p/key";
constexpr char kUnknown[] = "unknown";

std::string CellKey(int64_t window, const std::string& county, const std::string& band) {
  return absl::StrFormat("p/%016x/%s/%s", window, county, band);
}

google::protobuf::Timestamp Proto(int64_t seconds) {
  google::protobuf::Timestamp t;
  t.set_seconds(seconds);
  return t;
}

}  // namespace

std::string AgeBand(const std::optional<int>& age) {
  if (!age.has_value()) return kUnknown;
  if (*age <= 17) return "0-17";
  if (*age <= 29) return "18-29";
  if (*age <= 64) return "30-64";
  return "65+";
}

SituationStats::SituationStats(Database* database, rocksdb::ColumnFamilyHandle* family,
                               const CodeLists* codes, SituationOptions options,
                               std::string noise_key)
    : database_(database),
      family_(family),
      codes_(codes),
      options_(std::move(options)),
      noise_key_(std::move(noise_key)) {
  if (options_.metrics == nullptr) return;
  requests_family_ = &prometheus::BuildGauge()
                          .Name("aurora_situation_requests")
                          .Help(
                              "Situational picture, the last complete window: requests with "
                              "3X10D answers per county and age band (cells under k left out)")
                          .Register(*options_.metrics);
  need_family_ = &prometheus::BuildGauge()
                      .Name("aurora_situation_need_share")
                      .Help(
                          "Situational picture, the last complete window: the share of the "
                          "requests that answered a meter in which it shows a need, per county "
                          "(cells under k left out)")
                      .Register(*options_.metrics);
}

absl::StatusOr<std::unique_ptr<SituationStats>> SituationStats::Open(Database* database,
                                                                     const CodeLists* codes,
                                                                     SituationOptions options) {
  rocksdb::ColumnFamilyHandle* family = database->family(kRecommenderColumnFamily);
  if (family == nullptr) {
    return absl::FailedPreconditionError("the database has no \"recommender\" column family");
  }
  std::string key;
  auto s = database->db()->Get(rocksdb::ReadOptions(), family, kNoiseKey, &key);
  if (s.IsNotFound()) {
    key.resize(32);
    if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), 32) != 1) {
      return absl::InternalError("OpenSSL RAND_bytes failed");
    }
    rocksdb::WriteOptions sync;
    sync.sync = true;
    if (auto w = database->db()->Put(sync, family, kNoiseKey, key); !w.ok()) {
      return FromRocksStatus(w, "storing the situational picture's noise key");
    }
  } else if (!s.ok()) {
    return FromRocksStatus(s, "reading the situational picture's noise key");
  }
  std::unique_ptr<SituationStats> out(
      new SituationStats(database, family, codes, std::move(options), std::move(key)));
  std::unique_ptr<rocksdb::Iterator> it(
      database->db()->NewIterator(rocksdb::ReadOptions(), family));
  for (it->Seek("p/"); it->Valid() && it->key().starts_with("p/"); it->Next()) {
    if (it->key() == rocksdb::Slice(kNoiseKey)) continue;
    const std::vector<std::string> parts = absl::StrSplit(it->key().ToString(), '/');
    uint64_t window = 0;
    rv1::StoredSituationCell stored;
    if (parts.size() != 4 || !absl::SimpleHexAtoi(parts[1], &window) ||
        !stored.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())) ||
        stored.answered_size() != kLifeAreaCount || stored.needs_size() != kLifeAreaCount ||
        stored.histogram_size() != kLifeAreaCount * 11) {
      return absl::DataLossError(
          absl::StrCat("situational picture cell ", it->key().ToString(), " is not readable"));
    }
    Cell cell;
    cell.requests = stored.requests();
    for (int a = 0; a < kLifeAreaCount; ++a) {
      cell.answered[a] = stored.answered(a);
      cell.needs[a] = stored.needs(a);
      for (int b = 0; b < 11; ++b) cell.histogram[a][b] = stored.histogram(a * 11 + b);
    }
    out->cells_[{static_cast<int64_t>(window), parts[2], parts[3]}] = cell;
  }
  if (!it->status().ok()) return FromRocksStatus(it->status(), "reading the situational picture");
  return out;
}

SituationStats::~SituationStats() {
  Stop();
  (void)Flush();
}

void SituationStats::Start() {
  std::lock_guard<std::mutex> lock(thread_mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(thread_mu_);
        wake_.wait_for(lock, absl::ToChronoNanoseconds(options_.flush_interval),
                       [this] { return stopping_; });
        if (stopping_) return;
      }
      (void)Flush();
      RefreshGauges();
    }
  });
}

void SituationStats::Stop() {
  {
    std::lock_guard<std::mutex> lock(thread_mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SituationStats::RefreshGauges() {
  if (requests_family_ == nullptr) return;
  const int64_t length = absl::ToInt64Seconds(options_.window);
  auto picture = Query(static_cast<int>(length / 86400) + 1, {});
  if (!picture.ok()) return;
  // The last complete window's cells.
  int64_t last = 0;
  for (const auto& cell : picture->cells()) last = std::max(last, cell.window_start().seconds());
  for (prometheus::Gauge* g : gauges_) {
    requests_family_->Remove(g);
    need_family_->Remove(g);
  }
  gauges_.clear();
  std::map<std::pair<std::string, int>, std::pair<double, double>> need;  // (county, area)
  for (const auto& cell : picture->cells()) {
    if (cell.window_start().seconds() != last || cell.suppressed()) continue;
    auto& g = requests_family_->Add(
        {{"county", cell.wellbeing_service_county_code()}, {"age_band", cell.age_band()}});
    g.Set(static_cast<double>(cell.requests()));
    gauges_.push_back(&g);
    for (int a = 0; a < cell.meters_size(); ++a) {
      auto& n = need[{cell.wellbeing_service_county_code(), a}];
      n.first += static_cast<double>(cell.meters(a).needs());
      n.second += static_cast<double>(cell.meters(a).answered());
    }
  }
  for (const auto& [key, counts] : need) {
    if (counts.second <= 0) continue;
    auto& g =
        need_family_->Add({{"county", key.first}, {"area", std::string(LifeAreaKey(key.second))}});
    g.Set(counts.first / counts.second);
    gauges_.push_back(&g);
  }
}

absl::Time SituationStats::Now() const { return options_.now ? options_.now() : absl::Now(); }

void SituationStats::Record(const RankRequest& request) {
  std::array<double, kLifeAreaCount> mean{};
  std::array<bool, kLifeAreaCount> answered{};
  bool any = false;
  for (int a = 0; a < kLifeAreaCount; ++a) {
    const auto& answers = MeterAnswers(request.meters, a);
    if (answers.empty()) continue;
    double sum = 0;
    for (int v : answers) sum += v;
    mean[a] = sum / static_cast<double>(answers.size());
    answered[a] = true;
    any = true;
  }
  if (!any) return;
  std::string county = kUnknown;
  if (const Municipality* m = codes_->FindMunicipality(request.municipality_code);
      m != nullptr && !m->wellbeing_county_code.empty()) {
    county = m->wellbeing_county_code;
  }
  const int64_t length = absl::ToInt64Seconds(options_.window);
  const int64_t now = absl::ToUnixSeconds(Now());
  const int64_t window = now - ((now % length) + length) % length;
  std::lock_guard<std::mutex> lock(mu_);
  Cell& cell = cells_[{window, county, AgeBand(request.age)}];
  ++cell.requests;
  for (int a = 0; a < kLifeAreaCount; ++a) {
    if (!answered[a]) continue;
    ++cell.answered[a];
    if (mean[a] <= 6.0) ++cell.needs[a];
    ++cell.histogram[a][std::clamp(static_cast<int>(std::lround(mean[a])), 0, 10)];
  }
  cell.dirty = true;
}

absl::Status SituationStats::Flush() {
  rocksdb::WriteBatch batch;
  std::vector<Cell*> flushed;
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t oldest =
      absl::ToUnixSeconds(Now() - options_.retention) - absl::ToInt64Seconds(options_.window);
  bool expired = false;
  for (auto it = cells_.begin(); it != cells_.end();) {
    const auto& [window, county, band] = it->first;
    if (window >= oldest) {
      ++it;
      continue;
    }
    batch.Delete(family_, CellKey(window, county, band));
    it = cells_.erase(it);
    expired = true;
  }
  for (auto& [key, cell] : cells_) {
    if (!cell.dirty) continue;
    rv1::StoredSituationCell stored;
    stored.set_requests(cell.requests);
    for (int a = 0; a < kLifeAreaCount; ++a) {
      stored.add_answered(cell.answered[a]);
      stored.add_needs(cell.needs[a]);
      for (int b = 0; b < 11; ++b) stored.add_histogram(cell.histogram[a][b]);
    }
    const auto& [window, county, band] = key;
    batch.Put(family_, CellKey(window, county, band), stored.SerializeAsString());
    flushed.push_back(&cell);
  }
  if (flushed.empty() && !expired) return absl::OkStatus();
  if (auto s = database_->db()->Write(rocksdb::WriteOptions(), &batch); !s.ok()) {
    return FromRocksStatus(s, "storing the situational picture");
  }
  for (Cell* cell : flushed) cell->dirty = false;
  return absl::OkStatus();
}

int64_t SituationStats::Noised(int64_t count, const Key& key, const std::string& name) const {
  if (options_.epsilon <= 0) return count;
  // u in (0, 1) from HMAC-SHA-256(noise key, figure): the same figure always gets the same noise.
  const auto& [window, county, band] = key;
  const std::string message = absl::StrCat(window, "/", county, "/", band, "/", name);
  unsigned char digest[32];
  unsigned int length = 0;
  HMAC(EVP_sha256(), noise_key_.data(), static_cast<int>(noise_key_.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &length);
  uint64_t bits = 0;
  std::memcpy(&bits, digest, sizeof(bits));
  const double u = (static_cast<double>(bits >> 11) + 0.5) / 9007199254740992.0;  // (0, 1)
  // Laplace(0, 1/epsilon) by the inverse CDF.
  const double b = 1.0 / options_.epsilon;
  const double noise = u < 0.5 ? b * std::log(2 * u) : -b * std::log(2 * (1 - u));
  return std::max<int64_t>(0, std::llround(static_cast<double>(count) + noise));
}

absl::StatusOr<rv1::SituationalPicture> SituationStats::Query(
    int days, const std::vector<std::string>& counties) const {
  const int64_t length = absl::ToInt64Seconds(options_.window);
  const int64_t now = absl::ToUnixSeconds(Now());
  const int64_t since = now - static_cast<int64_t>(days) * 86400;
  rv1::SituationalPicture out;
  out.set_k(options_.k);
  out.set_epsilon(options_.epsilon);
  out.set_window_seconds(length);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, cell] : cells_) {
    const auto& [window, county, band] = key;
    const int64_t end = window + length;
    if (end > now || end < since) continue;  // open, or older than asked
    if (!counties.empty() &&
        std::find(counties.begin(), counties.end(), county) == counties.end()) {
      continue;
    }
    auto* c = out.add_cells();
    *c->mutable_window_start() = Proto(window);
    *c->mutable_window_end() = Proto(end);
    c->set_wellbeing_service_county_code(county);
    if (const AreaCode* code = codes_->FindWellbeingCounty(county)) {
      c->set_wellbeing_service_county_name(code->name.fi());
    }
    c->set_age_band(band);
    if (cell.requests < options_.k) {
      c->set_suppressed(true);
      continue;
    }
    c->set_requests(Noised(cell.requests, key, "requests"));
    for (int a = 0; a < kLifeAreaCount; ++a) {
      const std::string area(LifeAreaKey(a));
      auto* m = c->add_meters();
      m->set_area(LifeAreaAt(a));
      m->set_answered(Noised(cell.answered[a], key, absl::StrCat(area, "/answered")));
      m->set_needs(Noised(cell.needs[a], key, absl::StrCat(area, "/needs")));
      for (int bin = 0; bin < 11; ++bin) {
        m->add_histogram(Noised(cell.histogram[a][bin], key, absl::StrCat(area, "/", bin)));
      }
    }
  }
  return out;
}

}  // namespace aurora::recommender
