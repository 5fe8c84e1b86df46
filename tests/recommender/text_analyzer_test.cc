#include "recommender/text_analyzer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "common/text.h"

namespace aurora::recommender {
namespace {

const TextAnalyzer& Analyzer() {
  static const TextAnalyzer* const analyzer = [] {
    auto created = TextAnalyzer::Create();
    REQUIRE(created.ok());
    return created->release();
  }();
  return *analyzer;
}

std::vector<AnalyzedTerm> Terms(std::string_view text, Language language,
                                std::vector<AnalyzedWord>* words = nullptr) {
  std::vector<AnalyzedTerm> terms;
  Analyzer().Analyze(text, language, &terms, words);
  return terms;
}

// The term strings, in order.
std::vector<std::string> Strings(const std::vector<AnalyzedTerm>& terms) {
  std::vector<std::string> out;
  for (const AnalyzedTerm& t : terms) out.push_back(t.term);
  return out;
}

std::vector<std::string> Strings(std::string_view text, Language language) {
  return Strings(Terms(text, language));
}

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

const AnalyzedTerm* Find(const std::vector<AnalyzedTerm>& terms, std::string_view term) {
  for (const AnalyzedTerm& t : terms) {
    if (t.term == term) return &t;
  }
  return nullptr;
}

TEST_CASE("language codes", "[analyzer]") {
  CHECK(LanguageCode(Language::kFinnish) == "fi");
  CHECK(LanguageCode(Language::kSwedish) == "sv");
  CHECK(LanguageCode(Language::kEnglish) == "en");
  CHECK(ParseLanguage("fi") == Language::kFinnish);
  CHECK(ParseLanguage("sv") == Language::kSwedish);
  CHECK(ParseLanguage("en") == Language::kEnglish);
  CHECK_FALSE(ParseLanguage("FI").has_value());
  CHECK_FALSE(ParseLanguage("fin").has_value());
  CHECK_FALSE(ParseLanguage("").has_value());
}

TEST_CASE("Finnish words give their base forms", "[analyzer]") {
  CHECK(Strings("asunnon", Language::kFinnish) == std::vector<std::string>{"asunto"});
  CHECK(Strings("kunnan", Language::kFinnish) == std::vector<std::string>{"kunta"});
  CHECK(Contains(Strings("lapsille", Language::kFinnish), "lapsi"));
  CHECK_FALSE(Contains(Strings("lapsille", Language::kFinnish), "lapsille"));
  CHECK(Strings("Helsingissä", Language::kFinnish) == std::vector<std::string>{"helsinki"});
  // Ambiguous words give every base form.
  const auto tuli = Strings("tuli", Language::kFinnish);
  CHECK(Contains(tuli, "tuli"));
  CHECK(Contains(tuli, "tulla"));
}

TEST_CASE("Finnish compounds give their parts", "[analyzer]") {
  const auto terms = Terms("työttömyysturvaa", Language::kFinnish);
  const AnalyzedTerm* whole = Find(terms, "työttömyysturva");
  const AnalyzedTerm* first = Find(terms, "työttömyys");
  const AnalyzedTerm* last = Find(terms, "turva");
  REQUIRE(whole != nullptr);
  REQUIRE(first != nullptr);
  REQUIRE(last != nullptr);
  CHECK_FALSE(whole->compound_part);
  CHECK(first->compound_part);
  CHECK(last->compound_part);
  // The root of a derived part ("työ" of "työttömyys") is not a part of the compound.
  CHECK(Find(terms, "työ") == nullptr);
  CHECK(terms.size() == 3);  // each term once, though Voikko gives two analyses
  for (const AnalyzedTerm& t : terms) CHECK(t.word == 0);

  // A part in a compound form gives its base form: "lasten" → lapsi, "asumis" → asua (Voikko
  // lemmatises "asuminen" to "asua" too), "mielen" → mieli.
  const auto lastensuojelu = Strings("lastensuojelusta", Language::kFinnish);
  CHECK(Contains(lastensuojelu, "lastensuojelu"));
  CHECK(Contains(lastensuojelu, "lapsi"));
  CHECK(Contains(lastensuojelu, "suojelu"));
  const auto asumistuki = Strings("asumistuen", Language::kFinnish);
  CHECK(Contains(asumistuki, "asumistuki"));
  CHECK(Contains(asumistuki, "asua"));
  CHECK(Contains(asumistuki, "tuki"));
  CHECK(Contains(Strings("asuminen", Language::kFinnish), "asua"));
  const auto mielenterveys = Strings("mielenterveyspalveluihin", Language::kFinnish);
  CHECK(Contains(mielenterveys, "mielenterveyspalvelu"));
  CHECK(Contains(mielenterveys, "mieli"));
  CHECK(Contains(mielenterveys, "terveys"));
  CHECK(Contains(mielenterveys, "palvelu"));
  // A bound first element without a base form of its own is kept as written.
  const auto sosiaaliturva = Strings("sosiaaliturvan", Language::kFinnish);
  CHECK(Contains(sosiaaliturva, "sosiaaliturva"));
  CHECK(Contains(sosiaaliturva, "sosiaali"));
  CHECK(Contains(sosiaaliturva, "turva"));
  // Not a compound: no parts.
  CHECK(Strings("ikääntyneiden", Language::kFinnish) == std::vector<std::string>{"ikääntynyt"});
}

TEST_CASE("hyphenated words give the whole word and its parts", "[analyzer]") {
  std::vector<AnalyzedWord> words;
  const auto terms = Terms("sote-palvelut", Language::kFinnish, &words);
  REQUIRE(words.size() == 1);
  CHECK(words[0].surface == "sote-palvelut");
  const AnalyzedTerm* whole = Find(terms, "sote-palvelu");
  REQUIRE(whole != nullptr);
  CHECK_FALSE(whole->compound_part);
  REQUIRE(Find(terms, "sote") != nullptr);
  CHECK(Find(terms, "sote")->compound_part);
  REQUIRE(Find(terms, "palvelu") != nullptr);
  CHECK(Find(terms, "palvelu")->compound_part);
  CHECK(Find(terms, "palvelut") == nullptr);

  // Unknown to Voikko as a whole: the whole as written, and the parts' terms.
  const auto covid = Terms("covid-19-rokotukset", Language::kFinnish);
  REQUIRE(Find(covid, "covid-19-rokotukset") != nullptr);
  CHECK_FALSE(Find(covid, "covid-19-rokotukset")->compound_part);
  REQUIRE(Find(covid, "covid") != nullptr);
  CHECK(Find(covid, "covid")->compound_part);
  REQUIRE(Find(covid, "19") != nullptr);
  REQUIRE(Find(covid, "rokotus") != nullptr);
  CHECK(Find(covid, "rokotus")->compound_part);

  const auto english = Terms("well-being services", Language::kEnglish);
  CHECK(Find(english, "well") != nullptr);
  CHECK(Find(english, "servic") != nullptr);
  // A hyphen that does not join two words separates them.
  CHECK(Strings("sosiaali- ja terveyspalvelut", Language::kFinnish) ==
        std::vector<std::string>{"sosiaali", "terveyspalvelu", "terveys", "palvelu"});
  CHECK(Strings("-lapset-", Language::kFinnish) == std::vector<std::string>{"lapsi"});
}

TEST_CASE("unknown Finnish words fall back to the word as written", "[analyzer]") {
  CHECK(Strings("Zyxwqvuttin", Language::kFinnish) == std::vector<std::string>{"zyxwqvuttin"});
  CHECK(Strings("Xqzzyn", Language::kFinnish) == std::vector<std::string>{"xqzzyn"});
  // Foreign names inflected with an apostrophe lose the ending.
  CHECK(Strings("Qwertyson'n", Language::kFinnish) == std::vector<std::string>{"qwertyson"});
  // Numbers are kept as they are, in every language.
  for (Language language : {Language::kFinnish, Language::kSwedish, Language::kEnglish}) {
    CHECK(Strings("2023 12", language) == std::vector<std::string>{"2023", "12"});
  }
}

TEST_CASE("Swedish and English words give Snowball stems", "[analyzer]") {
  const auto arbetsloshet = Strings("arbetslöshet", Language::kSwedish);
  REQUIRE(arbetsloshet.size() == 1);
  CHECK(Strings("Arbetslösheten", Language::kSwedish) == arbetsloshet);
  CHECK(arbetsloshet[0] == "arbetslös");
  CHECK(Strings("barnen", Language::kSwedish) == Strings("barn", Language::kSwedish));
  CHECK(Strings("unemployed", Language::kEnglish) == std::vector<std::string>{"unemploy"});
  CHECK(Strings("Unemployment", Language::kEnglish) == std::vector<std::string>{"unemploy"});
  CHECK(Strings("housing", Language::kEnglish) == std::vector<std::string>{"hous"});
  CHECK(Strings("children’s", Language::kEnglish) == std::vector<std::string>{"children"});
  // Each language has its own analysis: Finnish lemmas are not stems.
  CHECK(Strings("housing", Language::kFinnish) == std::vector<std::string>{"housing"});
}

TEST_CASE("stop words give no terms but still count as words", "[analyzer]") {
  std::vector<AnalyzedWord> words;
  const auto fi = Terms("Lapsi ja hänen äitinsä ovat kodissa", Language::kFinnish, &words);
  CHECK(words.size() == 6);
  CHECK(Contains(Strings(fi), "lapsi"));
  CHECK_FALSE(Contains(Strings(fi), "ja"));
  CHECK_FALSE(Contains(Strings(fi), "olla"));
  CHECK_FALSE(Contains(Strings(fi), "hän"));
  REQUIRE(Find(fi, "äiti") != nullptr);
  CHECK(Find(fi, "äiti")->word == 3);
  REQUIRE(Find(fi, "koti") != nullptr);
  CHECK(Find(fi, "koti")->word == 5);

  const auto en = Terms("The housing of the children and their families", Language::kEnglish);
  CHECK(Strings(en) == std::vector<std::string>{"hous", "children", "famili"});
  CHECK(en[0].word == 1);
  CHECK(en[1].word == 4);
  CHECK(en[2].word == 7);
  CHECK(Strings("barnen och skolan i Åbo", Language::kSwedish) ==
        std::vector<std::string>{"barn", "skolan", "åbo"});
  // Content words stay, even frequent ones.
  CHECK(Strings("making a will", Language::kEnglish) == std::vector<std::string>{"make", "will"});
  CHECK(TextAnalyzer::IsStopWord("että", Language::kFinnish));
  CHECK(TextAnalyzer::IsStopWord("och", Language::kSwedish));
  CHECK(TextAnalyzer::IsStopWord("the", Language::kEnglish));
  CHECK_FALSE(TextAnalyzer::IsStopWord("the", Language::kFinnish));
  CHECK_FALSE(TextAnalyzer::IsStopWord("lapsi", Language::kFinnish));
  CHECK_FALSE(TextAnalyzer::IsStopWord("tuki", Language::kFinnish));
}

TEST_CASE("case and safe accent folding", "[analyzer]") {
  CHECK(Strings("CAFÉ", Language::kEnglish) == std::vector<std::string>{"cafe"});
  CHECK(Contains(Strings("CAFÉ", Language::kFinnish), "cafe"));
  CHECK(Strings("Äiti", Language::kFinnish) == std::vector<std::string>{"äiti"});
  CHECK(Strings("ÄITI", Language::kFinnish) == std::vector<std::string>{"äiti"});
  CHECK(Strings("Ölands", Language::kEnglish) == std::vector<std::string>{"öland"});
  CHECK(FoldText("ÅÄÖ åäö ÆØ Éé èêë Üü Çç Ññ ß Œ Šš Žž ÁÍÓÚ Ł İ") ==
        "åäö åäö æø ee eee uu cc nn ss oe ss zz aiou l i");
  CHECK(FoldText("ABC abc 123 -_.") == "abc abc 123 -_.");
  CHECK(FoldText("a\xff" "b") == "a\xEF\xBF\xBD" "b");
  // Decomposed (NFD) letters: ä and å composed, other accents dropped.
  CHECK(Strings("a\xCC\x88iti", Language::kFinnish) == std::vector<std::string>{"äiti"});
  CHECK(Strings("cafe\xCC\x81", Language::kEnglish) == std::vector<std::string>{"cafe"});
  // A soft hyphen inside a word is ignored.
  std::vector<AnalyzedWord> words;
  CHECK(Terms("lap\xC2\xADsille", Language::kFinnish, &words).at(0).term == "lapsi");
  REQUIRE(words.size() == 1);
  CHECK(words[0].surface == "lap\xC2\xADsille");
}

TEST_CASE("word offsets", "[analyzer]") {
  const std::string text = "  Äiti, isä ja 3 lasta – sote-palvelut (’tis) e-mail’s ";
  std::vector<AnalyzedWord> words;
  Terms(text, Language::kFinnish, &words);
  const std::vector<std::string> expected = {"Äiti", "isä",           "ja",  "3",
                                             "lasta", "sote-palvelut", "tis", "e-mail’s"};
  REQUIRE(words.size() == expected.size());
  size_t from = 0;
  for (size_t i = 0; i < words.size(); ++i) {
    const size_t begin = text.find(expected[i], from);
    REQUIRE(begin != std::string::npos);
    CHECK(words[i].surface == expected[i]);
    CHECK(words[i].begin == begin);
    CHECK(words[i].end == begin + expected[i].size());
    from = words[i].end;
  }
  CHECK(words[0].begin == 2);
  CHECK(words[0].end == 7);  // Ä is two bytes
}

TEST_CASE("invalid UTF-8 separates words and never crashes", "[analyzer]") {
  std::vector<AnalyzedWord> words;
  const auto terms = Terms("asunnon\xFF\xFElapsille\xC3", Language::kFinnish, &words);
  REQUIRE(words.size() == 2);
  CHECK(words[0].surface == "asunnon");
  CHECK(words[1].surface == "lapsille");
  CHECK(words[1].begin == 9);
  CHECK(Strings(terms) == std::vector<std::string>{"asunto", "lapsi"});
  // Overlong forms, surrogates and truncated sequences are separators too.
  CHECK(Strings("a\xC0\xAF" "b\xED\xA0\x80" "c\xE2\x82" "d\xF4\x90\x80\x80" "e",
                Language::kEnglish) == std::vector<std::string>{"b", "c", "d", "e"});

  std::mt19937 random(7);
  const std::string alphabet = "aäöeé -'\xC3\xA4\xCC\x88\xFF\x80\xE2\x80\x99\xC2\xAD";
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    const int length = static_cast<int>(random() % 40);
    for (int i = 0; i < length; ++i) {
      text.push_back(random() % 4 == 0 ? static_cast<char>(random() % 256)
                                       : alphabet[random() % alphabet.size()]);
    }
    for (Language language : {Language::kFinnish, Language::kSwedish, Language::kEnglish}) {
      std::vector<AnalyzedWord> w;
      const auto t = Terms(text, language, &w);
      for (const AnalyzedWord& word : w) {
        REQUIRE(word.begin < word.end);
        REQUIRE(word.end <= text.size());
        REQUIRE(word.surface == text.substr(word.begin, word.end - word.begin));
        REQUIRE(Utf8Length(word.surface).has_value());
      }
      for (const AnalyzedTerm& term : t) {
        REQUIRE(!term.term.empty());
        REQUIRE(Utf8Length(term.term).has_value());
        REQUIRE(term.word < w.size());
      }
    }
  }
}

TEST_CASE("long words give no terms", "[analyzer]") {
  std::vector<AnalyzedWord> words;
  const auto terms = Terms(std::string(150, 'a') + " lapsi", Language::kFinnish, &words);
  CHECK(words.size() == 2);
  REQUIRE(terms.size() == 1);
  CHECK(terms[0].term == "lapsi");
  CHECK(terms[0].word == 1);
}

TEST_CASE("WordTerms gives the cached terms of one word", "[analyzer]") {
  const size_t before = Analyzer().CachedWords(Language::kFinnish);
  const auto terms = Analyzer().WordTerms("Perustoimeentulotukea", Language::kFinnish);
  CHECK(Analyzer().CachedWords(Language::kFinnish) == before + 1);
  CHECK(terms == Terms("perustoimeentulotukea", Language::kFinnish));
  CHECK(Analyzer().CachedWords(Language::kFinnish) == before + 1);
  CHECK(Contains(Strings(terms), "perustoimeentulotuki"));
  CHECK(Contains(Strings(terms), "toimeentulo"));
  CHECK(Contains(Strings(terms), "tuki"));
  CHECK(Analyzer().WordTerms("  housing, and more", Language::kEnglish) ==
        std::vector<AnalyzedTerm>{{"hous", 0, false}});
  CHECK(Analyzer().WordTerms("ja", Language::kFinnish).empty());
  CHECK(Analyzer().WordTerms("", Language::kFinnish).empty());
}

std::vector<std::pair<std::string, Language>> SampleTexts() {
  std::vector<std::pair<std::string, Language>> texts = {
      {"Työttömyysturvaa haetaan Kelasta tai työttömyyskassasta. Asumistuki ja toimeentulotuki "
       "auttavat pienituloisia. Lasten päivähoito ja varhaiskasvatus, sote-palvelut.",
       Language::kFinnish},
      {"Mielenterveyspalveluihin pääsee terveyskeskuksen kautta. Omaishoitajille maksetaan "
       "omaishoidon tukea. Vammaispalvelut, kotihoito ja kuntoutus.",
       Language::kFinnish},
      {"Arbetslösheten ökar. Barnen går i skolan och föräldrarna får bostadsbidrag från FPA.",
       Language::kSwedish},
      {"Unemployment benefits, housing allowance and social assistance for families with "
       "children; e-services and well-being.",
       Language::kEnglish}};
  std::ifstream in(std::string(AURORA_DATA_DIR) + "/services.ndjson");
  std::string line;
  for (int n = 0; n < 400 && std::getline(in, line); ++n) {
    const auto service = nlohmann::json::parse(line);
    for (const char* field : {"summary", "description"}) {
      if (!service.contains(field) || !service[field].is_object()) continue;
      for (const auto& [code, text] : service[field].items()) {
        const auto language = ParseLanguage(code);
        if (language && text.is_string()) texts.emplace_back(text.get<std::string>(), *language);
      }
    }
  }
  return texts;
}

TEST_CASE("concurrent analysis gives the single-threaded results", "[analyzer][concurrency]") {
  const auto texts = SampleTexts();
  std::vector<std::vector<AnalyzedTerm>> expected;
  {
    auto reference = TextAnalyzer::Create();
    REQUIRE(reference.ok());
    for (const auto& [text, language] : texts) {
      expected.emplace_back();
      (*reference)->Analyze(text, language, &expected.back());
    }
  }
  auto shared = TextAnalyzer::Create();  // cold cache: the threads race to fill it
  REQUIRE(shared.ok());
  constexpr int kThreads = 6;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int pass = 0; pass < 2; ++pass) {
        for (size_t k = 0; k < texts.size(); ++k) {
          const size_t i = (k * (t + 1) + t) % texts.size();  // a different order per thread
          std::vector<AnalyzedTerm> terms;
          (*shared)->Analyze(texts[i].first, texts[i].second, &terms);
          if (terms != expected[i]) ++mismatches[t];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) CHECK(mismatches[t] == 0);
  CHECK(texts.size() > 4);
}

// Not run by ctest: `text_analyzer_test "[.benchmark]"` times the Finnish descriptions of the
// demo catalogue, with a cold and a warm cache.
TEST_CASE("Finnish analysis speed", "[.benchmark]") {
  std::ifstream in(std::string(AURORA_DATA_DIR) + "/services.ndjson");
  REQUIRE(in.good());
  std::vector<std::string> texts;
  size_t bytes = 0;
  std::string line;
  while (std::getline(in, line)) {
    const auto service = nlohmann::json::parse(line);
    for (const char* field : {"description", "summary"}) {
      if (service.contains(field) && service[field].is_object() &&
          service[field].contains("fi") && service[field]["fi"].is_string()) {
        texts.push_back(service[field]["fi"].get<std::string>());
        bytes += texts.back().size();
      }
    }
  }
  auto analyzer = TextAnalyzer::Create();
  REQUIRE(analyzer.ok());
  for (const char* pass : {"cold", "warm"}) {
    size_t words = 0;
    size_t terms = 0;
    const auto start = std::chrono::steady_clock::now();
    const std::clock_t cpu_start = std::clock();
    for (const std::string& text : texts) {
      std::vector<AnalyzedTerm> t;
      std::vector<AnalyzedWord> w;
      (*analyzer)->Analyze(text, Language::kFinnish, &t, &w);
      words += w.size();
      terms += t.size();
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double cpu_seconds = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
    std::printf(
        "%s: %zu texts, %.2f MB, %zu words, %zu terms in %.3f s (CPU %.3f s, %.2f MB/s), %zu "
        "cached\n",
        pass, texts.size(), bytes / 1e6, words, terms, seconds, cpu_seconds,
        bytes / 1e6 / cpu_seconds, (*analyzer)->CachedWords(Language::kFinnish));
  }
}

}  // namespace
}  // namespace aurora::recommender
