#pragma once
// Crisis routing: recognises requests that signal a crisis (suicidal thoughts, violence) from
// their words in fi/sv/en or from their meters, and crisis or emergency services from their
// names. The phrases are analysed with the same TextAnalyzer as everything else, so inflected
// and compound forms match ("itsemurha-ajatuksia", "lähisuhdeväkivallan"). Immutable after
// construction; thread-safe.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "aurora/common/v1/common.pb.h"
#include "recommender/text_analyzer.h"

namespace aurora::recommender {

enum CrisisKind : uint8_t {
  kCrisisMentalHealth = 1,  // suicidal thoughts, acute mental crisis
  kCrisisViolence = 2,      // violence at home, abuse, a crime
  kCrisisEmergency = 4,     // general emergency help (emergency number, 24-hour duty services)
};

// The analysed terms of a text, per language.
using TermSets = std::array<absl::flat_hash_set<std::string>, kLanguageCount>;

struct CrisisSignal {
  uint8_t kinds = 0;   // CrisisKind bits
  std::string reason;  // e.g. "the text mentions \"itsemurha\""
};

class CrisisLexicon {
 public:
  explicit CrisisLexicon(const TextAnalyzer& analyzer);

  // What the words of a request signal.
  CrisisSignal FromText(const TermSets& terms) const;
  // What the meters signal: life satisfaction and resilience both at most 1, or at least three
  // meters answered with a mean of at most 1.
  static CrisisSignal FromMeters(const aurora::common::v1::LifeSituationAnswers& answers);
  // The crisis kinds a service serves, from the terms of its names (all languages).
  uint8_t ServiceKinds(const TermSets& name_terms) const;

 private:
  struct Phrase {
    Language language;
    std::string text;                 // as written, for the reason
    std::vector<std::string> terms;   // all must occur ...
    std::vector<std::string> parts;   // ... or, for a one-word compound, all of its parts
    uint8_t kind;
  };
  std::vector<Phrase> request_phrases_;
  std::vector<Phrase> service_phrases_;
  std::array<absl::flat_hash_set<std::string>, kLanguageCount> service_exclusions_;
};

}  // namespace aurora::recommender
