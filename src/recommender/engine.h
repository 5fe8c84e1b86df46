#pragma once
// RecommenderEngine: what both the native and the AuroraAI-compatible service run — admission
// control (at most `ranking_threads` rankings at a time, some on the calling gRPC thread while a
// slot is free, the others on a fixed pool of threads from a bounded queue: past the queue,
// calls are refused at once with RESOURCE_EXHAUSTED and a Retry-After hint, and a slot can never
// leak because a queued task owns nothing but its closure), ranking, and storing the
// recommendation.
//
// Thread-safe.

#include <grpcpp/grpcpp.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/executor.h"
#include "recommender/feedback_store.h"
#include "recommender/learning_loop.h"
#include "recommender/peers.h"
#include "recommender/situation_stats.h"
#include "recommender/ranker.h"

namespace aurora::recommender {

struct EngineOptions {
  int ranking_threads = 0;        // 0: one per hardware thread
  size_t max_queued_calls = 256;  // waiting rankings beyond the running ones
  // The longest wait a queued ranking may expect (Executor's max_wait); zero: no bound in time.
  std::chrono::microseconds max_queue_wait{0};
  int retry_after_seconds = 1;
  // Of the `ranking_threads` rankings at a time, how many may run on gRPC's threads (the
  // others on the engine's). -1: as InlineRankings() decides.
  int inline_rankings = -1;
};

// The rankings that may run on gRPC's threads at once for these options. gRPC (1.51) runs the
// callbacks of a server on Clamp(cores / 2, 2, 16) threads; a ranking on one of them keeps it
// from dispatching other calls. By default all rankings run there when those threads are at least
// as many as the ranking threads (2 cores: 2 and 2), and none does otherwise: with fewer, the
// rankings would hold every callback thread and the engine's threads would stay idle. Measured on
// 2 cores (bench/README.md): all on gRPC's threads +12 % throughput against none; one of two
// no better than none.
int InlineRankings(const EngineOptions& options);

struct Caller {
  std::string client;        // API client id, when the gateway authenticated one
  std::string organization;  // its organisation
  static Caller Of(const grpc::CallbackServerContext* context);
};

struct Outcome {
  RankResult result;
  int64_t recommendation_id = 0;
};

class RecommenderEngine {
 public:
  RecommenderEngine(const CatalogueIndex* index, const Ranker* ranker, FeedbackStore* store,
                    EngineOptions options = {});
  ~RecommenderEngine();

  // Runs `work` on a ranking thread; false (and `work` not run) when the queue is full or the
  // engine is shutting down. For work that may block (synced RocksDB writes).
  bool Submit(std::function<void()> work);
  // For a ranking (CPU only, a few milliseconds at most): runs `work` on the calling gRPC thread
  // when a ranking slot is free and fewer than InlineRankings() run on gRPC's threads, else
  // queues it as Submit() does. Both count against the same bound of `ranking_threads`
  // rankings at a time.
  bool RunOrSubmit(std::function<void()> work);
  // The status for a refused call; also sets the `retry-after` trailing metadata.
  grpc::Status Overloaded(grpc::CallbackServerContext* context) const;

  // The learnt re-ranking (null: none). Set before serving.
  void SetLearning(LearningLoop* learning) { learning_ = learning; }
  // Counters of the recommendations' quality signals, in `registry`:
  // aurora_recommender_answers_total{path} and aurora_recommender_empty_answers_total{path}
  // (first pages), aurora_recommender_feedback_total{score="positive|negative"} and
  // aurora_recommender_redirects_total. Set before serving.
  void SetMetrics(prometheus::Registry* registry);
  void CountFeedback(int score);
  void CountRedirect();

  // The other replicas (null: none, the recommender runs as one process). Set before serving.
  void SetPeers(RecommenderPeers* peers) { peers_ = peers; }
  // For a call about recommendation `id` that this replica does not hold: the answer of the peer
  // that holds it (see peers.h), or nullopt (no peers, no peer holds it, or the call was
  // forwarded to this replica): answer from this replica's own log.
  std::optional<grpc::Status> ForwardIfElsewhere(int64_t id, grpc::CallbackServerContext* context,
                                                 const std::string& method,
                                                 const google::protobuf::Message& request,
                                                 google::protobuf::Message* response);

  // The situational picture, which counts every first-page request (null: none). Set before
  // serving.
  void SetSituation(SituationStats* situation) { situation_ = situation; }
  void RecordSituation(const RankRequest& request) {
    if (situation_ != nullptr && request.offset == 0) situation_->Record(request);
  }

  // Ranks (re-ranked by the active learnt model, exploring on first pages; learning_loop.h) and
  // stores the recommendation with its services' channel links — and, with learning, each first
  // page service's position and features, which the next model learns from.
  absl::StatusOr<Outcome> RankAndSave(const RankRequest& request, const std::string& path,
                                      const Caller& caller, const std::string& session);
  // Stores `services` as a recommendation (e.g. a package's steps) and returns its id;
  // `features` (if given) per service.
  absl::StatusOr<int64_t> Save(const std::vector<RankedService>& services, const std::string& path,
                               const Caller& caller, const std::string& session,
                               const std::vector<FeatureVector>* features = nullptr);

  void Shutdown() { executor_.Shutdown(); }
  size_t queued() const { return executor_.queued(); }

  const CatalogueIndex& index() const { return *index_; }
  const Ranker& ranker() const { return *ranker_; }
  FeedbackStore& store() const { return *store_; }

 private:
  const CatalogueIndex* index_;
  const Ranker* ranker_;
  FeedbackStore* store_;
  LearningLoop* learning_ = nullptr;
  SituationStats* situation_ = nullptr;
  RecommenderPeers* peers_ = nullptr;
  prometheus::Family<prometheus::Counter>* answers_ = nullptr;
  prometheus::Family<prometheus::Counter>* empty_answers_ = nullptr;
  prometheus::Counter* positive_feedback_ = nullptr;
  prometheus::Counter* negative_feedback_ = nullptr;
  prometheus::Counter* redirects_ = nullptr;
  EngineOptions options_;
  Executor executor_;
};

}  // namespace aurora::recommender
