#pragma once
// Per-language text analysis for the recommender's index and queries: words, lowercase, safe
// accent folding, stop words, and index terms (Finnish lemmas and compound parts from Voikko,
// Swedish and English Snowball stems). Thread-safe; TextAnalyzer is expensive to create, so create
// one and share it.
//
// Case and accents: letters are lowercased and accents removed (é→e, ü→u, ç→c, ß→ss, œ→oe, ...),
// except å, ä, ö (and æ, ø), which are letters of their own in Finnish and Swedish and are kept in
// every language, so a Finnish or Swedish name in English text gives the same term everywhere.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace aurora::recommender {

enum class Language : uint8_t { kFinnish = 0, kSwedish = 1, kEnglish = 2 };
inline constexpr int kLanguageCount = 3;

// "fi", "sv", "en".
std::string_view LanguageCode(Language language);
// Only "fi", "sv" and "en" (exactly, lowercase).
std::optional<Language> ParseLanguage(std::string_view code);

struct AnalyzedTerm {
  std::string term;            // normalised index term (lowercase UTF-8), e.g. "työttömyys"
  uint32_t word = 0;           // index of the source word in the text (0-based), for explanations
  bool compound_part = false;  // a part of a compound or hyphenated word, not the whole word's term
  bool operator==(const AnalyzedTerm&) const = default;
};

struct AnalyzedWord {
  std::string surface;  // the word as written (bytes of the input)
  uint32_t begin = 0;   // byte offsets of the word in the input
  uint32_t end = 0;
  bool operator==(const AnalyzedWord&) const = default;
};

// `text` lowercased (Latin, basic Greek and Cyrillic) and accent-folded as above; invalid UTF-8
// bytes become U+FFFD. Terms are in this form, and stop words are looked up in it.
std::string FoldText(std::string_view text);

class TextAnalyzer {
 public:
  // FAILED_PRECONDITION naming the Debian package (voikko-fi, libstemmer0d) if the Finnish
  // dictionary or a Snowball stemmer cannot be loaded.
  static absl::StatusOr<std::unique_ptr<TextAnalyzer>> Create();
  ~TextAnalyzer();
  TextAnalyzer(const TextAnalyzer&) = delete;
  TextAnalyzer& operator=(const TextAnalyzer&) = delete;

  // Appends the index terms of `text` in `language` to `terms`, and (if non-null) its words to
  // `words`. Words are runs of letters and digits (hyphens and apostrophes inside a word join it;
  // invalid UTF-8 bytes separate words); AnalyzedTerm::word counts every word of `text` from 0,
  // stop words included. A word gives its distinct terms: the Finnish base forms (or the folded
  // word if Voikko does not know it) plus compound parts, the Swedish or English stem; a hyphenated
  // word also gives its parts. Numbers are kept as written. Stop words and words over 100 bytes
  // give no terms.
  void Analyze(std::string_view text, Language language, std::vector<AnalyzedTerm>* terms,
               std::vector<AnalyzedWord>* words = nullptr) const;

  // The terms of the first word of `word` (word index 0), as Analyze gives them; cached. For
  // query expansion and explanations.
  std::vector<AnalyzedTerm> WordTerms(std::string_view word, Language language) const;

  // True if `folded_word` (lowercase, folded as by FoldText) is a stop word of `language`.
  static bool IsStopWord(std::string_view folded_word, Language language);

  // Words currently in the cache of `language` (at most 200,000 per language).
  size_t CachedWords(Language language) const;

 private:
  struct Impl;
  explicit TextAnalyzer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace aurora::recommender
