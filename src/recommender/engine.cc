#include "recommender/engine.h"

#include <algorithm>
#include <iterator>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/caller.h"

namespace aurora::recommender {
namespace {

int ThreadsOf(const EngineOptions& options) {
  if (options.ranking_threads > 0) return options.ranking_threads;
  return std::max(1u, std::thread::hardware_concurrency());
}

std::string Metadata(const grpc::CallbackServerContext* context, const char* key) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find(key);
  return it == metadata.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

}  // namespace

int InlineRankings(const EngineOptions& options) {
  const int threads = ThreadsOf(options);
  if (options.inline_rankings >= 0) return std::min(options.inline_rankings, threads);
  const int grpc_callback_threads =
      std::clamp(static_cast<int>(std::thread::hardware_concurrency()) / 2, 2, 16);
  return grpc_callback_threads >= threads ? threads : 0;
}

Caller Caller::Of(const grpc::CallbackServerContext* context) {
  return {Metadata(context, kCallerClientMetadata), Metadata(context, kCallerOrganizationMetadata)};
}

RecommenderEngine::RecommenderEngine(const CatalogueIndex* index, const Ranker* ranker,
                                     FeedbackStore* store, EngineOptions options)
    : index_(index),
      ranker_(ranker),
      store_(store),
      options_(options),
      executor_("ranking", ThreadsOf(options), options.max_queued_calls, InlineRankings(options),
                options.max_queue_wait) {}

RecommenderEngine::~RecommenderEngine() { executor_.Shutdown(); }

bool RecommenderEngine::Submit(std::function<void()> work) {
  return executor_.Submit(std::move(work));
}

bool RecommenderEngine::RunOrSubmit(std::function<void()> work) {
  return executor_.RunOrSubmit(std::move(work));
}

grpc::Status RecommenderEngine::Overloaded(grpc::CallbackServerContext* context) const {
  context->AddTrailingMetadata("retry-after", absl::StrCat(options_.retry_after_seconds));
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                      "the recommender is at capacity; retry after the time in retry-after");
}

void RecommenderEngine::SetMetrics(prometheus::Registry* registry) {
  answers_ = &prometheus::BuildCounter()
                  .Name("aurora_recommender_answers_total")
                  .Help("First pages of recommendations and searches answered, by path")
                  .Register(*registry);
  empty_answers_ = &prometheus::BuildCounter()
                        .Name("aurora_recommender_empty_answers_total")
                        .Help("First pages answered with no service at all, by path")
                        .Register(*registry);
  // Every path from the start, so that rates and ratios have series before the first answer.
  for (const char* path : {"recommend", "search", "conversation", "compat/recommend_service",
                           "compat/text_search"}) {
    answers_->Add({{"path", path}});
    empty_answers_->Add({{"path", path}});
  }
  auto& feedback = prometheus::BuildCounter()
                       .Name("aurora_recommender_feedback_total")
                       .Help("Feedback recorded on recommended services and recommendations")
                       .Register(*registry);
  positive_feedback_ = &feedback.Add({{"score", "positive"}});
  negative_feedback_ = &feedback.Add({{"score", "negative"}});
  redirects_ = &prometheus::BuildCounter()
                    .Name("aurora_recommender_redirects_total")
                    .Help("Clicks on recommended services' channel links")
                    .Register(*registry)
                    .Add({});
}

std::optional<grpc::Status> RecommenderEngine::ForwardIfElsewhere(
    int64_t id, grpc::CallbackServerContext* context, const std::string& method,
    const google::protobuf::Message& request, google::protobuf::Message* response) {
  if (peers_ == nullptr || store_->HasRecommendation(id)) return std::nullopt;
  return peers_->Forward(context, method, request, response);
}

void RecommenderEngine::CountFeedback(int score) {
  if (score > 0 && positive_feedback_ != nullptr) positive_feedback_->Increment();
  if (score < 0 && negative_feedback_ != nullptr) negative_feedback_->Increment();
}

void RecommenderEngine::CountRedirect() {
  if (redirects_ != nullptr) redirects_->Increment();
}

absl::StatusOr<Outcome> RecommenderEngine::RankAndSave(const RankRequest& request,
                                                       const std::string& path,
                                                       const Caller& caller,
                                                       const std::string& session) {
  Outcome outcome;
  RecordSituation(request);
  const std::shared_ptr<const LearnedState> learned =
      learning_ != nullptr ? learning_->Current() : nullptr;
  double top_score = 0;
  if (learned != nullptr && learned->model.version > 0) {
    // The model re-orders the ranker's best `depth`; the page is cut from its order.
    const size_t page_end = request.offset + request.limit;
    RankRequest full = request;
    full.offset = 0;
    full.limit = std::max(learned->rerank.depth, page_end);
    outcome.result = ranker_->Rank(full);
    auto& list = outcome.result.services;
    top_score = list.empty() ? 0 : list.front().score;
    thread_local std::mt19937_64 rng(std::random_device{}());
    if (Rerank(&list, learned->model, learned->stats, learned->rerank, page_end,
               request.offset == 0 ? &rng : nullptr)) {
      learning_->CountExploration();
    }
    const bool more = outcome.result.more || list.size() > page_end;
    const size_t from = std::min(request.offset, list.size());
    const size_t to = std::min(page_end, list.size());
    std::vector<RankedService> page(std::make_move_iterator(list.begin() + from),
                                    std::make_move_iterator(list.begin() + to));
    list = std::move(page);
    outcome.result.more = more;
  } else {
    outcome.result = ranker_->Rank(request);
    if (!outcome.result.services.empty()) top_score = outcome.result.services.front().score;
  }
  // The first page's features (its first ten: later places are rarely looked at): what the
  // next model learns from.
  std::vector<FeatureVector> features;
  if (learned != nullptr && request.offset == 0) {
    for (const auto& ranked : outcome.result.services) {
      if (features.size() == kPositionSlots - 1) break;
      features.push_back(Features(ranked, top_score, learned->stats.Of(ranked.service->id()),
                                  learned->stats, ranked.rank));
    }
  }
  if (answers_ != nullptr && request.offset == 0) {
    answers_->Add({{"path", path}}).Increment();
    if (outcome.result.services.empty()) empty_answers_->Add({{"path", path}}).Increment();
  }
  auto id =
      Save(outcome.result.services, path, caller, session, features.empty() ? nullptr : &features);
  if (!id.ok()) return id.status();
  outcome.recommendation_id = *id;
  return outcome;
}

absl::StatusOr<int64_t> RecommenderEngine::Save(const std::vector<RankedService>& services,
                                                const std::string& path, const Caller& caller,
                                                const std::string& session,
                                                const std::vector<FeatureVector>* features) {
  StoredRecommendation stored;
  stored.path = path;
  stored.client = caller.client;
  stored.organization = caller.organization;
  stored.session = session;
  for (size_t i = 0; i < services.size(); ++i) {
    const RankedService& ranked = services[i];
    StoredService service{ranked.service->id(), {}};
    for (const auto& channel : ranked.service->channels()) {
      service.channels.push_back(
          {channel.id(), std::vector<std::string>(channel.urls().begin(), channel.urls().end())});
    }
    if (features != nullptr && i < features->size()) {
      service.position = ranked.rank;
      service.features.assign((*features)[i].begin(), (*features)[i].end());
    }
    stored.services.push_back(std::move(service));
  }
  return store_->SaveRecommendation(std::move(stored));
}

}  // namespace aurora::recommender
