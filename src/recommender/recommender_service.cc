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

RecommenderService::RecommenderService(RecommenderEngine* engine, const CodeLists* codes,
                                       Subscriptions* subscriptions)
    : engine_(engine),
      codes_(codes),
      packages_(&engine->ranker(), codes),
      subscriptions_(subscriptions) {
  if (subscriptions_ != nullptr) {
    subscriptions_->SetListener([this](const std::string& id) { OnSubscriptionChange(id); });
  }
}

RecommenderService::~RecommenderService() {
  if (subscriptions_ != nullptr) subscriptions_->SetListener(nullptr);
  Shutdown();
}

namespace {

constexpr int kDefaultMatchLimit = 20;
constexpr int kMaxMatchLimit = 100;

grpc::Status NoSubscriptions() {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                      "subscriptions are not kept by this node (no recommender store)");
}

// The subscription token from `authorization: Bearer <token>`; an error naming what is missing.
absl::StatusOr<std::string> SubscriptionToken(const grpc::CallbackServerContext* context) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return absl::UnauthenticatedError(
        "authorization: the subscription's token is required (authorization: Bearer <token>)");
  }
  const std::string_view value(it->second.data(), it->second.size());
  constexpr std::string_view kBearer = "Bearer ";
  if (value.substr(0, kBearer.size()) != kBearer || value.size() == kBearer.size()) {
    return absl::UnauthenticatedError(
        "authorization: expected \"Bearer <token>\" with the subscription's token");
  }
  return std::string(value.substr(kBearer.size()));
}

absl::Status CheckSubscriptionId(const std::string& id) {
  if (IsCanonicalUuid(id)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("subscription_id: expected a UUID, got ", QuoteForMessage(id)));
}

absl::Status CheckAfterSequence(int64_t after) {
  if (after >= 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("after_sequence: must be 0 or more, got ", after));
}

// What every call about one subscription checks first: the id, then `more`, then the token.
absl::StatusOr<std::string> SubscriptionCall(const grpc::CallbackServerContext* context,
                                             const std::string& id, absl::Status more) {
  if (auto s = CheckSubscriptionId(id); !s.ok()) return s;
  if (!more.ok()) return more;
  return SubscriptionToken(context);
}

}  // namespace

grpc::ServerUnaryReactor* RecommenderService::Subscribe(grpc::CallbackServerContext* context,
                                                        const v1::SubscribeRequest* request,
                                                        v1::Subscription* response) {
  if (subscriptions_ == nullptr) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(NoSubscriptions());
    return reactor;
  }
  absl::Status valid = ToRankRequest(AsRecommendRequest(*request), *codes_).status();
  if (valid.ok() && !request->consent()) {
    valid = absl::InvalidArgumentError(
        "consent: must be true: the node keeps the situation, to tell of the services that match "
        "it, only with the person's consent");
  }
  if (valid.ok() && (request->days() < 0 || request->days() > 365)) {
    valid = absl::InvalidArgumentError(
        absl::StrCat("days: must be 1..365 (0 means 90), got ", request->days()));
  }
  if (!valid.ok()) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  return Run(context, [this, request, response]() -> absl::Status {
    auto created = subscriptions_->Create(*request, engine_->index().revision());
    if (!created.ok()) return created.status();
    *response = *std::move(created);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RecommenderService::ListMatches(grpc::CallbackServerContext* context,
                                                          const v1::ListMatchesRequest* request,
                                                          v1::ListMatchesResponse* response) {
  if (subscriptions_ == nullptr) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(NoSubscriptions());
    return reactor;
  }
  absl::Status paging = CheckAfterSequence(request->after_sequence());
  if (paging.ok() && (request->limit() < 0 || request->limit() > kMaxMatchLimit)) {
    paging =
        absl::InvalidArgumentError(absl::StrCat("limit: must be 1..", kMaxMatchLimit, " (0 means ",
                                                kDefaultMatchLimit, "), got ", request->limit()));
  }
  auto token = SubscriptionCall(context, request->subscription_id(), paging);
  if (!token.ok()) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpcStatus(token.status()));
    return reactor;
  }
  return Run(context, [this, request, response, token = *token]() -> absl::Status {
    if (auto s = subscriptions_->Authorize(request->subscription_id(), token); !s.ok()) return s;
    auto listed = subscriptions_->List(
        request->subscription_id(), request->after_sequence(),
        static_cast<size_t>(request->limit() == 0 ? kDefaultMatchLimit : request->limit()));
    if (!listed.ok()) return listed.status();
    *response = *std::move(listed);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RecommenderService::Unsubscribe(grpc::CallbackServerContext* context,
                                                          const v1::UnsubscribeRequest* request,
                                                          v1::UnsubscribeResponse* response) {
  if (subscriptions_ == nullptr) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(NoSubscriptions());
    return reactor;
  }
  auto token = SubscriptionCall(context, request->subscription_id(), absl::OkStatus());
  if (!token.ok()) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpcStatus(token.status()));
    return reactor;
  }
  return Run(context, [this, request, response, token = *token]() -> absl::Status {
    if (auto s = subscriptions_->Authorize(request->subscription_id(), token); !s.ok()) return s;
    auto deleted = subscriptions_->Delete(request->subscription_id());
    if (!deleted.ok()) return deleted.status();
    response->set_deleted_matches(*deleted);
    return absl::OkStatus();
  });
}

