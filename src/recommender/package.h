#pragma once
// PackageBuilder: a service package for a life situation — a few complementary services that
// together cover each need the request shows, in the order to take them, each with the needs it
// covers and why it was chosen; needs no service covers are listed with the reason.
//
//   1. Needs, most pressing first: a crisis the request signals (Ranker::DetectCrisis); each life
//      event named; each life area whose need (1 - mean answer / 10) is at least
//      `min_area_need`, greatest first; what the free text describes.
//   2. Candidates per need, from the Ranker with the person's age, municipality and filters,
//      narrowed to the services that serve the need:
//      - crisis: the crisis and emergency services the ranking puts first;
//      - a life event: ranked for the event (and its name as text), services PTV tags with it
//        first, then those whose texts are about it, else those serving its life areas;
//      - a life area: services serving the area, in the order of the ranking of the whole
//        situation (all meters, events and text: a service that serves several of the person's
//        needs comes before one that serves only this one); an area with none there is ranked
//        on its own;
//      - the text: the services matching it (a search).
//   3. Selection, need by need: a service already in the package covers the need too when it is
//      among the need's candidates with a score of at least `cover_share` of the best; otherwise
//      the best candidate that does not do the same thing as a step already chosen (the same
//      general description, the same name, or names that are mostly the same words), preferring
//      an organisation the package does not have yet among candidates within `diversity_share`
//      of the best. At most `max_steps` steps; what is left over is listed as uncovered.
//   4. Order: crisis contacts first; then obligations and permits (they have deadlines); then the
//      steps of a life event; then the others; within each, the step covering the greatest need
//      first, then by score, then by service id.
//
// Deterministic for a given index revision. Stateless; thread-safe.

#include <string>
#include <vector>

#include "aurora/common/v1/common.pb.h"
#include "aurora/recommender/v1/recommender.pb.h"
#include "common/codelists.h"
#include "recommender/ranker.h"

namespace aurora::recommender {

struct PackageParameters {
  double min_area_need = 0.4;     // a mean answer of 6 or less
  double cover_share = 0.85;      // of a need's best score: a chosen service covers it too
  double diversity_share = 0.85;  // of the best score: another organisation is preferred
  size_t candidates_per_need = 20;
  size_t whole_situation_candidates = 300;  // the ranking the life areas' candidates come from
  size_t default_steps = 6;
  size_t max_steps = 12;
};

struct PackageRequest {
  RankRequest base;      // validated; `search`, `offset` and `limit` are ignored
  size_t max_steps = 0;  // 0: PackageParameters::default_steps
};

struct PackageStep {
  RankedService ranked;               // the service, its score and explanation for its needs
  std::vector<std::string> need_ids;  // the needs it covers, most pressing first
  std::vector<std::string> reasons;   // why chosen, why here
};

struct Package {
  std::vector<aurora::recommender::v1::PackageNeed> needs;  // covered_by: 1-based step numbers
  std::vector<PackageStep> steps;                           // in order
  int64_t revision = 0;
  std::string crisis;  // the crisis signal's reason, if any
};

class PackageBuilder {
 public:
  // `ranker` and `codes` must outlive the builder.
  PackageBuilder(const Ranker* ranker, const CodeLists* codes, PackageParameters parameters = {});

  Package Build(const PackageRequest& request) const;

  const PackageParameters& parameters() const { return parameters_; }

  // Why two services do the same thing ("" if they do not): the same id, the same general
  // description (or one is the other's), the same name in a language, or names in a language
  // that share at least 60 % of their words (two words or more).
  static std::string SameThing(const aurora::directory::v1::Service& a,
                               const aurora::directory::v1::Service& b);

 private:
  const Ranker* ranker_;
  const CodeLists* codes_;
  PackageParameters parameters_;
};

}  // namespace aurora::recommender
