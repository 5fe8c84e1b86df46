#pragma once
// The aurora.recommender.v1.RankingModels gRPC service (callback API): the learnt re-ranking's
// model versions for the node's operators (calls without an organisation); mapping only,
// LearningLoop does the work, on the engine's pool (RocksDB reads and trainings).
//
// Thread-safe.

#include "aurora/recommender/v1/recommender.grpc.pb.h"
#include "recommender/engine.h"
#include "recommender/learning_loop.h"

namespace aurora::recommender {

class RankingModelsService final : public aurora::recommender::v1::RankingModels::CallbackService {
 public:
  // Both must outlive the service.
  RankingModelsService(RecommenderEngine* engine, LearningLoop* learning)
      : engine_(engine), learning_(learning) {}

  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* context,
                                       const v1::ListModelsRequest* request,
                                       v1::ListModelsResponse* response) override;
  grpc::ServerUnaryReactor* ActivateModel(grpc::CallbackServerContext* context,
                                          const v1::ActivateModelRequest* request,
                                          v1::RankingModelInfo* response) override;
  grpc::ServerUnaryReactor* TrainModel(grpc::CallbackServerContext* context,
                                       const v1::TrainModelRequest* request,
                                       v1::RankingModelInfo* response) override;

 private:
  // PERMISSION_DENIED for callers with an organisation; else runs `work` on the engine's pool.
  grpc::ServerUnaryReactor* RunForOperator(grpc::CallbackServerContext* context,
                                           std::function<absl::Status()> work);

  RecommenderEngine* engine_;
  LearningLoop* learning_;
};

}  // namespace aurora::recommender
