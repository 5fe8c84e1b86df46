#include "recommender/life_areas.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <map>

namespace aurora::recommender {
namespace {

namespace cv1 = aurora::common::v1;

// Short names of the area indices, for the tables below.
enum : int {
  kHealth = 0,
  kResilience,
  kHousing,
  kWorkStudy,
  kFamily,
  kFriends,
  kFinance,
  kStrengths,
  kSelfEsteem,
  kSatisfaction
};

using Weights = std::initializer_list<std::pair<int, float>>;

// The mapping from PTV codes to life areas. A code not listed inherits its parent's entry; a
// listed code with no weights maps to nothing (e.g. food safety, a matter for businesses). The
// weights say how directly a service of that kind helps a person with the area: 1.0 is what
// the class is about, 0.3-0.5 a side effect.
const std::map<std::string, std::vector<std::pair<int, float>>, std::less<>>& CodeTable() {
  static const auto* table = new std::map<std::string, std::vector<std::pair<int, float>>,
                                          std::less<>>{
      // Service classes (ptvserclass2).
      {"P1", {{kHousing, 1.0f}}},
      {"P1.4", {{kHousing, 1.0f}, {kFinance, 0.7f}}},
      {"P1.5", {{kHousing, 0.6f}}},
      {"P2", {{kHousing, 0.3f}}},
      {"P2.2", {{kHousing, 0.4f}, {kFinance, 0.3f}}},
      {"P2.5", {}},
      {"P3", {{kFamily, 1.0f}}},
      {"P3.1", {{kFamily, 1.0f}, {kFriends, 0.3f}}},
      {"P3.2", {{kFamily, 1.0f}, {kHealth, 0.3f}}},
      {"P3.4", {{kFamily, 0.8f}, {kWorkStudy, 0.3f}}},
      {"P3.5", {{kFamily, 1.0f}, {kResilience, 0.4f}}},
      {"P3.6", {{kFamily, 1.0f}, {kResilience, 0.4f}}},
      {"P3.7", {{kFamily, 1.0f}, {kResilience, 0.5f}}},
      {"P3.8", {{kFamily, 1.0f}, {kResilience, 0.5f}}},
      {"P3.9", {{kFamily, 0.8f}, {kFinance, 0.7f}}},
      {"P4", {{kResilience, 0.6f}, {kSatisfaction, 0.3f}}},
      {"P4.1", {{kHousing, 1.0f}, {kHealth, 0.4f}}},
      {"P4.2", {{kHealth, 0.7f}, {kFriends, 0.3f}, {kSatisfaction, 0.3f}}},
      {"P4.3", {{kHealth, 0.7f}, {kHousing, 0.4f}}},
      {"P4.4", {{kHealth, 0.6f}, {kStrengths, 0.4f}}},
      {"P4.5", {{kHealth, 0.5f}, {kStrengths, 0.5f}}},
      {"P4.6", {{kFamily, 0.7f}}},
      {"P4.7", {{kHealth, 0.6f}}},
      {"P4.8", {{kWorkStudy, 1.0f}, {kFinance, 0.4f}}},
      {"P4.9", {{kWorkStudy, 0.7f}, {kResilience, 0.5f}}},
      {"P4.10", {{kFinance, 1.0f}}},
      {"P4.11", {{kWorkStudy, 0.5f}, {kFriends, 0.5f}, {kStrengths, 0.5f}}},
      {"P4.12", {{kFriends, 1.0f}, {kSelfEsteem, 0.5f}, {kSatisfaction, 0.4f}}},
      {"P4.13", {{kResilience, 0.7f}}},
      {"P4.14", {{kResilience, 0.5f}}},
      {"P5", {{kHealth, 1.0f}}},
      {"P5.7", {{kHealth, 1.0f}, {kResilience, 0.7f}, {kSelfEsteem, 0.4f}, {kSatisfaction, 0.4f}}},
      {"P5.9", {{kHealth, 1.0f}, {kWorkStudy, 0.3f}}},
      {"P5.12", {{kHealth, 0.8f}, {kWorkStudy, 0.5f}}},
      {"P5.13", {{kHealth, 1.0f}, {kWorkStudy, 0.4f}}},
      {"P5.16", {{kHealth, 0.7f}, {kFriends, 0.7f}, {kSelfEsteem, 0.4f}}},
      {"P5.17", {{kHealth, 1.0f}, {kSatisfaction, 0.3f}}},
      {"P5.20", {{kHealth, 0.4f}}},
      {"P5.21", {}},
      {"P6", {{kWorkStudy, 1.0f}, {kStrengths, 0.7f}}},
      {"P6.11", {{kWorkStudy, 0.5f}, {kStrengths, 0.5f}}},
      {"P6.12", {{kWorkStudy, 0.5f}, {kStrengths, 0.5f}}},
      {"P6.14", {{kWorkStudy, 0.8f}, {kFinance, 0.8f}}},
      {"P6.15", {{kStrengths, 0.3f}}},
      {"P7", {{kResilience, 0.3f}}},
      {"P7.4", {{kResilience, 0.8f}, {kFinance, 0.4f}}},
      {"P7.5", {{kResilience, 0.8f}}},
      {"P7.7", {{kResilience, 0.4f}}},
      {"P7.11", {{kFinance, 0.6f}, {kResilience, 0.6f}}},
      {"P7.12", {}},
      {"P8", {{kStrengths, 0.3f}, {kSelfEsteem, 0.2f}}},
      {"P9", {}},
      {"P10", {{kWorkStudy, 1.0f}}},
      {"P10.4", {{kWorkStudy, 1.0f}, {kHealth, 0.7f}}},
      {"P10.6", {{kWorkStudy, 1.0f}, {kFinance, 1.0f}}},
      {"P10.8", {{kWorkStudy, 0.7f}, {kFriends, 0.6f}, {kSelfEsteem, 0.5f}}},
      {"P11", {{kWorkStudy, 0.4f}}},
      {"P11.1", {{kWorkStudy, 0.6f}, {kStrengths, 0.4f}}},
      {"P12", {{kWorkStudy, 0.3f}}},
      {"P13", {{kFinance, 1.0f}}},
      {"P13.3", {{kFinance, 1.0f}, {kHealth, 0.5f}}},
      {"P14", {{kFinance, 0.5f}}},
      {"P14.1", {{kFinance, 0.6f}}},
      {"P14.4", {}},
      {"P14.5", {}},
      {"P15", {{kFinance, 1.0f}}},
      {"P15.1", {{kFinance, 1.0f}, {kResilience, 0.6f}}},
      {"P15.2", {{kFinance, 0.4f}}},
      {"P15.8", {{kFinance, 0.3f}, {kWorkStudy, 0.3f}}},
      {"P15.9", {}},
      {"P16", {}},
      {"P17", {{kSatisfaction, 0.2f}}},
      {"P18", {}},
      {"P19", {}},
      {"P19.3", {{kHealth, 0.6f}, {kResilience, 0.6f}}},
      {"P20", {}},
      {"P21", {{kFinance, 0.4f}}},
      {"P22", {{kWorkStudy, 0.4f}, {kHousing, 0.3f}, {kStrengths, 0.4f}}},
      {"P22.2", {{kWorkStudy, 1.0f}}},
      {"P22.3", {{kStrengths, 0.8f}, {kWorkStudy, 0.5f}}},
      {"P23", {}},
      {"P24", {}},
      {"P25", {{kStrengths, 0.8f}, {kSatisfaction, 0.6f}, {kFriends, 0.4f}}},
      {"P25.4", {}},
      {"P25.5", {{kSatisfaction, 0.7f}, {kFriends, 0.6f}, {kStrengths, 0.6f}}},
      {"P25.6", {{kSatisfaction, 0.5f}, {kResilience, 0.4f}}},
      {"P25.7", {{kStrengths, 1.0f}}},
      {"P26", {}},
      {"P27", {{kHealth, 0.7f}, {kSatisfaction, 0.6f}, {kStrengths, 0.5f}, {kFriends, 0.4f}}},
      {"P28", {{kStrengths, 0.6f}, {kFriends, 0.6f}, {kSelfEsteem, 0.6f}, {kWorkStudy, 0.5f}}},
      {"P28.3", {{kWorkStudy, 1.0f}, {kSelfEsteem, 0.5f}}},
      {"P28.4", {{kResilience, 0.8f}, {kSelfEsteem, 0.5f}}},
      {"P28.5", {{kWorkStudy, 0.8f}, {kResilience, 0.4f}}},
      {"P28.6", {{kSelfEsteem, 0.7f}, {kStrengths, 0.5f}}},
      // Life events.
      {"KE1", {{kFamily, 1.0f}, {kHealth, 0.4f}}},
      {"KE2", {{kWorkStudy, 0.5f}}},
      {"KE3", {{kWorkStudy, 1.0f}, {kStrengths, 0.6f}}},
      {"KE4", {{kHousing, 1.0f}}},
      {"KE4.1", {{kHousing, 1.0f}, {kResilience, 0.3f}}},
      {"KE4.3", {{kHousing, 0.6f}}},
      {"KE4.4", {{kHousing, 0.6f}}},
      {"KE5", {{kWorkStudy, 0.5f}, {kHousing, 0.5f}, {kFriends, 0.4f}, {kStrengths, 0.4f}}},
      {"KE6", {{kHousing, 0.8f}, {kFinance, 0.4f}}},
      {"KE7", {{kFamily, 1.0f}, {kResilience, 0.7f}, {kFinance, 0.4f}, {kHousing, 0.4f}}},
      {"KE8", {{kWorkStudy, 1.0f}, {kFinance, 0.8f}, {kResilience, 0.4f}}},
      {"KE9", {{kFinance, 1.0f}, {kResilience, 0.6f}}},
      {"KE10", {{kFinance, 0.8f}, {kSatisfaction, 0.5f}, {kWorkStudy, 0.3f}}},
      {"KE11", {{kHealth, 1.0f}, {kResilience, 0.6f}}},
      {"KE12", {{kHealth, 1.0f}, {kWorkStudy, 0.4f}}},
      {"KE13", {{kFamily, 0.8f}, {kHealth, 0.6f}, {kResilience, 0.5f}}},
      {"KE14", {{kFamily, 0.8f}, {kResilience, 0.8f}, {kSatisfaction, 0.4f}}},
      // Target groups: small, only what the group itself says about a person's situation.
      {"KR1", {}},
      {"KR1.1", {{kHealth, 0.3f}, {kFriends, 0.2f}}},
      {"KR1.2", {{kFamily, 0.6f}}},
      {"KR1.3", {{kStrengths, 0.2f}}},
      {"KR1.4", {{kHealth, 0.7f}}},
      {"KR1.5", {}},
      {"KR1.6", {{kHealth, 0.5f}}},
      {"KR2", {}},
      {"KR3", {}},
  };
  return *table;
}

// The table entry of `code` or of its nearest listed ancestor ("P5.7.1" -> "P5.7" -> "P5").
const std::vector<std::pair<int, float>>* Lookup(std::string_view code) {
  const auto& table = CodeTable();
  for (;;) {
    if (auto it = table.find(code); it != table.end()) return &it->second;
    const size_t dot = code.rfind('.');
    if (dot == std::string_view::npos) return nullptr;
    code = code.substr(0, dot);
  }
}

constexpr std::string_view kKeys[kLifeAreaCount] = {"health",
                                                     "resilience",
                                                     "housing",
                                                     "working_studying",
                                                     "family",
                                                     "friends",
                                                     "finance",
                                                     "improvement_of_strengths",
                                                     "self_esteem",
                                                     "life_satisfaction"};

}  // namespace

int LifeAreaIndex(cv1::LifeArea area) { return static_cast<int>(area) - 1; }
cv1::LifeArea LifeAreaAt(int index) { return static_cast<cv1::LifeArea>(index + 1); }
std::string_view LifeAreaKey(int index) { return kKeys[index]; }

const cv1::LocalizedText& LifeAreaName(int index) {
  static const auto* names = [] {
    // Finnish: the meters' names in the 3X10D code list; Swedish and English: ours.
    constexpr std::array<std::array<const char*, 3>, kLifeAreaCount> kNames = {{
        {"terveys", "hälsa", "health"},
        {"vaikeuksien voittaminen", "att klara av svårigheter", "overcoming difficulties"},
        {"asuminen", "boende", "housing"},
        {"opiskelu tai työ", "studier eller arbete", "studies or work"},
        {"perhe", "familj", "family"},
        {"ystävät", "vänner", "friends"},
        {"raha-asiat", "ekonomi", "finances"},
        {"itsensä kehittäminen", "att utveckla sig själv", "self-development"},
        {"itsetunto", "självkänsla", "self-esteem"},
        {"tyytyväisyys elämään", "nöjdhet med livet", "satisfaction with life"},
    }};
    auto* out = new std::array<cv1::LocalizedText, kLifeAreaCount>();
    for (int i = 0; i < kLifeAreaCount; ++i) {
      (*out)[i].set_fi(kNames[i][0]);
      (*out)[i].set_sv(kNames[i][1]);
      (*out)[i].set_en(kNames[i][2]);
    }
    return out;
  }();
  return (*names)[index];
}

float LifeAreaProfile::Norm() const {
  float sum = 0;
  for (float r : relevance) sum += r * r;
  return std::sqrt(sum);
}

LifeAreaProfile ProfileOf(const aurora::directory::v1::Service& service,
                          const std::vector<InferredArea>& inferred) {
  LifeAreaProfile profile;
  if (!service.life_areas().empty()) {
    profile.hand_labelled = true;
    for (int area : service.life_areas()) {
      const int i = LifeAreaIndex(static_cast<cv1::LifeArea>(area));
      if (i >= 0 && i < kLifeAreaCount) {
        profile.relevance[i] = 1.0f;
        profile.source[i] = AreaSource::kHand;
      }
    }
    return profile;
  }
  auto add = [&profile](const std::string& code) {
    const auto* weights = Lookup(code);
    if (weights == nullptr) return;
    for (const auto& [area, weight] : *weights) {
      const float r = weight * kMappedConfidence;
      if (r > profile.relevance[area]) profile.relevance[area] = r;
      profile.source[area] = AreaSource::kMapped;
      auto& from = profile.mapped_from[area];
      if (std::find(from.begin(), from.end(), code) == from.end()) from.push_back(code);
    }
  };
  for (const auto& code : service.service_classes()) add(code);
  for (const auto& code : service.life_events()) add(code);
  for (const auto& code : service.target_groups()) add(code);
  for (const auto& i : inferred) {
    if (i.area < 0 || i.area >= kLifeAreaCount) continue;
    const float r = kMappedConfidence * i.precision;
    if (r > profile.relevance[i.area]) {
      profile.relevance[i.area] = r;
      profile.source[i.area] = AreaSource::kInferred;
      profile.confidence[i.area] = i.probability;
      profile.mapped_from[i.area].clear();
    }
  }
  return profile;
}

std::vector<std::pair<int, float>> AreasOfLifeEvent(std::string_view code) {
  const auto* weights = Lookup(code);
  if (weights == nullptr) return {};
  return *weights;
}

const google::protobuf::RepeatedField<int32_t>& MeterAnswers(
    const cv1::LifeSituationAnswers& answers, int index) {
  switch (index) {
    case kHealth:
      return answers.health();
    case kResilience:
      return answers.resilience();
    case kHousing:
      return answers.housing();
    case kWorkStudy:
      return answers.working_studying();
    case kFamily:
      return answers.family();
    case kFriends:
      return answers.friends();
    case kFinance:
      return answers.finance();
    case kStrengths:
      return answers.improvement_of_strengths();
    case kSelfEsteem:
      return answers.self_esteem();
    default:
      return answers.life_satisfaction();
  }
}

}  // namespace aurora::recommender
