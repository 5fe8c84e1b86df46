#pragma once
// SituationStats: the situational picture ("tilannekuva") — aggregated, anonymous statistics of
// the life situations the recommender is asked about, never a request or an identifier.
//
//   * What is counted: for every first-page recommendation with 3X10D answers, one request in its
//     cell (time window x wellbeing services county x age band) and, per answered meter, the mean
//     answer rounded to 0..10 (a histogram) and whether it shows a need (mean 6 or less). The
//     county comes from the home municipality ("unknown" without one), the band from the age
//     (0-17, 18-29, 30-64, 65+, unknown). Nothing else about the request is kept.
//   * Only complete windows are published: a cell's figures are final when it is shown, so
//     watching them change cannot reveal one request.
//   * k-anonymity: a cell of fewer than k requests is published as suppressed, with no figure at
//     all (not even its count).
//   * Differential privacy (optional, epsilon > 0): every published count gets Laplace noise of
//     scale 1/epsilon (one request changes each of them by at most 1), rounded and clipped at 0.
//     The noise of a figure is fixed by a keyed hash of the figure's name and its cell, so asking
//     again returns the same value (averaging repeated answers learns nothing).
//   * Storage: the counts are kept per cell in RocksDB (column family "recommender",
//     "p/" <window start> "/" <county> "/" <band>, and the noise key under "p/key"), written
//     every `flush_interval` and at Stop: a crash loses at most that much counting, never a
//     published figure.
//
// Thread-safe.

#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <array>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aurora/recommender/v1/recommender.pb.h"
#include "common/codelists.h"
#include "common/database.h"
#include "recommender/life_areas.h"
#include "recommender/ranker.h"

namespace aurora::recommender {

struct SituationOptions {
  absl::Duration window = absl::Hours(24);
  int k = 10;
  double epsilon = 0;  // 0: no noise
  // Cells of windows that ended longer ago are deleted.
  absl::Duration retention = absl::Hours(24 * 400);
  absl::Duration flush_interval = absl::Seconds(10);
  // Gauges of the last complete window (when given): aurora_situation_requests{county,
  // age_band} and aurora_situation_need_share{county, area}, cells under k left out.
  prometheus::Registry* metrics = nullptr;
  std::function<absl::Time()> now;  // default absl::Now
};

class SituationStats {
 public:
  static absl::StatusOr<std::unique_ptr<SituationStats>> Open(Database* database,
                                                              const CodeLists* codes,
                                                              SituationOptions options = {});
  ~SituationStats();  // Stop(), Flush()

  // A thread that flushes every flush_interval and refreshes the gauges.
  void Start();
  void Stop();

  // Counts `request` if it has 3X10D answers.
  void Record(const RankRequest& request);
  // Writes the counts of the cells changed since the last flush, and deletes those past the
  // retention.
  absl::Status Flush();
  // Sets the gauges from the last complete window.
  void RefreshGauges();

  // The complete windows that ended within `days` before now (and, if given, only these
  // counties), k-anonymous and noised as above, oldest first.
  absl::StatusOr<aurora::recommender::v1::SituationalPicture> Query(
      int days, const std::vector<std::string>& counties) const;

  const SituationOptions& options() const { return options_; }

 private:
  struct Cell {
    int64_t requests = 0;
    std::array<int64_t, kLifeAreaCount> answered{};
    std::array<int64_t, kLifeAreaCount> needs{};
    std::array<std::array<int64_t, 11>, kLifeAreaCount> histogram{};
    bool dirty = false;
  };
  using Key = std::tuple<int64_t, std::string, std::string>;  // window start (s), county, band

  SituationStats(Database* database, rocksdb::ColumnFamilyHandle* family, const CodeLists* codes,
                 SituationOptions options, std::string noise_key);
  absl::Time Now() const;
  // The published value of `count` for the figure named `name` of cell `key`.
  int64_t Noised(int64_t count, const Key& key, const std::string& name) const;

  Database* database_;
  rocksdb::ColumnFamilyHandle* family_;
  const CodeLists* codes_;
  const SituationOptions options_;
  const std::string noise_key_;
  mutable std::mutex mu_;
  std::map<Key, Cell> cells_;

  std::mutex thread_mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
  prometheus::Family<prometheus::Gauge>* requests_family_ = nullptr;
  prometheus::Family<prometheus::Gauge>* need_family_ = nullptr;
  std::vector<prometheus::Gauge*> gauges_;  // the series set by the last refresh
};

// "0-17", "18-29", "30-64", "65+" or "unknown".
std::string AgeBand(const std::optional<int>& age);

}  // namespace aurora::recommender
