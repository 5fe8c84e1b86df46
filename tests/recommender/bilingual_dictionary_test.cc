// BilingualDictionary: parsing dictd entries of the FreeDict/WikDict dictionaries, loading dictd
// files (the index's base-64 offsets into the dictzip text), errors, and the real Debian
// dictionaries that scripts/setup installs.

#include "recommender/bilingual_dictionary.h"

#include <zlib.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace aurora::recommender {
namespace {

const TextAnalyzer& Analyzer() {
  static const TextAnalyzer* analyzer = [] {
    auto a = TextAnalyzer::Create();
    REQUIRE(a.ok());
    return a->release();
  }();
  return *analyzer;
}

std::vector<std::string> Terms(const std::vector<std::string>* translations) {
  return translations == nullptr ? std::vector<std::string>() : *translations;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// dictd's base-64 numbers (the inverse of what the loader decodes).
std::string DictdNumber(uint64_t n) {
  static const char* digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  do {
    out.insert(out.begin(), digits[n % 64]);
    n /= 64;
  } while (n > 0);
  return out;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "dictXXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

// Writes <dir>/<name>.index and .dict.dz (gzip, as dictzip is) with these entries.
void WriteDictd(const std::filesystem::path& dir, const std::string& name,
                const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string text = "00-database-info\nA test dictionary\n";
  std::string index = "00-database-info\tA\t" + DictdNumber(text.size()) + "\n";
  for (const auto& [headword, entry] : entries) {
    index += headword + "\t" + DictdNumber(text.size()) + "\t" + DictdNumber(entry.size()) + "\n";
    text += entry;
  }
  std::ofstream(dir / (name + ".index")) << index;
  gzFile out = gzopen((dir / (name + ".dict.dz")).c_str(), "wb");
  REQUIRE(out != nullptr);
  REQUIRE(gzwrite(out, text.data(), static_cast<unsigned>(text.size())) ==
          static_cast<int>(text.size()));
  gzclose(out);
}

TEST_CASE("a dictd entry gives each sense's translations, not its glosses", "[dictionary]") {
  // One sense: the line after the headword, with the number of the next gloss after it.
  CHECK(ParseDictdTranslations("rent /rent/ <n>\nvuokra 2.\nmoney paid to a landlord\n 3.\n"
                               "money paid for the use of a thing\n") ==
        std::vector<std::string>{"vuokra"});
  // Numbered senses, several translations each; glosses (also numbered, indented) skipped;
  // repeats once.
  CHECK(ParseDictdTranslations("die /daɪ/ <v>\n1. kuolla 2.\nto stop living\n 3.\nto perish\n"
                               "2. hajota, mennä rikki\nto break down\n3. sammua, kuolla\n"
                               "to stop running\n") ==
        std::vector<std::string>{"kuolla", "hajota", "sammua"});
  // Phrases, prefixes and wiki markup are not one-word translations.
  CHECK(ParseDictdTranslations("arch <adj>\n1. ovela, pää-\ncunning\n2. [[x|X]]kaari, "
                               "ottaa vuokralle\n") == std::vector<std::string>{"ovela"});
  // A gloss-only or empty entry gives nothing.
  CHECK(ParseDictdTranslations("word <n>\n").empty());
  CHECK(ParseDictdTranslations("").empty());
}

TEST_CASE("dictd files load, keyed by the analysed headword, with one-word translations",
          "[dictionary]") {
  TempDir dir;
  WriteDictd(dir.path, "freedict-swe-fin",
             {{"bostadsbidrag", "bostadsbidrag <n>\nasumistuki\n"},
              {"bidrag", "bidrag <n>\n1. kate\n2. avustus, tuki\nekonomiskt stöd\n"}});
  WriteDictd(dir.path, "freedict-eng-fin",
             {{"residence permit", "residence permit <n>\noleskelulupa\nright to reside\n"},
              {"residence", "residence <n>\nasuinpaikka\n"},
              {"rent", "rent <n>\nvuokra 2.\npayment\n"},
              {"rent", "rent <v>\n1. vuokrata\nto let\n"},
              {"the", "the <art>\nse\n"}});
  auto loaded = BilingualDictionary::Load(dir.path.string(), Analyzer());
  INFO(loaded.status().ToString());
  REQUIRE(loaded.ok());
  const BilingualDictionary& d = **loaded;
  // Keys are stems as the query is analysed: "residence permits" -> "resid permit".
  std::vector<AnalyzedTerm> terms;
  Analyzer().Analyze("residence permits", Language::kEnglish, &terms);
  REQUIRE(terms.size() == 2);
  const std::string key = terms[0].term + " " + terms[1].term;
  CHECK(Terms(d.Find(Language::kEnglish, key)) == std::vector<std::string>{"oleskelulupa"});
  // Two entries of one headword (noun and verb) merge, in the dictionary's order.
  CHECK(Terms(d.Find(Language::kEnglish, "rent")) ==
        std::vector<std::string>{"vuokra", "vuokrata"});
  CHECK(Terms(d.Find(Language::kSwedish, "bidrag")) ==
        std::vector<std::string>{"kate", "avustus", "tuki"});
  CHECK(Terms(d.Find(Language::kSwedish, "bostadsbidrag")) ==
        std::vector<std::string>{"asumistuki"});
  // A stop word is no headword; nor is an unknown word or the metadata entry.
  CHECK(d.Find(Language::kEnglish, "the") == nullptr);
  CHECK(d.Find(Language::kEnglish, "bidrag") == nullptr);
  CHECK(d.size(Language::kEnglish) == 3);
  CHECK(d.size(Language::kSwedish) == 2);
}

TEST_CASE("a missing or damaged dictionary is an error naming the file and its package",
          "[dictionary]") {
  TempDir dir;
  auto missing = BilingualDictionary::Load(dir.path.string(), Analyzer());
  REQUIRE(missing.status().code() == absl::StatusCode::kNotFound);
  CHECK_THAT(std::string(missing.status().message()),
             Catch::Contains("freedict-swe-fin.index") && Catch::Contains("dict-freedict-swe-fin"));

  WriteDictd(dir.path, "freedict-swe-fin", {{"bidrag", "bidrag <n>\navustus\n"}});
  auto no_english = BilingualDictionary::Load(dir.path.string(), Analyzer());
  REQUIRE(no_english.status().code() == absl::StatusCode::kNotFound);
  CHECK_THAT(std::string(no_english.status().message()), Catch::Contains("dict-freedict-eng-fin"));

  WriteDictd(dir.path, "freedict-eng-fin", {{"rent", "rent <n>\nvuokra\n"}});
  // An offset past the end of the text.
  std::ofstream(dir.path / "freedict-eng-fin.index") << "rent\tzzzz\tB\n";
  auto bad_offset = BilingualDictionary::Load(dir.path.string(), Analyzer());
  REQUIRE(bad_offset.status().code() == absl::StatusCode::kDataLoss);
  CHECK_THAT(std::string(bad_offset.status().message()),
             Catch::Contains("freedict-eng-fin.index:1"));
  // A line without the offset and length.
  std::ofstream(dir.path / "freedict-eng-fin.index") << "rent\n";
  auto bad_line = BilingualDictionary::Load(dir.path.string(), Analyzer());
  REQUIRE(bad_line.status().code() == absl::StatusCode::kDataLoss);
  CHECK_THAT(std::string(bad_line.status().message()),
             Catch::Contains("freedict-eng-fin.index:1") && Catch::Contains("tabs"));
  // Text that is not gzip.
  WriteDictd(dir.path, "freedict-eng-fin", {{"rent", "rent <n>\nvuokra\n"}});
  std::ofstream(dir.path / "freedict-eng-fin.dict.dz", std::ios::binary)
      << std::string("\x1f\x8b\x08\x00garbage", 11);
  auto bad_text = BilingualDictionary::Load(dir.path.string(), Analyzer());
  REQUIRE(bad_text.status().code() == absl::StatusCode::kDataLoss);
  CHECK_THAT(std::string(bad_text.status().message()), Catch::Contains("freedict-eng-fin.dict.dz"));
}

TEST_CASE("Debian's dictionaries translate the words of public services", "[dictionary]") {
  auto loaded = BilingualDictionary::Load("/usr/share/dictd", Analyzer());
  INFO(loaded.status().ToString());
  REQUIRE(loaded.ok());
  const BilingualDictionary& d = **loaded;
  CHECK(d.size(Language::kEnglish) > 30000);
  CHECK(d.size(Language::kSwedish) > 10000);
  auto key = [&](const char* text, Language language) {
    std::vector<AnalyzedTerm> terms;
    Analyzer().Analyze(text, language, &terms);
    std::string k;
    for (const auto& t : terms) k += (k.empty() ? "" : " ") + t.term;
    return k;
  };
  CHECK(Contains(Terms(d.Find(Language::kEnglish, key("residence permit", Language::kEnglish))),
                 "oleskelulupa"));
  CHECK(Contains(Terms(d.Find(Language::kEnglish, key("rent", Language::kEnglish))), "vuokra"));
  CHECK(Contains(Terms(d.Find(Language::kEnglish, key("pension", Language::kEnglish))), "eläke"));
  CHECK(Contains(Terms(d.Find(Language::kSwedish, key("bostadsbidrag", Language::kSwedish))),
                 "asumistuki"));
  CHECK(Contains(Terms(d.Find(Language::kSwedish, key("studiestöd", Language::kSwedish))),
                 "opintotuki"));
}

}  // namespace
}  // namespace aurora::recommender
