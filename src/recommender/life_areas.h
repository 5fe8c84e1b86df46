#pragma once
// Life-area relevance of a service: how strongly it serves each of the ten 3X10D life areas.
// AuroraAI's hand labels are used where a service has them (they override everything else);
// every other service gets relevance mapped from its PTV service classes, life events and target
// groups through the table in life_areas.cc (README "Life areas"), scaled by kMappedConfidence so
// that a hand label outranks a mapping of the same strength.
//
// Also the 3X10D meter keys and the person's need per area. Pure functions over immutable
// tables; thread-safe.

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "aurora/common/v1/common.pb.h"
#include "aurora/directory/v1/directory.pb.h"

namespace aurora::recommender {

inline constexpr int kLifeAreaCount = 10;

// Index 0..9 in LifeArea enum order minus one (health = 0 ... life_satisfaction = 9).
int LifeAreaIndex(aurora::common::v1::LifeArea area);
aurora::common::v1::LifeArea LifeAreaAt(int index);
// The AuroraAI attribute key ("working_studying").
std::string_view LifeAreaKey(int index);
// The area's name in Finnish (the 3X10D meter's own), Swedish and English.
const aurora::common::v1::LocalizedText& LifeAreaName(int index);

// A mapped relevance is multiplied by this (a hand label is 1.0).
inline constexpr float kMappedConfidence = 0.8f;

// Where an area's relevance comes from.
enum class AreaSource : uint8_t { kNone = 0, kHand, kMapped, kInferred };

// An area the life-area classifier infers for a service (area_classifier.h): the model's
// probability and the area's cross-validated precision at its threshold.
struct InferredArea {
  int area = 0;
  float probability = 0;
  float precision = 0;
};

struct LifeAreaProfile {
  std::array<float, kLifeAreaCount> relevance{};  // 0..1
  std::array<AreaSource, kLifeAreaCount> source{};
  // For inferred relevance: the classifier's probability.
  std::array<float, kLifeAreaCount> confidence{};
  bool hand_labelled = false;
  // For mapped relevance: per area, the codes it came from.
  std::array<std::vector<std::string>, kLifeAreaCount> mapped_from;
  float Norm() const;  // Euclidean norm of `relevance`
};

// Hand labels, if the service has them, and nothing else. Otherwise per area the greater of the
// mapped relevance and, for an inferred area, kMappedConfidence × the area's cross-validated
// precision (the share of such inferences that were right).
LifeAreaProfile ProfileOf(const aurora::directory::v1::Service& service,
                          const std::vector<InferredArea>& inferred = {});

// The areas a life event implies (weights 0..1), for a request naming the event; empty if none.
std::vector<std::pair<int, float>> AreasOfLifeEvent(std::string_view code);

// The answers of one meter of `answers` by index (as repeated field).
const google::protobuf::RepeatedField<int32_t>& MeterAnswers(
    const aurora::common::v1::LifeSituationAnswers& answers, int index);

}  // namespace aurora::recommender
