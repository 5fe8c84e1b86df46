#include "recommender/recommender_service.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/text.h"
#include "recommender/requests.h"

namespace aurora::recommender {

template <typename Response, typename Request>
void FillResponse(Outcome& outcome, const Request& request, size_t offset, Response* response) {
  response->set_recommendation_id(outcome.recommendation_id);
  response->set_revision(outcome.result.revision);
  response->set_crisis(outcome.result.crisis);
  for (auto& ranked : outcome.result.services) {
    auto* out = response->add_services();
    // Lent, not copied: the message is immutable and `outcome` keeps it alive.
    out->unsafe_arena_set_allocated_service(
        const_cast<aurora::directory::v1::Service*>(ranked.service.get()));
    out->set_score(ranked.score);
    out->set_rank(ranked.rank);
    out->set_provider_node_address(ranked.provider_node_address);
    *out->mutable_explanation() = std::move(ranked.explanation);
  }
  if (outcome.result.more) {
    response->set_next_page_token(PageToken(offset + outcome.result.services.size(), request));
  }
}

template <typename Response>
void ReturnServices(Response* response) {
  for (auto& out : *response->mutable_services()) (void)out.unsafe_arena_release_service();
}

namespace {

// The reactor of a Recommend or Search call. It owns the outcome whose services the response
// borrows, and gRPC calls OnDone after sending the response and before freeing it: the services
// go back there, so the response never frees (or outlives) what it borrowed.
template <typename Response>
class RankReactor final : public grpc::ServerUnaryReactor {
 public:
  explicit RankReactor(Response* response) : response_(response) {}
  Outcome& outcome() { return outcome_; }
  void OnDone() override {
    ReturnServices(response_);
    delete this;
  }

 private:
  Response* response_;
  Outcome outcome_;
};

}  // namespace

grpc::ServerUnaryReactor* RecommenderService::Run(grpc::CallbackServerContext* context,
                                                  std::function<absl::Status()> work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!engine_->Submit(
          [reactor, work = std::move(work)] { reactor->Finish(ToGrpcStatus(work())); })) {
    reactor->Finish(engine_->Overloaded(context));
  }
  return reactor;
}

template <typename Request, typename Response>
grpc::ServerUnaryReactor* RecommenderService::Rank(grpc::CallbackServerContext* context,
                                                   const Request* request, Response* response,
                                                   const char* path) {
  auto rank = ToRankRequest(*request, *codes_);
  if (!rank.ok()) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpcStatus(rank.status()));
    return reactor;
  }
  Caller caller = Caller::Of(context);
  auto* reactor = new RankReactor<Response>(response);
  const bool submitted = engine_->RunOrSubmit(
      [this, reactor, request, response, rank = std::move(*rank), caller, path]() {
        auto outcome = engine_->RankAndSave(rank, path, caller, request->session_id());
        if (!outcome.ok()) {
          reactor->Finish(ToGrpcStatus(outcome.status()));
          return;
        }
        reactor->outcome() = std::move(*outcome);
        FillResponse(reactor->outcome(), *request, rank.offset, response);
        reactor->Finish(grpc::Status::OK);
      });
  if (!submitted) reactor->Finish(engine_->Overloaded(context));
  return reactor;
}

grpc::ServerUnaryReactor* RecommenderService::Recommend(grpc::CallbackServerContext* context,
                                                        const v1::RecommendRequest* request,
                                                        v1::RecommendResponse* response) {
  return Rank(context, request, response, "recommend");
}

grpc::ServerUnaryReactor* RecommenderService::Search(grpc::CallbackServerContext* context,
                                                     const v1::SearchRequest* request,
                                                     v1::SearchResponse* response) {
  return Rank(context, request, response, "search");
}

