#pragma once
// The service-finding chatbot's conversation logic (Recommender.Converse; the chat widget and
// `aurora chat` speak it). Stateless: each turn gets the state the previous answer returned and
// gives the next. What the person describes accumulates into a free-text need, searched as
// Search searches it. The bot asks for the municipality, and then the age, only when the services
// found depend on them (several of the top results are local services / are for an age group
// and no age was given), and each at most once; an answer it does not understand is taken as
// more of the need. A message that signals a crisis is answered at once, crisis contacts first.
//
// Immutable after construction; thread-safe.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "aurora/recommender/v1/recommender.pb.h"
#include "common/codelists.h"
#include "recommender/ranker.h"
#include "recommender/text_analyzer.h"

namespace aurora::recommender {

// What a turn does: the next state, the bot's words so far, and whether to answer with the
// services `request` finds (the caller ranks and saves it as a recommendation, then adds
// ResultReplies).
struct ConversationStep {
  aurora::recommender::v1::ConversationState state;
  std::vector<std::string> replies;
  std::vector<std::string> suggestions;
  bool answer = false;
  RankRequest request;
  Language language = Language::kFinnish;
};

class ConversationEngine {
 public:
  // How many of the first results decide whether the municipality or the age matters, and how
  // many local or age-bound ones among them make it matter.
  static constexpr size_t kDecidingResults = 10;
  static constexpr size_t kMattersFrom = 2;

  ConversationEngine(const Ranker* ranker, const TextAnalyzer* analyzer, const CodeLists* codes);

  // INVALID_ARGUMENT naming the field and value for a bad message, language or state.
  absl::StatusOr<ConversationStep> Step(const aurora::recommender::v1::ConverseRequest& request)
      const;

  // The bot's words for the services it answers with (`crisis`: the crisis reason, if any).
  static void ResultReplies(size_t services, const std::string& crisis, ConversationStep* step);

  // The municipality code a message names (a 3-digit code, or a municipality's Finnish or Swedish
  // name in any inflected form Voikko knows); empty when none.
  std::string FindMunicipality(const std::string& message) const;

 private:
  const Ranker* ranker_;
  const TextAnalyzer* analyzer_;
  const CodeLists* codes_;
  // Folded base forms of the municipalities' names (fi, sv) -> code.
  std::vector<std::pair<std::string, std::string>> names_;
};

}  // namespace aurora::recommender
