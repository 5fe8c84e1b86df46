#include "recommender/crisis.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/text.h"
#include "recommender/life_areas.h"

namespace aurora::recommender {
namespace {

struct PhraseSpec {
  Language language;
  const char* text;
  uint8_t kind;
};

// What a person in crisis may write. Only phrases that are hard to read any other way: a false
// alarm puts crisis contacts first, a missed one is worse, but "abuse" alone would also catch
// "substance abuse".
constexpr PhraseSpec kRequestPhrases[] = {
    {Language::kFinnish, "itsemurha", kCrisisMentalHealth},
    {Language::kFinnish, "itsetuho", kCrisisMentalHealth},
    {Language::kFinnish, "itsetuhoinen", kCrisisMentalHealth},
    {Language::kFinnish, "itsetuhoisuus", kCrisisMentalHealth},
    {Language::kFinnish, "haluan kuolla", kCrisisMentalHealth},
    {Language::kFinnish, "en jaksa elää", kCrisisMentalHealth},
    {Language::kFinnish, "tappaa itseni", kCrisisMentalHealth},
    {Language::kSwedish, "självmord", kCrisisMentalHealth},
    {Language::kSwedish, "självmordstankar", kCrisisMentalHealth},
    {Language::kSwedish, "ta livet av mig", kCrisisMentalHealth},
    {Language::kSwedish, "vill dö", kCrisisMentalHealth},
    {Language::kEnglish, "suicide", kCrisisMentalHealth},
    {Language::kEnglish, "suicidal", kCrisisMentalHealth},
    {Language::kEnglish, "kill myself", kCrisisMentalHealth},
    {Language::kEnglish, "want to die", kCrisisMentalHealth},
    {Language::kEnglish, "end my life", kCrisisMentalHealth},
    {Language::kEnglish, "self harm", kCrisisMentalHealth},
    {Language::kFinnish, "väkivalta", kCrisisViolence},
    {Language::kFinnish, "lähisuhdeväkivalta", kCrisisViolence},
    {Language::kFinnish, "perheväkivalta", kCrisisViolence},
    {Language::kFinnish, "pahoinpitely", kCrisisViolence},
    {Language::kFinnish, "pahoinpidellä", kCrisisViolence},
    {Language::kFinnish, "raiskaus", kCrisisViolence},
    {Language::kFinnish, "lyö minua", kCrisisViolence},
    {Language::kSwedish, "våld", kCrisisViolence},
    {Language::kSwedish, "misshandel", kCrisisViolence},
    {Language::kSwedish, "våldtäkt", kCrisisViolence},
    {Language::kEnglish, "violence", kCrisisViolence},
    {Language::kEnglish, "violent", kCrisisViolence},
    {Language::kEnglish, "rape", kCrisisViolence},
    {Language::kEnglish, "assault", kCrisisViolence},
};

// Names of crisis and emergency services (all terms of a phrase must occur in the name; compound
// parts count, so "kriisi päivystys" matches "Kriisipäivystys").
constexpr PhraseSpec kServicePhrases[] = {
    {Language::kFinnish, "kriisi päivystys", kCrisisMentalHealth},
    {Language::kFinnish, "kriisiapu", kCrisisMentalHealth},
    {Language::kFinnish, "kriisikeskus", kCrisisMentalHealth},
    {Language::kFinnish, "kriisipuhelin", kCrisisMentalHealth},
    {Language::kFinnish, "kriisiryhmä", kCrisisMentalHealth},
    {Language::kFinnish, "mielenterveys päivystys", kCrisisMentalHealth},
    {Language::kFinnish, "psykiatria päivystys", kCrisisMentalHealth},
    {Language::kFinnish, "sosiaalipäivystys", kCrisisMentalHealth | kCrisisViolence},
    {Language::kFinnish, "päivystysapu", kCrisisEmergency},
    {Language::kFinnish, "turvakoti", kCrisisViolence},
    {Language::kFinnish, "nollalinja", kCrisisViolence},
    {Language::kFinnish, "lähisuhdeväkivalta", kCrisisViolence},
    {Language::kFinnish, "rikosuhripäivystys", kCrisisViolence},
    {Language::kFinnish, "lastensuojelu päivystys", kCrisisViolence},
    {Language::kFinnish, "hätäilmoitus", kCrisisEmergency},
    {Language::kFinnish, "hätänumero", kCrisisEmergency},
    {Language::kFinnish, "lääkäripäivystys", kCrisisEmergency},
    {Language::kFinnish, "päivystys", kCrisisEmergency},
};

// Words that make a name something else: veterinary and dental duty, military crisis
// management, crisis aid for businesses, emissions-trading fraud duty, drainage disputes, and
// payments or coordination for the providers of shelters.
constexpr PhraseSpec kServiceExclusions[] = {
    {Language::kFinnish, "eläin eläinlääkäri hammas hammashoito hammashuolto suu kriisinhallinta "
                         "ravitsemisala yritys päästökauppa tilisiirto ojitus korvaus koordinointi",
     0},
};

std::vector<std::string> TermsOf(const TextAnalyzer& analyzer, Language language,
                                 std::string_view text, bool parts) {
  std::vector<AnalyzedTerm> analysed;
  analyzer.Analyze(text, language, &analysed);
  std::vector<std::string> out;
  for (const auto& t : analysed) {
    if (t.compound_part != parts) continue;
    if (std::find(out.begin(), out.end(), t.term) == out.end()) out.push_back(t.term);
  }
  return out;
}

// A phrase matches by the base forms of its words (not their compound parts, which would make
// "väkivalta" match any "-valta"); a one-word compound also matches when all its parts occur,
// because Voikko may split a longer compound further ("itsemurha-ajatus": itse, murha, ajatus).
std::vector<std::string> PartsOf(const TextAnalyzer& analyzer, Language language,
                                 std::string_view text) {
  if (text.find(' ') != std::string_view::npos) return {};
  std::vector<std::string> parts = TermsOf(analyzer, language, text, true);
  if (parts.size() < 2) parts.clear();
  return parts;
}

bool AllIn(const std::vector<std::string>& terms, const absl::flat_hash_set<std::string>& set) {
  if (terms.empty()) return false;
  for (const auto& t : terms) {
    if (!set.contains(t)) return false;
  }
  return true;
}

double Mean(const google::protobuf::RepeatedField<int32_t>& values) {
  double sum = 0;
  for (int v : values) sum += v;
  return values.empty() ? NAN : sum / values.size();
}

}  // namespace

CrisisLexicon::CrisisLexicon(const TextAnalyzer& analyzer) {
  for (const auto& spec : kRequestPhrases) {
    request_phrases_.push_back({spec.language, spec.text,
                                TermsOf(analyzer, spec.language, spec.text, false),
                                PartsOf(analyzer, spec.language, spec.text), spec.kind});
  }
  for (const auto& spec : kServicePhrases) {
    service_phrases_.push_back({spec.language, spec.text,
                                TermsOf(analyzer, spec.language, spec.text, false),
                                PartsOf(analyzer, spec.language, spec.text), spec.kind});
  }
  for (const auto& spec : kServiceExclusions) {
    for (auto& t : TermsOf(analyzer, spec.language, spec.text, false)) {
      service_exclusions_[static_cast<int>(spec.language)].insert(std::move(t));
    }
  }
}

CrisisSignal CrisisLexicon::FromText(const TermSets& terms) const {
  CrisisSignal signal;
  for (const auto& phrase : request_phrases_) {
    const auto& set = terms[static_cast<int>(phrase.language)];
    if (!AllIn(phrase.terms, set) && !AllIn(phrase.parts, set)) continue;
    if ((signal.kinds & phrase.kind) != 0) continue;
    signal.kinds |= phrase.kind;
    absl::StrAppend(&signal.reason, signal.reason.empty() ? "" : "; ", "the text says \"",
                    phrase.text, "\" (", Sv(LanguageCode(phrase.language)), ")");
  }
  return signal;
}

CrisisSignal CrisisLexicon::FromMeters(const aurora::common::v1::LifeSituationAnswers& answers) {
  CrisisSignal signal;
  const double satisfaction = Mean(MeterAnswers(answers, 9));
  const double resilience = Mean(MeterAnswers(answers, 1));
  double sum = 0;
  int answered = 0;
  for (int i = 0; i < kLifeAreaCount; ++i) {
    const double m = Mean(MeterAnswers(answers, i));
    if (std::isnan(m)) continue;
    sum += m;
    ++answered;
  }
  if (satisfaction <= 1 && resilience <= 1) {
    signal.kinds = kCrisisMentalHealth;
    signal.reason = absl::StrCat("meters: life_satisfaction ", satisfaction, " and resilience ",
                                 resilience, " (both at most 1)");
  } else if (answered >= 3 && sum / answered <= 1) {
    signal.kinds = kCrisisMentalHealth;
    signal.reason = absl::StrCat("meters: ", answered, " answered with a mean of ", sum / answered,
                                 " (at most 1)");
  }
  return signal;
}

uint8_t CrisisLexicon::ServiceKinds(const TermSets& name_terms) const {
  for (int l = 0; l < kLanguageCount; ++l) {
    for (const auto& t : service_exclusions_[l]) {
      if (name_terms[l].contains(t)) return 0;
    }
  }
  uint8_t kinds = 0;
  for (const auto& phrase : service_phrases_) {
    const auto& set = name_terms[static_cast<int>(phrase.language)];
    // Names match by base forms only: "Kotihoidon turvapalvelut" is not a "turvakoti".
    if (AllIn(phrase.terms, set)) kinds |= phrase.kind;
  }
  return kinds;
}

}  // namespace aurora::recommender
