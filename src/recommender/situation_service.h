#pragma once
// The aurora.recommender.v1.SituationReports gRPC service (callback API): validation and mapping
// only; SituationStats does the work (in memory, so it answers on the calling thread).
//
// Thread-safe.

#include "aurora/recommender/v1/recommender.grpc.pb.h"
#include "common/codelists.h"
#include "recommender/situation_stats.h"

namespace aurora::recommender {

class SituationReportsService final
    : public aurora::recommender::v1::SituationReports::CallbackService {
 public:
  // Both must outlive the service.
  SituationReportsService(const SituationStats* stats, const CodeLists* codes)
      : stats_(stats), codes_(codes) {}

  grpc::ServerUnaryReactor* GetSituationalPicture(grpc::CallbackServerContext* context,
                                                  const v1::GetSituationalPictureRequest* request,
                                                  v1::SituationalPicture* response) override;

 private:
  const SituationStats* stats_;
  const CodeLists* codes_;
};

}  // namespace aurora::recommender
