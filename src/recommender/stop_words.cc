// Stop words of the text analyzer: the most frequent function words (conjunctions, pronouns,
// auxiliary verbs, articles, common adpositions) of each language, written folded as FoldText gives
// them. Content words are deliberately left out, even frequent ones (Finnish "voi", "tulee",
// Swedish "finns", "år", English "will", "may", "help").

#include <array>
#include <string_view>
#include <unordered_set>

#include "recommender/text_analyzer.h"

namespace aurora::recommender {
namespace {

constexpr std::string_view kFinnish[] = {
    // conjunctions and particles
    "ja", "tai", "sekä", "eli", "että", "jotta", "kun", "jos", "kuin", "mutta", "vaan", "koska",
    "vaikka", "myös", "vain", "jo", "niin", "siis", "sitten", "nyt", "kuten", "esim", "esimerkiksi",
    "mm", "ym", "jne", "ns", "tms", "yms", "eikä", "joko", "mikäli",
    // negation verb
    "ei", "en", "et", "emme", "ette", "eivät",
    // olla
    "on", "ovat", "oli", "olivat", "olla", "ole", "olen", "olet", "olemme", "olette", "ollut",
    "olleet", "olisi", "olisivat", "ollaan", "oltu", "olevat", "oleva",
    // pronouns
    "se", "sen", "sitä", "siitä", "sille", "siihen", "siinä", "sillä", "ne", "niiden", "niitä",
    "niille", "niihin", "niissä", "niistä", "niillä", "tämä", "tämän", "tätä", "tässä", "tästä",
    "tähän", "tälle", "tällä", "nämä", "näiden", "näitä", "näissä", "näistä", "näille", "joka",
    "jonka", "jota", "jossa", "josta", "johon", "jolle", "jolla", "jotka", "joiden", "joita",
    "joissa", "joista", "joihin", "joille", "joilla", "mikä", "minkä", "mitä", "missä", "mistä",
    "mihin", "miten", "hän", "hänen", "häntä", "hänelle", "he", "heidän", "heitä", "heille", "minä",
    "minun", "minua", "minulle", "sinä", "sinun", "sinua", "sinulle", "me", "meidän", "meille",
    "te", "teidän", "teille", "itse",
    // adpositions
    "kanssa", "mukaan"};

constexpr std::string_view kSwedish[] = {
    // conjunctions, particles, adverbs
    "och", "eller", "men", "att", "som", "om", "så", "när", "då", "där", "här", "hur", "vad",
    "samt", "också", "även", "dock", "ju", "bara", "nu", "sedan", "inte", "ej", "än", "både",
    "varken", "eftersom", "medan",
    // articles and pronouns
    "en", "ett", "den", "det", "de", "dem", "denna", "detta", "dessa", "dess", "deras", "jag",
    "du", "han", "hon", "vi", "ni", "mig", "dig", "sig", "oss", "er", "honom", "henne", "min",
    "mitt", "mina", "din", "ditt", "dina", "sin", "sitt", "sina", "hans", "hennes", "vår", "vårt",
    "våra", "ert", "era", "man", "vilken", "vilket", "vilka", "vem", "någon", "något", "några",
    "ingen", "inget", "inga",
    // auxiliary verbs
    "är", "var", "vara", "varit", "blir", "bli", "blev", "blivit", "har", "hade", "ha", "haft",
    "kan", "kunna", "kunde", "ska", "skall", "skulle", "vill", "måste",
    // prepositions
    "i", "på", "av", "för", "med", "till", "från", "vid", "mot", "hos", "åt", "över", "under",
    "genom", "utan", "inom", "mellan", "efter", "före", "ur", "enligt"};

constexpr std::string_view kEnglish[] = {
    // articles, conjunctions, particles
    "a", "an", "the", "and", "or", "but", "if", "then", "than", "so", "as", "because", "while",
    "until", "also", "not", "no", "nor", "only", "very", "too", "just", "both", "either",
    "neither", "etc",
    // pronouns and determiners
    "i", "me", "my", "we", "us", "our", "ours", "you", "your", "yours", "he", "him", "his", "she",
    "her", "hers", "it", "its", "they", "them", "their", "theirs", "this", "that", "these",
    "those", "what", "which", "who", "whom", "whose", "there", "here", "when", "where", "how",
    "why", "each", "such", "some", "any", "other",
    // auxiliary verbs
    "am", "is", "are", "was", "were", "be", "been", "being", "have", "has", "had", "having", "do",
    "does", "did", "can", "could", "would", "should", "shall", "might", "must", "it's", "don't",
    "doesn't", "can't", "isn't", "aren't", "you're", "we're", "they're",
    // prepositions
    "of", "at", "by", "for", "with", "about", "into", "through", "during", "before", "after", "to",
    "from", "in", "on", "off", "out", "over", "under", "up", "via", "per", "within", "without"};

template <size_t N>
std::unordered_set<std::string_view> MakeSet(const std::string_view (&words)[N]) {
  return std::unordered_set<std::string_view>(std::begin(words), std::end(words));
}

}  // namespace

bool TextAnalyzer::IsStopWord(std::string_view folded_word, Language language) {
  static const auto* const sets = new std::array<std::unordered_set<std::string_view>, 3>{
      MakeSet(kFinnish), MakeSet(kSwedish), MakeSet(kEnglish)};
  return (*sets)[static_cast<size_t>(language)].contains(folded_word);
}

}  // namespace aurora::recommender
