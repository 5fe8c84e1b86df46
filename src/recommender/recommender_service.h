#pragma once
// The aurora.recommender.v1.Recommender gRPC service (callback API): validation and mapping only.
// Rankings run on the engine's bounded pool, never on gRPC's callback threads; feedback and
// clicks (synced RocksDB writes) too.
//
// Thread-safe.

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "aurora/recommender/v1/recommender.grpc.pb.h"
#include "common/codelists.h"
#include "recommender/conversation.h"
#include "recommender/engine.h"
#include "recommender/package.h"
#include "recommender/subscriptions.h"

namespace aurora::recommender {

class MatchWatchReactor;

class RecommenderService final : public aurora::recommender::v1::Recommender::CallbackService {
 public:
  // `subscriptions` may be null (Subscribe and the rest answer UNIMPLEMENTED).
  RecommenderService(RecommenderEngine* engine, const CodeLists* codes,
                     Subscriptions* subscriptions = nullptr);
  ~RecommenderService() override;

  grpc::ServerUnaryReactor* Recommend(grpc::CallbackServerContext* context,
                                      const v1::RecommendRequest* request,
                                      v1::RecommendResponse* response) override;
  grpc::ServerUnaryReactor* Search(grpc::CallbackServerContext* context,
                                   const v1::SearchRequest* request,
                                   v1::SearchResponse* response) override;
  grpc::ServerUnaryReactor* RecommendPackage(grpc::CallbackServerContext* context,
                                             const v1::RecommendPackageRequest* request,
                                             v1::ServicePackage* response) override;
  grpc::ServerUnaryReactor* Subscribe(grpc::CallbackServerContext* context,
                                      const v1::SubscribeRequest* request,
                                      v1::Subscription* response) override;
  grpc::ServerUnaryReactor* ListMatches(grpc::CallbackServerContext* context,
                                        const v1::ListMatchesRequest* request,
                                        v1::ListMatchesResponse* response) override;
  grpc::ServerWriteReactor<v1::ServiceMatch>* WatchMatches(
      grpc::CallbackServerContext* context, const v1::WatchMatchesRequest* request) override;
  grpc::ServerUnaryReactor* Unsubscribe(grpc::CallbackServerContext* context,
                                        const v1::UnsubscribeRequest* request,
                                        v1::UnsubscribeResponse* response) override;
  // Ends the open WatchMatches streams with UNAVAILABLE (resume with after_sequence) and waits
  // for them; new ones are refused. Call before the server shuts down.
  void Shutdown();
  grpc::ServerUnaryReactor* RecordFeedback(grpc::CallbackServerContext* context,
                                           const v1::RecordFeedbackRequest* request,
                                           v1::RecordFeedbackResponse* response) override;
  grpc::ServerUnaryReactor* RecordRedirect(grpc::CallbackServerContext* context,
                                           const v1::RecordRedirectRequest* request,
                                           v1::RecordRedirectResponse* response) override;
  grpc::ServerUnaryReactor* Converse(grpc::CallbackServerContext* context,
                                     const v1::ConverseRequest* request,
                                     v1::ConverseResponse* response) override;

  // The chatbot's conversation logic (null: Converse answers UNIMPLEMENTED). Set before serving.
  void SetConversation(const ConversationEngine* conversation) { conversation_ = conversation; }

 private:
  // Recommend and Search: validate, then rank, store and answer through the engine's
  // RunOrSubmit (on this thread while a ranking slot is free).
  template <typename Request, typename Response>
  grpc::ServerUnaryReactor* Rank(grpc::CallbackServerContext* context, const Request* request,
                                 Response* response, const char* path);
  // Runs `work` (feedback and redirects: synced writes) on the engine's pool and finishes the
  // call with its status.
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* context,
                                std::function<absl::Status()> work);

  friend class MatchWatchReactor;
  // WatchMatches: sends what is there, then waits to be woken by the subscription's listener.
  void ScheduleFill(MatchWatchReactor* reactor);
  void Fill(MatchWatchReactor* reactor);
  void OnSubscriptionChange(const std::string& id);
  void WatchDone(MatchWatchReactor* reactor);

  RecommenderEngine* engine_;
  const CodeLists* codes_;
  const ConversationEngine* conversation_ = nullptr;
  PackageBuilder packages_;
  Subscriptions* subscriptions_;
  std::mutex watch_mu_;
  std::condition_variable watch_cv_;
  std::set<MatchWatchReactor*> watchers_;
  std::multimap<std::string, MatchWatchReactor*> waiting_;  // by subscription id
  uint64_t change_count_ = 0;  // subscription changes seen: a fill that missed one looks again
  bool shutting_down_ = false;
};

// Fills a native response from an outcome (services, ids, page token). The response borrows the
// outcome's services (the index's immutable messages; a search answer is ~20 KiB of them) instead
// of copying them, and moves its explanations: `outcome` must outlive the response's use, and
// ReturnServices must be called before the response is destroyed.
template <typename Response, typename Request>
void FillResponse(Outcome& outcome, const Request& request, size_t offset, Response* response);
template <typename Response>
void ReturnServices(Response* response);

}  // namespace aurora::recommender