// ---------------------------------------------------------------------------------------------
// WatchMatches

class MatchWatchReactor final : public grpc::ServerWriteReactor<v1::ServiceMatch> {
 public:
  enum class State { kBusy, kWaiting, kFinished };

  MatchWatchReactor(RecommenderService* service, std::string id, int64_t cursor)
      : service_(service), id_(std::move(id)), cursor_(cursor) {}

  void OnWriteDone(bool ok) override {
    if (!ok) {
      FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "the watcher went away"));
      return;
    }
    service_->ScheduleFill(this);
  }

  void OnCancel() override {
    bool finish = false;
    {
      std::lock_guard lock(service_->watch_mu_);
      cancelled_ = true;
      if (state_ == State::kWaiting) {
        EraseWaitingLocked();
        state_ = State::kFinished;
        finish = true;
      }
    }
    if (finish) Finish(grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled"));
  }

  void OnDone() override {
    service_->WatchDone(this);
    delete this;
  }

  // Marks finished (under the lock) and finishes the call; touches nothing afterwards.
  void FinishOnce(grpc::Status status) {
    {
      std::lock_guard lock(service_->watch_mu_);
      if (state_ == State::kFinished) return;
      state_ = State::kFinished;
    }
    Finish(std::move(status));
  }

  // Under watch_mu_.
  void EraseWaitingLocked() {
    auto [from, to] = service_->waiting_.equal_range(id_);
    for (auto it = from; it != to; ++it) {
      if (it->second == this) {
        service_->waiting_.erase(it);
        return;
      }
    }
  }

  RecommenderService* service_;
  const std::string id_;
  int64_t cursor_;  // the last sequence sent
  v1::ServiceMatch match_;
  // Guarded by service_->watch_mu_.
  State state_ = State::kBusy;
  bool cancelled_ = false;
  uint64_t seen_changes_ = 0;  // change_count_ when the last fill looked
};

grpc::ServerWriteReactor<v1::ServiceMatch>* RecommenderService::WatchMatches(
    grpc::CallbackServerContext* context, const v1::WatchMatchesRequest* request) {
  absl::Status valid = absl::OkStatus();
  if (subscriptions_ == nullptr) {
    valid = absl::UnimplementedError(NoSubscriptions().error_message());
  } else {
    auto token = SubscriptionCall(context, request->subscription_id(),
                                  CheckAfterSequence(request->after_sequence()));
    valid =
        token.ok() ? subscriptions_->Authorize(request->subscription_id(), *token) : token.status();
  }
  auto* reactor =
      new MatchWatchReactor(this, request->subscription_id(), request->after_sequence());
  {
    std::lock_guard lock(watch_mu_);
    if (valid.ok() && shutting_down_) {
      valid = absl::UnavailableError("the recommender is shutting down");
    }
    watchers_.insert(reactor);
  }
  if (!valid.ok()) {
    reactor->FinishOnce(ToGrpcStatus(valid));
    return reactor;
  }
  ScheduleFill(reactor);
  return reactor;
}

void RecommenderService::ScheduleFill(MatchWatchReactor* reactor) {
  if (!engine_->Submit([this, reactor] { Fill(reactor); })) {
    reactor->FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                     "the recommender is shutting down or overloaded; resume "
                                     "with after_sequence"));
  }
}

void RecommenderService::Fill(MatchWatchReactor* reactor) {
  bool finish = false, cancelled = false;
  {
    std::lock_guard lock(watch_mu_);
    if (reactor->cancelled_ || shutting_down_) {
      reactor->state_ = MatchWatchReactor::State::kFinished;
      finish = true;
      cancelled = reactor->cancelled_;
    }
    reactor->seen_changes_ = change_count_;
  }
  if (finish) {  // outside the lock: OnDone may delete the reactor at once
    reactor->Finish(cancelled ? grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled")
                              : grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                             "the recommender is shutting down; resume with "
                                             "after_sequence"));
    return;
  }
  auto next = subscriptions_->List(reactor->id_, reactor->cursor_, 1);
  if (!next.ok()) {
    reactor->FinishOnce(ToGrpcStatus(next.status()));
    return;
  }
  if (!next->matches().empty()) {
    reactor->match_ = std::move(*next->mutable_matches(0));
    reactor->cursor_ = reactor->match_.sequence();
    reactor->StartWrite(&reactor->match_);
    return;
  }
  {
    std::lock_guard lock(watch_mu_);
    if (!reactor->cancelled_ && !shutting_down_ && change_count_ == reactor->seen_changes_) {
      reactor->state_ = MatchWatchReactor::State::kWaiting;
      waiting_.emplace(reactor->id_, reactor);
      return;
    }
  }
  ScheduleFill(reactor);  // something changed meanwhile, or the stream must end
}