grpc::ServerUnaryReactor* RecommenderService::RecommendPackage(
    grpc::CallbackServerContext* context, const v1::RecommendPackageRequest* request,
    v1::ServicePackage* response) {
  // The situation is validated as Recommend's (the same fields, names and rules).
  v1::RecommendRequest situation;
  *situation.mutable_life_situation_meters() = request->life_situation_meters();
  if (request->has_age()) situation.set_age(request->age());
  situation.set_municipality_code(request->municipality_code());
  *situation.mutable_life_events() = request->life_events();
  situation.set_text(request->text());
  situation.set_language(request->language());
  *situation.mutable_filters() = request->filters();
  situation.set_session_id(request->session_id());
  absl::StatusOr<RankRequest> rank = ToRankRequest(situation, *codes_);
  if (rank.ok() && (request->max_steps() < 0 ||
                    request->max_steps() > static_cast<int>(packages_.parameters().max_steps))) {
    rank = absl::InvalidArgumentError(
        absl::StrCat("max_steps: must be 1..", packages_.parameters().max_steps, " (0 means ",
                     packages_.parameters().default_steps, "), got ", request->max_steps()));
  }
  auto* reactor = context->DefaultReactor();
  if (!rank.ok()) {
    reactor->Finish(ToGrpcStatus(rank.status()));
    return reactor;
  }
  PackageRequest package_request{*std::move(rank), static_cast<size_t>(request->max_steps())};
  const bool submitted = engine_->RunOrSubmit([this, reactor, request, response,
                                               package_request = std::move(package_request),
                                               caller = Caller::Of(context)]() {
    Package package = packages_.Build(package_request);
    std::vector<RankedService> services;
    for (const auto& step : package.steps) services.push_back(step.ranked);
    auto id = engine_->Save(services, "package", caller, request->session_id());
    if (!id.ok()) {
      reactor->Finish(ToGrpcStatus(id.status()));
      return;
    }
    response->set_recommendation_id(*id);
    response->set_revision(package.revision);
    response->set_crisis(package.crisis);
    std::set<std::string> organizations;
    for (auto& step : package.steps) {
      auto* out = response->add_steps();
      out->set_step(step.ranked.rank);
      auto* service = out->mutable_service();
      *service->mutable_service() = *step.ranked.service;
      service->set_score(step.ranked.score);
      service->set_rank(step.ranked.rank);
      service->set_provider_node_address(step.ranked.provider_node_address);
      *service->mutable_explanation() = std::move(step.ranked.explanation);
      for (auto& need : step.need_ids) out->add_needs(std::move(need));
      for (auto& reason : step.reasons) out->add_reasons(std::move(reason));
      if (!step.ranked.service->organization_id().empty()) {
        organizations.insert(step.ranked.service->organization_id());
      }
    }
    response->set_organizations(static_cast<int>(organizations.size()));
    for (auto& need : package.needs) *response->add_needs() = std::move(need);
    reactor->Finish(grpc::Status::OK);
  });
  if (!submitted) reactor->Finish(engine_->Overloaded(context));
  return reactor;
}

namespace {

absl::Status ValidateRecommendationId(int64_t id, const std::string& field) {
  if (id <= 0 || id >= (int64_t{1} << 53)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must be a recommendation id (1..2^53-1), got ", id));
  }
  return absl::OkStatus();
}

absl::Status ValidateScore(int score, const std::string& field, bool zero_allowed) {
  if (score == 1 || score == -1 || (zero_allowed && score == 0)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      field, ": must be 1 or -1", zero_allowed ? " (or 0 for none)" : "", ", got ", score));
}

}  // namespace

grpc::ServerUnaryReactor* RecommenderService::RecordFeedback(
    grpc::CallbackServerContext* context, const v1::RecordFeedbackRequest* request,
    v1::RecordFeedbackResponse* response) {
  absl::Status valid = ValidateRecommendationId(request->recommendation_id(), "recommendation_id");
  if (valid.ok()) valid = ValidateScore(request->score(), "score", true);
  if (valid.ok() && request->services_size() > 50) {
    valid = absl::InvalidArgumentError(
        absl::StrCat("services: at most 50 entries, got ", request->services_size()));
  }
  std::vector<FeedbackEntry> entries;
  if (request->score() != 0) entries.push_back({"", request->score()});
  for (int i = 0; valid.ok() && i < request->services_size(); ++i) {
    const auto& s = request->services(i);
    if (!IsCanonicalUuid(s.service_id())) {
      valid = absl::InvalidArgumentError(absl::StrCat(
          "services[", i, "].service_id: not a canonical UUID: ", QuoteForMessage(s.service_id())));
    } else {
      valid = ValidateScore(s.score(), absl::StrCat("services[", i, "].score"), false);
    }
    entries.push_back({s.service_id(), s.score()});
  }
  if (!valid.ok()) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  return Run(context, [this, request, response, entries = std::move(entries)]() -> absl::Status {
    auto recorded = engine_->store().RecordFeedback(request->recommendation_id(), entries);
    if (!recorded.ok()) return recorded.status();
    response->set_recorded(*recorded);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RecommenderService::RecordRedirect(
    grpc::CallbackServerContext* context, const v1::RecordRedirectRequest* request,
    v1::RecordRedirectResponse* response) {
  absl::Status valid = ValidateRecommendationId(request->recommendation_id(), "recommendation_id");
  if (valid.ok() && !IsCanonicalUuid(request->service_id())) {
    valid = absl::InvalidArgumentError(
        absl::StrCat("service_id: not a canonical UUID: ", QuoteForMessage(request->service_id())));
  }
  if (valid.ok() && !IsCanonicalUuid(request->channel_id())) {
    valid = absl::InvalidArgumentError(
        absl::StrCat("channel_id: not a canonical UUID: ", QuoteForMessage(request->channel_id())));
  }
  if (valid.ok() && (request->link_index() < 0 || request->link_index() > 100)) {
    valid = absl::InvalidArgumentError(
        absl::StrCat("link_index: must be 0..100, got ", request->link_index()));
  }
  if (!valid.ok()) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  return Run(context, [this, request, response]() -> absl::Status {
    auto url = engine_->store().RecordClick(request->recommendation_id(), request->service_id(),
                                            request->channel_id(), request->link_index());
    if (!url.ok()) return url.status();
    response->set_url(*url);
    return absl::OkStatus();
  });
}

template void FillResponse(Outcome&, const v1::RecommendRequest&, size_t, v1::RecommendResponse*);
template void FillResponse(Outcome&, const v1::SearchRequest&, size_t, v1::SearchResponse*);
template void ReturnServices(v1::RecommendResponse*);
template void ReturnServices(v1::SearchResponse*);

}  // namespace aurora::recommender
