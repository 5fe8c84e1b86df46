#pragma once
// The AuroraAI-compatible REST facade (aurora.compat.v1.ServiceRecommender): converts the
// original's requests into the recommender's, and its answers into the original's
// RecommendedService / ServiceChannel objects (README "AuroraAI-compatible API"). The mapping is
// in plain functions (CompatMapper) so that golden tests need no server.
//
// Thread-safe.

#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "aurora/compat/v1/compat.grpc.pb.h"
#include "common/codelists.h"
#include "recommender/engine.h"

namespace aurora::recommender {

struct CompatOptions {
  // Where the gateway is reachable from browsers; the channel links point at its
  // /service-recommender/v1/redirect.
  std::string public_url = "http://127.0.0.1:8080";
};

class CompatMapper {
 public:
  CompatMapper(const CodeLists* codes, const CatalogueIndex* index, CompatOptions options)
      : codes_(codes), index_(index), options_(std::move(options)) {}

  absl::StatusOr<RankRequest> ToRankRequest(
      const aurora::compat::v1::RecommendServiceRequest& request) const;
  absl::StatusOr<RankRequest> ToRankRequest(
      const aurora::compat::v1::TextSearchRequest& request) const;
  // The original's output object. `language` picks the texts (Finnish as the fallback).
  void ToOutput(const Outcome& outcome, Language language, const std::string& session_id,
                aurora::compat::v1::RecommendationOutput* output) const;
  // Where the links point; the node sets it once the gateway has bound its port.
  void SetPublicUrl(std::string url) ABSL_LOCKS_EXCLUDED(mutex_);
  std::string public_url() const ABSL_LOCKS_EXCLUDED(mutex_);
  // The tracking link of a channel's web page.
  std::string RedirectLink(int64_t recommendation_id, const std::string& service_id,
                           const std::string& channel_id, int link, bool electronic,
                           const std::string& session_id) const;

 private:
  absl::StatusOr<aurora::recommender::v1::ServiceFilters> ToFilters(
      const aurora::compat::v1::ServiceFilters& filters) const;

  const CodeLists* codes_;
  const CatalogueIndex* index_;
  mutable absl::Mutex mutex_;
  CompatOptions options_ ABSL_GUARDED_BY(mutex_);
};

class CompatService final : public aurora::compat::v1::ServiceRecommender::CallbackService {
 public:
  CompatService(RecommenderEngine* engine, const CodeLists* codes, CompatOptions options)
      : engine_(engine), mapper_(codes, &engine->index(), std::move(options)) {}

  grpc::ServerUnaryReactor* RecommendService(
      grpc::CallbackServerContext* context,
      const aurora::compat::v1::RecommendServiceRequest* request,
      aurora::compat::v1::RecommendationOutput* response) override;
  grpc::ServerUnaryReactor* TextSearch(grpc::CallbackServerContext* context,
                                       const aurora::compat::v1::TextSearchRequest* request,
                                       aurora::compat::v1::RecommendationOutput* response) override;
  grpc::ServerUnaryReactor* RecommendationFeedback(
      grpc::CallbackServerContext* context,
      const aurora::compat::v1::RecommendationFeedbackRequest* request,
      google::api::HttpBody* response) override;
  grpc::ServerUnaryReactor* Redirect(grpc::CallbackServerContext* context,
                                     const aurora::compat::v1::RedirectRequest* request,
                                     google::api::HttpBody* response) override;
  grpc::ServerUnaryReactor* Healthcheck(grpc::CallbackServerContext* context,
                                        const aurora::compat::v1::HealthcheckRequest* request,
                                        google::api::HttpBody* response) override;

  const CompatMapper& mapper() const { return mapper_; }
  CompatMapper& mapper() { return mapper_; }

 private:
  // Run `work` and finish the call with its status: a ranking through the engine's
  // RunOrSubmit (on this thread while a ranking slot is free), anything else (stores that sync)
  // on the engine's pool.
  grpc::ServerUnaryReactor* RunRanking(grpc::CallbackServerContext* context,
                                       std::function<absl::Status()> work);
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* context,
                                std::function<absl::Status()> work);
  grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context, bool ranking,
                                   std::function<absl::Status()> work);

  RecommenderEngine* engine_;
  CompatMapper mapper_;
};

}  // namespace aurora::recommender
