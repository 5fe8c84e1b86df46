#include "recommender/conversation.h"

#include <algorithm>
#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/text.h"

namespace aurora::recommender {
namespace {

namespace v1 = aurora::recommender::v1;

constexpr size_t kMaxMessage = 500;
constexpr size_t kMaxNeed = 1000;
constexpr char kMunicipality[] = "municipality";
constexpr char kAge[] = "age";

// The bot's words, per language (fi, sv, en).
struct Words {
  std::array<const char*, kLanguageCount> text;
  const char* In(Language language) const { return text[static_cast<int>(language)]; }
};

const Words kAskNeed = {{"Kerro, missä asiassa tarvitset apua.",
                         "Berätta vad du behöver hjälp med.",
                         "Tell me what you need help with."}};
const Words kAskMunicipality = {{"Missä kunnassa asut? Palvelut riippuvat kunnasta.",
                                 "Vilken kommun bor du i? Tjänsterna beror på kommunen.",
                                 "Which municipality do you live in? The services depend on it."}};
const Words kAskAge = {{"Kuinka vanha olet? Osa palveluista on tietylle ikäryhmälle.",
                        "Hur gammal är du? En del tjänster är för en viss åldersgrupp.",
                        "How old are you? Some services are for a particular age group."}};
const Words kUnknownMunicipality = {
    {"En tunnistanut kuntaa, joten etsin ilman sitä.",
     "Jag kände inte igen kommunen, så jag söker utan den.",
     "I did not recognise the municipality, so I am searching without it."}};
const Words kUnknownAge = {{"En saanut selvää iästä, joten etsin ilman sitä.",
                            "Jag förstod inte åldern, så jag söker utan den.",
                            "I did not get the age, so I am searching without it."}};
const Words kFound = {{"Löysin nämä palvelut. Kerro lisää, jos haluat tarkentaa.",
                       "Jag hittade de här tjänsterna. Berätta mer om du vill precisera.",
                       "I found these services. Tell me more if you want to narrow them down."}};
const Words kNoneFound = {
    {"En löytänyt palveluita tällä kuvauksella. Kertoisitko tilanteestasi toisin sanoin?",
     "Jag hittade inga tjänster med den beskrivningen. Kan du beskriva din situation med andra "
     "ord?",
     "I found no services for that description. Could you describe your situation in other "
     "words?"}};
const Words kCrisis = {
    {"Jos olet hädässä tai vaarassa, soita hätänumeroon 112. Tässä kriisiavun yhteystietoja:",
     "Om du är i nöd eller fara, ring nödnumret 112. Här är kontakter för krishjälp:",
     "If you are in distress or danger, call the emergency number 112. Here are crisis "
     "contacts:"}};
const Words kRatherNot = {{"En halua kertoa", "Vill inte säga", "Rather not say"}};

// Phrases that decline a question (folded).
bool Declines(const std::string& folded) {
  static const char* const kPhrases[] = {"en halua", "ohita", "ei kiitos", "vill inte",
                                         "hoppa over", "skip", "rather not", "no thanks"};
  if (folded == "ei" || folded == "nej" || folded == "no") return true;
  for (const char* phrase : kPhrases) {
    if (absl::StrContains(folded, phrase)) return true;
  }
  return false;
}

std::optional<int> FirstNumber(const std::string& message) {
  for (size_t i = 0; i < message.size();) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(message[i]))) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < message.size() && absl::ascii_isdigit(static_cast<unsigned char>(message[end]))) {
      ++end;
    }
    int value = 0;
    if (end - i <= 3 && absl::SimpleAtoi(message.substr(i, end - i), &value)) return value;
    i = end;
  }
  return std::nullopt;
}

absl::Status Invalid(const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

}  // namespace

ConversationEngine::ConversationEngine(const Ranker* ranker, const TextAnalyzer* analyzer,
                                       const CodeLists* codes)
    : ranker_(ranker), analyzer_(analyzer), codes_(codes) {
  for (const auto& [code, municipality] : codes_->municipalities()) {
    for (const auto& [name, language] : {std::pair{&municipality.name.fi(), Language::kFinnish},
                                         std::pair{&municipality.name.sv(), Language::kSwedish}}) {
      if (name->empty()) continue;
      names_.emplace_back(FoldText(*name), code);
      for (const AnalyzedTerm& term : analyzer_->WordTerms(*name, language)) {
        if (!term.compound_part) names_.emplace_back(term.term, code);
      }
    }
  }
  std::sort(names_.begin(), names_.end());
  names_.erase(std::unique(names_.begin(), names_.end()), names_.end());
}

std::string ConversationEngine::FindMunicipality(const std::string& message) const {
  std::string digits;
  for (char c : message) {
    if (absl::ascii_isdigit(static_cast<unsigned char>(c))) digits += c;
  }
  if (digits.size() == 3 && codes_->FindMunicipality(digits) != nullptr) return digits;
  for (Language language : {Language::kFinnish, Language::kSwedish}) {
    std::vector<AnalyzedTerm> terms;
    std::vector<AnalyzedWord> words;
    analyzer_->Analyze(message, language, &terms, &words);
    std::vector<std::string> candidates;
    for (const AnalyzedTerm& term : terms) candidates.push_back(term.term);
    for (const AnalyzedWord& word : words) candidates.push_back(FoldText(word.surface));
    for (const std::string& candidate : candidates) {
      auto it = std::lower_bound(names_.begin(), names_.end(),
                                 std::pair<std::string, std::string>{candidate, ""});
      if (it != names_.end() && it->first == candidate) return it->second;
    }
  }
  return "";
}