void RecommenderService::OnSubscriptionChange(const std::string& id) {
  std::vector<MatchWatchReactor*> ready;
  {
    std::lock_guard lock(watch_mu_);
    ++change_count_;
    auto [from, to] = waiting_.equal_range(id);
    for (auto it = from; it != to; ++it) {
      it->second->state_ = MatchWatchReactor::State::kBusy;
      ready.push_back(it->second);
    }
    waiting_.erase(from, to);
  }
  for (MatchWatchReactor* reactor : ready) ScheduleFill(reactor);
}

void RecommenderService::WatchDone(MatchWatchReactor* reactor) {
  std::lock_guard lock(watch_mu_);
  reactor->EraseWaitingLocked();
  watchers_.erase(reactor);
  watch_cv_.notify_all();
}

void RecommenderService::Shutdown() {
  std::vector<MatchWatchReactor*> ready;
  {
    std::lock_guard lock(watch_mu_);
    shutting_down_ = true;
    for (auto& [id, reactor] : waiting_) {
      reactor->state_ = MatchWatchReactor::State::kBusy;
      ready.push_back(reactor);
    }
    waiting_.clear();
  }
  for (MatchWatchReactor* reactor : ready) ScheduleFill(reactor);
  std::unique_lock lock(watch_mu_);
  watch_cv_.wait(lock, [this] { return watchers_.empty(); });
}

grpc::ServerUnaryReactor* RecommenderService::RecommendPackage(
    grpc::CallbackServerContext* context, const v1::RecommendPackageRequest* request,
    v1::ServicePackage* response) {
  // The situation is validated as Recommend's (the same fields, names and rules).
  v1::RecommendRequest situation = AsRecommendRequest(*request);
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
  engine_->RecordSituation(*rank);
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
  return Run(context, [this, context, request, response,
                       entries = std::move(entries)]() -> absl::Status {
    if (auto elsewhere = engine_->ForwardIfElsewhere(
            request->recommendation_id(), context,
            "/aurora.recommender.v1.Recommender/RecordFeedback", *request, response)) {
      return FromGrpcStatus(*elsewhere);
    }
    auto recorded = engine_->store().RecordFeedback(request->recommendation_id(), entries);
    if (recorded.ok()) {
      for (const auto& entry : entries) engine_->CountFeedback(entry.score);
    }
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
  return Run(context, [this, context, request, response]() -> absl::Status {
    if (auto elsewhere = engine_->ForwardIfElsewhere(
            request->recommendation_id(), context,
            "/aurora.recommender.v1.Recommender/RecordRedirect", *request, response)) {
      return FromGrpcStatus(*elsewhere);
    }
    auto url = engine_->store().RecordClick(request->recommendation_id(), request->service_id(),
                                            request->channel_id(), request->link_index());
    if (!url.ok()) return url.status();
    engine_->CountRedirect();
    response->set_url(*url);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RecommenderService::Converse(grpc::CallbackServerContext* context,
                                                       const v1::ConverseRequest* request,
                                                       v1::ConverseResponse* response) {
  if (conversation_ == nullptr) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no conversation engine"));
    return reactor;
  }
  Caller caller = Caller::Of(context);
  return Run(context, [this, request, response, caller]() -> absl::Status {
    auto step = conversation_->Step(*request);
    if (!step.ok()) return step.status();
    if (step->answer) {
      auto outcome =
          engine_->RankAndSave(step->request, "conversation", caller, request->session_id());
      if (!outcome.ok()) return outcome.status();
      ConversationEngine::ResultReplies(outcome->result.services.size(), outcome->result.crisis,
                                        &*step);
      response->set_recommendation_id(outcome->recommendation_id);
      response->set_crisis(outcome->result.crisis);
      for (RankedService& ranked : outcome->result.services) {
        // A crisis is answered with the crisis contacts only.
        if (!outcome->result.crisis.empty() && ranked.explanation.crisis().empty()) continue;
        auto* out = response->add_services();
        *out->mutable_service() = *ranked.service;
        out->set_score(ranked.score);
        out->set_rank(ranked.rank);
        out->set_provider_node_address(ranked.provider_node_address);
        *out->mutable_explanation() = std::move(ranked.explanation);
      }
    }
    for (std::string& reply : step->replies) response->add_replies(std::move(reply));
    for (std::string& suggestion : step->suggestions) {
      response->add_suggestions(std::move(suggestion));
    }
    *response->mutable_state() = std::move(step->state);
    return absl::OkStatus();
  });
}

template void FillResponse(Outcome&, const v1::RecommendRequest&, size_t, v1::RecommendResponse*);
template void FillResponse(Outcome&, const v1::SearchRequest&, size_t, v1::SearchResponse*);
template void ReturnServices(v1::RecommendResponse*);
template void ReturnServices(v1::SearchResponse*);

}  // namespace aurora::recommender
