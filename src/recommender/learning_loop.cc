#include "recommender/learning_loop.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/log.h"

namespace aurora::recommender {
namespace {

constexpr char kActiveKey[] = "m/active";
std::string VersionKey(int64_t version) { return absl::StrFormat("m/v/%016x", version); }

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

LearningLoop::LearningLoop(Database* database, rocksdb::ColumnFamilyHandle* family,
                           const FeedbackStore* store, LearningOptions options)
    : database_(database), family_(family), store_(store), options_(std::move(options)) {
  if (options_.metrics == nullptr) return;
  auto& registry = *options_.metrics;
  version_gauge_ = &prometheus::BuildGauge()
                        .Name("aurora_recommender_model_version")
                        .Help(
                            "Version of the active learnt re-ranking model (0: none, the "
                            "ranker's order)")
                        .Register(registry)
                        .Add({});
  impressions_gauge_ = &prometheus::BuildGauge()
                            .Name("aurora_recommender_model_impressions")
                            .Help("Impressions the active re-ranking model was trained on")
                            .Register(registry)
                            .Add({});
  auto& trainings = prometheus::BuildCounter()
                        .Name("aurora_recommender_model_trainings_total")
                        .Help("Trainings of the re-ranking model by result")
                        .Register(registry);
  trained_ = &trainings.Add({{"result", "trained"}});
  not_trained_ = &trainings.Add({{"result", "not_trained"}});
  explorations_ = &prometheus::BuildCounter()
                       .Name("aurora_recommender_explorations_total")
                       .Help(
                           "Answers in which a rarely shown service was put on the first page "
                           "to learn about it")
                       .Register(registry)
                       .Add({});
}

absl::StatusOr<std::unique_ptr<LearningLoop>> LearningLoop::Open(Database* database,
                                                                 const FeedbackStore* store,
                                                                 LearningOptions options) {
  rocksdb::ColumnFamilyHandle* family = database->family(kRecommenderColumnFamily);
  if (family == nullptr) {
    return absl::FailedPreconditionError("the database has no \"recommender\" column family");
  }
  std::unique_ptr<LearningLoop> loop(new LearningLoop(database, family, store, std::move(options)));
  std::string active;
  auto s = database->db()->Get(rocksdb::ReadOptions(), family, kActiveKey, &active);
  int64_t version = 0;
  if (s.ok() && !absl::SimpleAtoi(active, &version)) {
    return absl::DataLossError(absl::StrCat("m/active is not a version: ", active));
  }
  if (!s.ok() && !s.IsNotFound()) return FromRocksStatus(s, "reading the active model");
  RankingModel model;
  if (version > 0) {
    auto loaded = loop->Load(version);
    if (!loaded.ok()) return loaded.status();
    model = *std::move(loaded);
  }
  std::vector<Impression> impressions;
  StatsTable stats(loop->options_.stats);
  int64_t events = 0;
  if (auto read = loop->ReadLog(&impressions, &stats, &events); !read.ok()) return read;
  loop->trained_on_events_.store(version > 0 ? events : -1);
  loop->Publish(std::move(model), std::move(stats));
  return loop;
}

LearningLoop::~LearningLoop() { Stop(); }

void LearningLoop::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Run(); });
}

void LearningLoop::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<const LearnedState> LearningLoop::Current() const { return current_.load(); }

int64_t LearningLoop::active_version() const {
  auto current = current_.load();
  return current ? current->model.version : 0;
}

void LearningLoop::CountExploration() {
  if (explorations_ != nullptr) explorations_->Increment();
}

void LearningLoop::Publish(RankingModel model, StatsTable stats) {
  auto state = std::make_shared<LearnedState>();
  state->model = std::move(model);
  state->stats = std::move(stats);
  state->rerank = options_.rerank;
  if (version_gauge_ != nullptr) {
    version_gauge_->Set(static_cast<double>(state->model.version));
    impressions_gauge_->Set(static_cast<double>(state->model.impressions));
  }
  current_.store(std::move(state));
}

