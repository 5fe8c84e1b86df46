#include "recommender/bilingual_dictionary.h"

#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/text.h"

namespace aurora::recommender {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// "12. rest" -> "rest"; anything else -> nullopt.
std::optional<std::string_view> AfterSenseNumber(std::string_view line) {
  size_t i = 0;
  while (i < line.size() && IsDigit(line[i])) ++i;
  if (i == 0 || i + 1 >= line.size() || line[i] != '.' || line[i + 1] != ' ') return std::nullopt;
  return line.substr(i + 2);
}

// A translation line may end with the number of the sense's next gloss ("vuokra 2.").
std::string_view WithoutTrailingNumber(std::string_view line) {
  line = Trim(line);
  if (line.empty() || line.back() != '.') return line;
  size_t i = line.size() - 1;
  while (i > 0 && IsDigit(line[i - 1])) --i;
  if (i == line.size() - 1 || i == 0 || line[i - 1] != ' ') return line;
  return Trim(line.substr(0, i - 1));
}

bool IsOneWord(std::string_view t) {
  if (t.empty() || t.back() == '-' || t.front() == '-') return false;
  for (char c : t) {
    if (c == ' ' || c == '[' || c == ']' || c == '(' || c == ')' || c == '|' || c == '/' ||
        c == '.' || c == '!' || c == '?' || c == ';' || c == ':' || c == '"') {
      return false;
    }
  }
  return true;
}

// dictd's index numbers: base 64 with this alphabet, most significant digit first.
std::optional<uint64_t> DecodeDictdNumber(std::string_view s) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  uint64_t n = 0;
  for (char c : s) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (IsDigit(c)) {
      v = c - '0' + 52;
    } else if (c == '+') {
      v = 62;
    } else if (c == '/') {
      v = 63;
    } else {
      return std::nullopt;
    }
    n = n * 64 + static_cast<uint64_t>(v);
  }
  return n;
}

absl::StatusOr<std::string> ReadGzip(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) return absl::DataLossError(absl::StrCat(path, ": cannot open"));
  std::string out;
  char buffer[1 << 16];
  for (;;) {
    const int n = gzread(file, buffer, sizeof buffer);
    if (n < 0) {
      int code = 0;
      std::string error = gzerror(file, &code);
      gzclose(file);
      return absl::DataLossError(absl::StrCat(path, ": cannot decompress: ", error));
    }
    if (n == 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  gzclose(file);
  return out;
}

// The entries of a dictd dictionary `<dir>/<name>.index` + `.dict.dz`.
absl::StatusOr<std::vector<DictionaryEntry>> ReadDictd(const std::string& dir,
                                                       const std::string& name,
                                                       const std::string& package) {
  const std::string index_path = absl::StrCat(dir, "/", name, ".index");
  const std::string dict_path = absl::StrCat(dir, "/", name, ".dict.dz");
  for (const std::string& path : {index_path, dict_path}) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
      return absl::NotFoundError(absl::StrCat(path,
                                              ": no such dictionary file (install the Debian ",
                                              "package ", package, ", as scripts/setup does)"));
    }
  }
  auto text = ReadGzip(dict_path);
  if (!text.ok()) return text.status();
  std::ifstream index(index_path);
  if (!index) return absl::DataLossError(absl::StrCat(index_path, ": cannot open"));
  std::vector<DictionaryEntry> entries;
  std::string line;
  for (size_t number = 1; std::getline(index, line); ++number) {
    const size_t tab1 = line.find('\t');
    const size_t tab2 = tab1 == std::string::npos ? tab1 : line.find('\t', tab1 + 1);
    if (tab2 == std::string::npos) {
      return absl::DataLossError(
          absl::StrCat(index_path, ":", number,
                       ": expected a headword, an offset and a length separated by tabs"));
    }
    const std::string_view view(line);
    const auto offset = DecodeDictdNumber(view.substr(tab1 + 1, tab2 - tab1 - 1));
    const auto length = DecodeDictdNumber(Trim(view.substr(tab2 + 1)));
    if (!offset.has_value() || !length.has_value() || *offset > text->size() ||
        *length > text->size() - *offset) {
      return absl::DataLossError(
          absl::StrCat(index_path, ":", number, ": offset or length outside ", dict_path));
    }
    std::string headword(view.substr(0, tab1));
    if (headword.starts_with("00-database") || headword.starts_with("00database")) continue;
    entries.push_back({std::move(headword),
                       ParseDictdTranslations(std::string_view(*text).substr(*offset, *length))});
  }
  return entries;
}

}  // namespace

