#include "recommender/situation_service.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/text.h"

namespace aurora::recommender {

grpc::ServerUnaryReactor* SituationReportsService::GetSituationalPicture(
    grpc::CallbackServerContext* context, const v1::GetSituationalPictureRequest* request,
    v1::SituationalPicture* response) {
  auto* reactor = context->DefaultReactor();
  absl::Status valid;
  if (request->days() < 0 || request->days() > 366) {
    valid = absl::InvalidArgumentError(
        absl::StrCat("days: must be 1..366 (0 means 7), got ", request->days()));
  }
  for (int i = 0; valid.ok() && i < request->wellbeing_service_county_codes_size(); ++i) {
    const std::string& code = request->wellbeing_service_county_codes(i);
    if (code != "unknown" && codes_->FindWellbeingCounty(code) == nullptr) {
      valid = absl::InvalidArgumentError(absl::StrCat("wellbeing_service_county_codes[", i,
                                                      "]: unknown wellbeing services county code ",
                                                      QuoteForMessage(code)));
    }
  }
  if (!valid.ok()) {
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  auto picture =
      stats_->Query(request->days() == 0 ? 7 : request->days(),
                    std::vector<std::string>(request->wellbeing_service_county_codes().begin(),
                                             request->wellbeing_service_county_codes().end()));
  if (!picture.ok()) {
    reactor->Finish(ToGrpcStatus(picture.status()));
    return reactor;
  }
  *response = *std::move(picture);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace aurora::recommender