absl::Status LearningLoop::ReadLog(std::vector<Impression>* impressions, StatsTable* stats,
                                   int64_t* events) const {
  *events = 0;
  std::vector<FeedbackStore::Logged> log;
  auto read = store_->ForEachLogged([&](const FeedbackStore::Logged& logged) {
    ++*events;
    *events += static_cast<int64_t>(logged.clicked.size() + logged.feedback.size());
    log.push_back(logged);
  });
  if (!read.ok()) return read;
  // Replayed in time order: each impression's history features are the statistics as they were
  // when it was shown (the stored ones are those the serving node had, refreshed only at
  // trainings), and the statistics then take in what the person did with it.
  std::stable_sort(log.begin(), log.end(), [](const auto& a, const auto& b) {
    return a.recommendation.time_ms < b.recommendation.time_ms;
  });
  for (const auto& logged : log) {
    for (const StoredService& service : logged.recommendation.services) {
      if (service.position <= 0 || service.features.size() != static_cast<size_t>(kFeatureCount)) {
        continue;
      }
      Impression imp;
      imp.service_id = service.id;
      imp.position = service.position;
      std::copy(service.features.begin(), service.features.end(), imp.features.begin());
      SetHistoryFeatures(&imp.features, stats->Of(service.id), *stats);
      imp.time_ms = logged.recommendation.time_ms;
      imp.clicked = std::find(logged.clicked.begin(), logged.clicked.end(), service.id) !=
                    logged.clicked.end();
      for (const auto& [id, score] : logged.feedback) {
        if (id == service.id) imp.feedback = score;
      }
      stats->Impression(service.id, service.position);
      if (imp.clicked) stats->Click(service.id);
      if (imp.feedback != 0) stats->Feedback(service.id, imp.feedback);
      impressions->push_back(std::move(imp));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<RankingModel> LearningLoop::Load(int64_t version) const {
  std::string json;
  auto s = database_->db()->Get(rocksdb::ReadOptions(), family_, VersionKey(version), &json);
  if (s.IsNotFound()) {
    return absl::NotFoundError(absl::StrCat("version: no ranking model ", version, " is kept"));
  }
  if (!s.ok()) return FromRocksStatus(s, "reading a ranking model");
  return RankingModel::FromJson(json);
}

absl::StatusOr<RankingModel> LearningLoop::TrainNow() {
  std::lock_guard<std::mutex> train(train_mu_);
  std::vector<Impression> impressions;
  StatsTable stats(options_.stats);
  int64_t events = 0;
  if (auto read = ReadLog(&impressions, &stats, &events); !read.ok()) return read;
  auto model = TrainRankingModel(std::move(impressions), options_.training);
  trained_on_events_.store(events);
  if (!model.ok()) {
    if (not_trained_ != nullptr) not_trained_->Increment();
    return model.status();
  }
  // The next version: one past the newest kept.
  int64_t newest = 0;
  {
    std::unique_ptr<rocksdb::Iterator> it(
        database_->db()->NewIterator(rocksdb::ReadOptions(), family_));
    it->SeekForPrev("m/v/\xff");
    if (it->Valid() && it->key().starts_with("m/v/")) {
      uint64_t v = 0;
      for (size_t i = 4; i < it->key().size(); ++i) {
        const char c = it->key()[i];
        v = v * 16 + static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
      }
      newest = static_cast<int64_t>(v);
    }
  }
  model->version = newest + 1;
  model->trained_unix_ms = NowMs();
  rocksdb::WriteBatch batch;
  batch.Put(family_, VersionKey(model->version), model->ToJson());
  batch.Put(family_, kActiveKey, absl::StrCat(model->version));
  rocksdb::WriteOptions sync;
  sync.sync = true;
  if (auto s = database_->db()->Write(sync, &batch); !s.ok()) {
    return FromRocksStatus(s, "storing a ranking model");
  }
  if (trained_ != nullptr) trained_->Increment();
  LogInfo("recommender", "re-ranking model trained",
          {{"version", absl::StrCat(model->version)},
           {"impressions", absl::StrCat(model->impressions)},
           {"positives", absl::StrCat(model->positives)},
           {"train_log_loss", absl::StrFormat("%.4f", model->train_log_loss)}});
  Publish(*model, std::move(stats));
  return model;
}

absl::StatusOr<std::vector<RankingModel>> LearningLoop::Versions() const {
  std::vector<RankingModel> out;
  std::unique_ptr<rocksdb::Iterator> it(
      database_->db()->NewIterator(rocksdb::ReadOptions(), family_));
  for (it->Seek("m/v/"); it->Valid() && it->key().starts_with("m/v/"); it->Next()) {
    auto model = RankingModel::FromJson(it->value().ToString());
    if (!model.ok()) return model.status();
    out.push_back(*std::move(model));
  }
  if (!it->status().ok()) return FromRocksStatus(it->status(), "reading ranking models");
  std::reverse(out.begin(), out.end());
  return out;
}

absl::Status LearningLoop::Activate(int64_t version) {
  std::lock_guard<std::mutex> train(train_mu_);
  RankingModel model;
  if (version > 0) {
    auto loaded = Load(version);
    if (!loaded.ok()) return loaded.status();
    model = *std::move(loaded);
  } else if (version < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("version: a kept version, or 0 for none, not ", version));
  }
  rocksdb::WriteOptions sync;
  sync.sync = true;
  if (auto s = database_->db()->Put(sync, family_, kActiveKey, absl::StrCat(version)); !s.ok()) {
    return FromRocksStatus(s, "storing the active model");
  }
  std::vector<Impression> impressions;
  StatsTable stats(options_.stats);
  int64_t events = 0;
  if (auto read = ReadLog(&impressions, &stats, &events); !read.ok()) return read;
  LogInfo("recommender", "re-ranking model activated", {{"version", absl::StrCat(version)}});
  Publish(std::move(model), std::move(stats));
  return absl::OkStatus();
}

void LearningLoop::Run() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait_for(lock, absl::ToChronoNanoseconds(options_.interval),
                     [this] { return stopping_; });
      if (stopping_) return;
    }
    // Only when something was logged since the last training.
    std::vector<Impression> ignored;
    StatsTable stats(options_.stats);
    int64_t events = 0;
    if (!ReadLog(&ignored, &stats, &events).ok() || events == trained_on_events_.load()) continue;
    if (auto model = TrainNow(); !model.ok()) {
      LogInfo("recommender", "re-ranking model not trained",
              {{"reason", std::string(model.status().message())}});
    }
  }
}

}  // namespace aurora::recommender