absl::StatusOr<ConversationStep> ConversationEngine::Step(const v1::ConverseRequest& request)
    const {
  ConversationStep step;
  // Validation: nothing is answered from a request with a bad field.
  const std::string& message = request.message();
  const auto length = Utf8Length(message);
  if (!length.has_value()) return Invalid("message", "not valid UTF-8");
  if (absl::StripAsciiWhitespace(message).empty()) return Invalid("message", "required");
  if (*length > kMaxMessage) {
    return Invalid("message", absl::StrCat("at most ", kMaxMessage, " characters, got ", *length));
  }
  if (HasControlCharacters(message, false)) return Invalid("message", "control characters");
  if (!request.language().empty()) {
    auto language = ParseLanguage(request.language());
    if (!language.has_value()) {
      return Invalid("language", absl::StrCat("expected fi, sv or en, got ",
                                              QuoteForMessage(request.language())));
    }
    step.language = *language;
  }
  const v1::ConversationState& in = request.state();
  const auto need_length = Utf8Length(in.need());
  if (!need_length.has_value() || *need_length > kMaxNeed) {
    return Invalid("state.need", absl::StrCat("at most ", kMaxNeed, " characters of UTF-8"));
  }
  if (!in.municipality_code().empty() && codes_->FindMunicipality(in.municipality_code()) == nullptr) {
    return Invalid("state.municipality_code", absl::StrCat("unknown municipality code ",
                                                           QuoteForMessage(in.municipality_code())));
  }
  if (in.has_age() && (in.age() < 0 || in.age() > 120)) {
    return Invalid("state.age", absl::StrCat("must be 0..120, got ", in.age()));
  }
  for (int i = 0; i < in.asked_size(); ++i) {
    if (in.asked(i) != kMunicipality && in.asked(i) != kAge) {
      return Invalid(absl::StrCat("state.asked[", i, "]"),
                     absl::StrCat("expected municipality or age, got ", QuoteForMessage(in.asked(i))));
    }
  }
  if (!in.awaiting().empty() && in.awaiting() != kMunicipality && in.awaiting() != kAge) {
    return Invalid("state.awaiting", absl::StrCat("expected municipality, age or empty, got ",
                                                  QuoteForMessage(in.awaiting())));
  }

  v1::ConversationState& state = step.state;
  state = in;
  state.clear_awaiting();
  const std::string folded = FoldText(std::string(absl::StripAsciiWhitespace(message)));
  bool answered = false;  // the message answered the bot's question
  if (in.awaiting() == kMunicipality) {
    if (std::string code = FindMunicipality(message); !code.empty()) {
      state.set_municipality_code(code);
      answered = true;
    } else if (Declines(folded)) {
      answered = true;
    } else {
      step.replies.push_back(kUnknownMunicipality.In(step.language));
    }
  } else if (in.awaiting() == kAge) {
    if (auto age = FirstNumber(message); age.has_value() && *age <= 120) {
      state.set_age(*age);
      answered = true;
    } else if (Declines(folded)) {
      answered = true;
    } else {
      step.replies.push_back(kUnknownAge.In(step.language));
    }
  }
  if (!answered) {
    // More of the need; a need that would grow too long starts again from this message.
    std::string need = state.need().empty() ? message : absl::StrCat(state.need(), "\n", message);
    if (Utf8Length(need).value_or(kMaxNeed + 1) > kMaxNeed) need = message;
    state.set_need(need);
  }
  if (state.need().empty()) {
    step.replies.push_back(kAskNeed.In(step.language));
    return step;
  }

  RankRequest& rank = step.request;
  rank.text = state.need();
  rank.language = step.language;
  rank.municipality_code = state.municipality_code();
  if (state.has_age()) rank.age = state.age();
  rank.search = true;
  rank.limit = kDecidingResults;
  const RankResult found = ranker_->Rank(rank);
  rank.limit = 5;
  const auto asked = [&state](const char* what) {
    return std::find(state.asked().begin(), state.asked().end(), what) != state.asked().end();
  };
  if (found.crisis.empty() && !found.services.empty()) {
    size_t local = 0, age_bound = 0;
    for (const RankedService& ranked : found.services) {
      if (ranked.service->area_type() == aurora::directory::v1::AREA_TYPE_LIMITED) ++local;
      for (const std::string& rule : ranked.explanation.eligibility()) {
        if (absl::StrContains(rule, "no age given")) ++age_bound;
      }
    }
    const char* question = nullptr;
    if (state.municipality_code().empty() && !asked(kMunicipality) && local >= kMattersFrom) {
      question = kMunicipality;
      step.replies.push_back(kAskMunicipality.In(step.language));
      step.suggestions = {"Helsinki", "Tampere", "Oulu", kRatherNot.In(step.language)};
    } else if (!state.has_age() && !asked(kAge) && age_bound >= kMattersFrom) {
      question = kAge;
      step.replies.push_back(kAskAge.In(step.language));
      step.suggestions = {kRatherNot.In(step.language)};
    }
    if (question != nullptr) {
      state.add_asked(question);
      state.set_awaiting(question);
      return step;
    }
  }
  step.answer = true;
  return step;
}

void ConversationEngine::ResultReplies(size_t services, const std::string& crisis,
                                       ConversationStep* step) {
  if (!crisis.empty()) {
    step->replies.push_back(kCrisis.In(step->language));
  } else {
    step->replies.push_back((services > 0 ? kFound : kNoneFound).In(step->language));
  }
}

}  // namespace aurora::recommender
