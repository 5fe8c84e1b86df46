#include "recommender/models_service.h"

#include "absl/strings/str_cat.h"
#include "common/caller.h"
#include "common/status.h"

namespace aurora::recommender {
namespace {

v1::RankingModelInfo Info(const RankingModel& model, int64_t active) {
  v1::RankingModelInfo out;
  out.set_version(model.version);
  out.set_active(model.version == active);
  out.set_impressions(model.impressions);
  out.set_positives(model.positives);
  out.set_train_log_loss(model.train_log_loss);
  out.mutable_trained_time()->set_seconds(model.trained_unix_ms / 1000);
  out.mutable_trained_time()->set_nanos(static_cast<int32_t>(model.trained_unix_ms % 1000) *
                                        1000000);
  return out;
}

}  // namespace

grpc::ServerUnaryReactor* RankingModelsService::RunForOperator(grpc::CallbackServerContext* context,
                                                               std::function<absl::Status()> work) {
  auto* reactor = context->DefaultReactor();
  if (const std::string caller = CallerOrganization(*context); !caller.empty()) {
    reactor->Finish(ToGrpcStatus(absl::PermissionDeniedError(absl::StrCat(
        "the ranking models are the node operators' to manage, not organisation ", caller, "'s"))));
    return reactor;
  }
  if (!engine_->Submit(
          [reactor, work = std::move(work)] { reactor->Finish(ToGrpcStatus(work())); })) {
    reactor->Finish(engine_->Overloaded(context));
  }
  return reactor;
}

grpc::ServerUnaryReactor* RankingModelsService::ListModels(grpc::CallbackServerContext* context,
                                                           const v1::ListModelsRequest*,
                                                           v1::ListModelsResponse* response) {
  return RunForOperator(context, [this, response]() -> absl::Status {
    auto versions = learning_->Versions();
    if (!versions.ok()) return versions.status();
    const int64_t active = learning_->active_version();
    response->set_active_version(active);
    for (const auto& model : *versions) *response->add_models() = Info(model, active);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RankingModelsService::ActivateModel(
    grpc::CallbackServerContext* context, const v1::ActivateModelRequest* request,
    v1::RankingModelInfo* response) {
  return RunForOperator(context, [this, request, response]() -> absl::Status {
    if (auto s = learning_->Activate(request->version()); !s.ok()) return s;
    auto current = learning_->Current();
    *response = Info(current->model, current->model.version);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RankingModelsService::TrainModel(grpc::CallbackServerContext* context,
                                                           const v1::TrainModelRequest*,
                                                           v1::RankingModelInfo* response) {
  return RunForOperator(context, [this, response]() -> absl::Status {
    auto model = learning_->TrainNow();
    if (!model.ok()) return model.status();
    *response = Info(*model, model->version);
    return absl::OkStatus();
  });
}

}  // namespace aurora::recommender
