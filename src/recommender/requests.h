#pragma once
// Validation of recommender requests and their conversion to RankRequest, shared by the native
// service and the AuroraAI-compatible one; page tokens. Every error is INVALID_ARGUMENT naming
// the field and the value. Pure functions; thread-safe.

#include <string>

#include "absl/status/statusor.h"
#include "aurora/recommender/v1/recommender.pb.h"
#include "common/codelists.h"
#include "recommender/ranker.h"

namespace aurora::recommender {

inline constexpr int kDefaultLimit = 5;
inline constexpr int kMaxLimit = 50;
inline constexpr size_t kMaxTextLength = 1024;  // code points
// No ranking pages further than this (RankingParameters::max_results); later offsets are refused.
inline constexpr size_t kMaxPagedResults = 500;

// `prefix` names the request's fields in errors ("" for the native API).
absl::Status ValidateAnswers(const aurora::common::v1::LifeSituationAnswers& answers,
                             const std::string& field);
absl::Status ValidateAreaFilter(const aurora::common::v1::AreaFilter& area,
                                const std::string& field, const CodeLists& codes);
absl::Status ValidateFilters(const aurora::recommender::v1::ServiceFilters& filters,
                             const std::string& field, const CodeLists& codes);
absl::Status ValidateMunicipality(const std::string& code, const std::string& field,
                                  const CodeLists& codes);
absl::Status ValidateAge(int age, const std::string& field);
absl::Status ValidateText(const std::string& text, const std::string& field, bool required);
absl::StatusOr<std::optional<Language>> ValidateLanguage(const std::string& code,
                                                         const std::string& field);

absl::StatusOr<RankRequest> ToRankRequest(const aurora::recommender::v1::RecommendRequest& request,
                                          const CodeLists& codes);

// The situation of a request that repeats RecommendRequest's fields 1..7 under the same names
// (RecommendPackageRequest, SubscribeRequest), as a RecommendRequest: validated by ToRankRequest
// with the same field names in its errors.
template <typename Request>
aurora::recommender::v1::RecommendRequest AsRecommendRequest(const Request& request) {
  aurora::recommender::v1::RecommendRequest out;
  *out.mutable_life_situation_meters() = request.life_situation_meters();
  if (request.has_age()) out.set_age(request.age());
  out.set_municipality_code(request.municipality_code());
  *out.mutable_life_events() = request.life_events();
  out.set_text(request.text());
  out.set_language(request.language());
  *out.mutable_filters() = request.filters();
  return out;
}
absl::StatusOr<RankRequest> ToRankRequest(const aurora::recommender::v1::SearchRequest& request,
                                          const CodeLists& codes);

// Page tokens: the offset of the next page, bound to the request they were issued for (any
// field but the token, the limit and the session).
std::string PageToken(size_t offset, const google::protobuf::Message& request);
absl::StatusOr<size_t> PageOffset(const std::string& token, const google::protobuf::Message& request);

}  // namespace aurora::recommender