std::vector<std::string> ParseDictdTranslations(std::string_view entry) {
  std::vector<std::string> out;
  bool first = true;  // the line after the headword's
  size_t pos = entry.find('\n');
  while (pos != std::string_view::npos && pos < entry.size()) {
    const size_t end = entry.find('\n', pos + 1);
    std::string_view line = entry.substr(
        pos + 1, end == std::string_view::npos ? std::string_view::npos : end - pos - 1);
    pos = end;
    std::optional<std::string_view> translations = AfterSenseNumber(line);
    if (!translations.has_value() && first && !line.empty() && line.front() != ' ') {
      translations = line;
    }
    first = false;
    if (!translations.has_value()) continue;  // a gloss
    std::string_view rest = WithoutTrailingNumber(*translations);
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      const std::string_view item = Trim(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      if (!IsOneWord(item)) continue;
      std::string word(item);
      if (std::find(out.begin(), out.end(), word) == out.end()) out.push_back(std::move(word));
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<BilingualDictionary>> BilingualDictionary::Load(
    const std::string& dir, const TextAnalyzer& analyzer) {
  auto swedish = ReadDictd(dir, "freedict-swe-fin", "dict-freedict-swe-fin");
  if (!swedish.ok()) return swedish.status();
  auto english = ReadDictd(dir, "freedict-eng-fin", "dict-freedict-eng-fin");
  if (!english.ok()) return english.status();
  return FromEntries(*swedish, *english, analyzer);
}

std::unique_ptr<BilingualDictionary> BilingualDictionary::FromEntries(
    const std::vector<DictionaryEntry>& swedish, const std::vector<DictionaryEntry>& english,
    const TextAnalyzer& analyzer) {
  std::unique_ptr<BilingualDictionary> dictionary(new BilingualDictionary());
  for (const auto& entry : swedish) dictionary->Add(Language::kSwedish, entry, analyzer);
  for (const auto& entry : english) dictionary->Add(Language::kEnglish, entry, analyzer);
  return dictionary;
}

void BilingualDictionary::Add(Language language, const DictionaryEntry& entry,
                              const TextAnalyzer& analyzer) {
  if (entry.translations.empty()) return;
  std::vector<AnalyzedTerm> terms;
  analyzer.Analyze(entry.headword, language, &terms);
  std::string key;
  size_t words = 0;
  for (const AnalyzedTerm& t : terms) {
    if (t.compound_part) continue;
    if (++words > kMaxPhraseTerms) return;
    if (!key.empty()) key += ' ';
    key += t.term;
  }
  if (key.empty()) return;
  std::vector<std::string>& out = entries_[static_cast<int>(language)][key];
  for (const std::string& translation : entry.translations) {
    if (std::find(out.begin(), out.end(), translation) == out.end()) out.push_back(translation);
  }
  if (out.empty()) entries_[static_cast<int>(language)].erase(key);
}

const std::vector<std::string>* BilingualDictionary::Find(Language language,
                                                                    std::string_view key) const {
  const auto& entries = entries_[static_cast<int>(language)];
  auto it = entries.find(Sv(key));
  return it == entries.end() ? nullptr : &it->second;
}

size_t BilingualDictionary::size(Language language) const {
  return entries_[static_cast<int>(language)].size();
}

}  // namespace aurora::recommender
