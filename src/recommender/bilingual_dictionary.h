#pragma once
// BilingualDictionary: Swedish→Finnish and English→Finnish word and phrase translations from the
// FreeDict dictionaries that Debian packages (dict-freedict-swe-fin, dict-freedict-eng-fin: the
// WikDict extracts of Wiktionary, CC BY-SA), read from their dictd files (`.index` and the
// dictzip-compressed `.dict.dz`). The ranker translates query words with it ("residence permit"
// -> "oleskelulupa", "bostadsbidrag" -> "asumistuki") beside the lexicon it learns from the
// catalogue's own parallel texts; README "How recommendations are ranked" (Across languages)
// describes how they combine.
//
// Headwords are keyed by their analysed terms (the Swedish or English stems of their words, stop
// words left out, joined by one space): a query matches them through the same analysis. Only
// one-word Finnish translations are kept (a phrase such as "ottaa vuokralle" would translate
// into its commonest word), as written: the ranker takes their Voikko base forms when a query
// needs them (analysing all ~150,000 at start would take seconds and fill the analyzer's cache).
// Immutable after construction; thread-safe.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "recommender/text_analyzer.h"

namespace aurora::recommender {

// One entry of a dictd dictionary: its headword and its translations, in the dictionary's order.
struct DictionaryEntry {
  std::string headword;
  std::vector<std::string> translations;
};

// The translations in the text of one dictd entry of a FreeDict/WikDict dictionary: the first
// line is the headword (with pronunciation and part of speech), then each sense gives its
// translations (comma-separated, on a line of their own, numbered "N. " when there are several
// senses) followed by glosses in the source language. Only one-word translations are returned
// (no spaces, no wiki markup, not a bare prefix such as "pää-").
std::vector<std::string> ParseDictdTranslations(std::string_view entry);

class BilingualDictionary {
 public:
  // The dictionaries in `dir`, usually /usr/share/dictd: freedict-swe-fin and freedict-eng-fin.
  // NOT_FOUND naming the file and its Debian package if one is missing; DATA_LOSS naming the file
  // if it cannot be read or decompressed, or an index line is malformed.
  static absl::StatusOr<std::unique_ptr<BilingualDictionary>> Load(const std::string& dir,
                                                                   const TextAnalyzer& analyzer);
  // From entries in memory (a dictionary per source language: kSwedish, kEnglish).
  static std::unique_ptr<BilingualDictionary> FromEntries(
      const std::vector<DictionaryEntry>& swedish, const std::vector<DictionaryEntry>& english,
      const TextAnalyzer& analyzer);

  // Headwords of up to this many terms are kept (longer ones cannot match a short query anyway).
  static constexpr size_t kMaxPhraseTerms = 3;

  // The one-word Finnish translations of the headword(s) of `language` whose terms are `key`
  // (space-joined, as above), in the dictionary's order without repeats; null if there is none.
  const std::vector<std::string>* Find(Language language, std::string_view key) const;

  // Keys of `language` (distinct analysed headwords with at least one translation).
  size_t size(Language language) const;

 private:
  BilingualDictionary() = default;
  void Add(Language language, const DictionaryEntry& entry, const TextAnalyzer& analyzer);

  std::array<absl::flat_hash_map<std::string, std::vector<std::string>>, kLanguageCount> entries_;
};

}  // namespace aurora::recommender
