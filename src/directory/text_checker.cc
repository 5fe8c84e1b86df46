#include "directory/text_checker.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/text.h"

namespace aurora::directory {
namespace {

using aurora::common::v1::LocalizedText;
using aurora::directory::v1::Service;
using aurora::directory::v1::ServiceChannel;
using aurora::directory::v1::TextFinding;
using Severity = TextFinding::Severity;

constexpr size_t kSummaryMaxChars = 150;
constexpr size_t kLongSentenceWords = 25;
constexpr size_t kVeryLongSentenceWords = 40;
constexpr size_t kDescriptionMinChars = 50;
constexpr size_t kNameAllCapsMinLetters = 6;
constexpr size_t kPhoneLabelMaxChars = 30;
constexpr size_t kQuoteBytes = 60;

// ---------------------------------------------------------------------------------------------
// Code points

// Decodes text that Utf8Length accepted.
std::u32string Decode(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    const size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
    char32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; k < len && i + k < text.size(); ++k) {
      cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

std::string Encode(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char32_t cp : text) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return out;
}

bool IsSpace(char32_t c) {
  return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200B) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000 || c == 0xFEFF;
}

bool IsDigit(char32_t c) { return c >= '0' && c <= '9'; }

// Upper and lower case are told apart for Latin-1 letters (which cover Finnish and Swedish: ä, ö,
// å) and the š and ž of Finnish loanwords.
bool IsUpper(char32_t c) {
  return (c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7) || c == 0x160 ||
         c == 0x17D;
}

bool IsLower(char32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 0xDF && c <= 0xFF && c != 0xF7) || c == 0x161 ||
         c == 0x17E;
}

// Letters of any script, roughly: Latin-1 letters, and everything from U+0100 on that is not
// general punctuation, a symbol block or a space.
bool IsLetter(char32_t c) {
  if (IsUpper(c) || IsLower(c)) return true;
  if (c < 0x100 || IsSpace(c)) return false;
  if (c >= 0x2000 && c <= 0x2BFF) return false;  // punctuation, symbols, arrows, shapes
  if (c >= 0x3000 && c <= 0x303F) return false;  // CJK punctuation
  return c != 0xFEFF;
}

bool IsWordChar(char32_t c) { return IsDigit(c) || IsLetter(c); }

char32_t Fold(char32_t c) {
  if ((c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7)) return c + 0x20;
  if (c == 0x160 || c == 0x17D) return c + 1;
  return c;
}

std::u32string_view Trim(std::u32string_view text) {
  while (!text.empty() && IsSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsSpace(text.back())) text.remove_suffix(1);
  return text;
}

// Case-folded, with every run of white space replaced by one space and none at either end: the
// form in which two texts are compared.
std::u32string Normalize(std::u32string_view text) {
  std::u32string out;
  bool pending_space = false;
  for (const char32_t c : Trim(text)) {
    if (IsSpace(c)) {
      pending_space = true;
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(Fold(c));
  }
  return out;
}

bool StartsWithFolded(std::u32string_view text, std::string_view ascii_prefix) {
  if (text.size() < ascii_prefix.size()) return false;
  for (size_t i = 0; i < ascii_prefix.size(); ++i) {
    if (Fold(text[i]) != static_cast<char32_t>(ascii_prefix[i])) return false;
  }
  return true;
}

std::string Quote(std::u32string_view text) { return QuoteForMessage(Encode(text), kQuoteBytes); }

// ---------------------------------------------------------------------------------------------
// Findings

// Where a finding's field lies in Service: proto field numbers and indexes along the field path,
// -1 where the path ends, so that ordering keys orders fields as they appear in Service.
using FieldKey = std::array<int, 4>;

class FindingList {
 public:
  void Add(const FieldKey& key, std::string field, Severity severity, std::string_view code,
           std::string message) {
    TextFinding finding;
    finding.set_field(std::move(field));
    finding.set_severity(severity);
    finding.set_code(std::string(code));
    finding.set_message(std::move(message));
    entries_.push_back({key, std::move(finding)});
  }

  std::vector<TextFinding> TakeSorted() && {
    std::stable_sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
      return std::tie(a.key, a.finding.code()) < std::tie(b.key, b.finding.code());
    });
    std::vector<TextFinding> out;
    out.reserve(entries_.size());
    for (Entry& entry : entries_) out.push_back(std::move(entry.finding));
    return out;
  }

 private:
  struct Entry {
    FieldKey key;
    TextFinding finding;
  };
  std::vector<Entry> entries_;
};

// ---------------------------------------------------------------------------------------------
// Localised texts

struct Language {
  const char* code;
  const char* english_name;
};
constexpr std::array<Language, 3> kLanguages = {
    {{"fi", "Finnish"}, {"sv", "Swedish"}, {"en", "English"}}};
constexpr int kEnglish = 2;

const std::string& TextIn(const LocalizedText& text, int language) {
  switch (language) {
    case 0:
      return text.fi();
    case 1:
      return text.sv();
    default:
      return text.en();
  }
}

// One language of one LocalizedText field, checked for UTF-8 validity and blankness once.
struct Text {
  std::string_view raw;
  bool usable = false;  // non-empty, valid UTF-8 and not only white space
  std::u32string chars;
  size_t length = 0;  // code points of the trimmed text
};

// A LocalizedText field of Service or of a channel, e.g. "summary" or "channels[1].name".
struct LocalizedField {
  std::string path;
  const char* label;  // "summary", "description", ... for messages
  FieldKey key;       // the key of the field; the language index goes in `language_slot`
  size_t language_slot;
  std::array<Text, 3> texts;

  FieldKey KeyFor(int language) const {
    FieldKey k = key;
    k[language_slot] = language;
    return k;
  }
  std::string PathFor(int language) const {
    return absl::StrCat(path, ".", kLanguages[language].code);
  }
};

// Reads every language of `text`, reporting invalid UTF-8 and white-space-only values.
LocalizedField ReadLocalized(const LocalizedText& text, std::string path, const char* label,
                             FieldKey key, size_t language_slot, FindingList& findings) {
  LocalizedField field{std::move(path), label, key, language_slot, {}};
  for (int lang = 0; lang < 3; ++lang) {
    Text& t = field.texts[lang];
    t.raw = TextIn(text, lang);
    if (t.raw.empty()) continue;
    if (!Utf8Length(t.raw)) {
      findings.Add(field.KeyFor(lang), field.PathFor(lang), TextFinding::SEVERITY_ERROR,
                   "invalid_utf8",
                   absl::StrCat("The ", label, " in ", kLanguages[lang].english_name,
                                " is not valid UTF-8: ", QuoteForMessage(t.raw, kQuoteBytes), "."));
      continue;
    }
    t.chars = Decode(t.raw);
    t.length = Trim(t.chars).size();
    if (t.length == 0) {
      findings.Add(field.KeyFor(lang), field.PathFor(lang), TextFinding::SEVERITY_WARNING,
                   "empty_text",
                   absl::StrCat("The ", label, " in ", kLanguages[lang].english_name,
                                " contains only white space (", QuoteForMessage(t.raw, kQuoteBytes),
                                "); give the text or leave it out."));
      continue;
    }
    t.usable = true;
  }
  return field;
}

// Sentences end at ".", "!", "?" or "…" followed by white space and then not by a lower-case
// letter (so "esim. kunta" stays one sentence), and at line breaks (lists, paragraphs).
struct Sentence {
  std::u32string_view text;
  size_t words = 0;
};

std::vector<Sentence> SplitSentences(std::u32string_view text) {
  std::vector<Sentence> sentences;
  size_t start = 0;
  const auto flush = [&](size_t end) {
    const std::u32string_view s = Trim(text.substr(start, end - start));
    start = end;
    if (s.empty()) return;
    size_t words = 0;
    bool in_token = false, token_has_word_char = false;
    for (size_t i = 0; i <= s.size(); ++i) {
      if (i == s.size() || IsSpace(s[i])) {
        if (in_token && token_has_word_char) ++words;
        in_token = token_has_word_char = false;
      } else {
        in_token = true;
        token_has_word_char = token_has_word_char || IsWordChar(s[i]);
      }
    }
    sentences.push_back({s, words});
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    if (c == '\n' || c == 0x2028 || c == 0x2029) {
      flush(i + 1);
    } else if (c == '.' || c == '!' || c == '?' || c == 0x2026) {
      if (i + 1 == text.size()) continue;
      if (!IsSpace(text[i + 1])) continue;
      size_t next = i + 1;
      while (next < text.size() && IsSpace(text[next]) && text[next] != '\n') ++next;
      if (next < text.size() && IsLower(text[next])) continue;
      flush(i + 1);
    }
  }
  flush(text.size());
  return sentences;
}

void CheckLongSentences(const LocalizedField& field, FindingList& findings) {
  for (int lang = 0; lang < 3; ++lang) {
    const Text& t = field.texts[lang];
    if (!t.usable) continue;
    const std::vector<Sentence> sentences = SplitSentences(t.chars);
    size_t long_count = 0;
    const Sentence* longest = nullptr;
    for (const Sentence& s : sentences) {
      if (s.words <= kLongSentenceWords) continue;
      ++long_count;
      if (longest == nullptr || s.words > longest->words) longest = &s;
    }
    if (longest == nullptr) continue;
    const size_t words = longest->words;
    const std::string quoted = Quote(longest->text);
    const Severity severity =
        words > kVeryLongSentenceWords ? TextFinding::SEVERITY_WARNING : TextFinding::SEVERITY_INFO;
    std::string message =
        long_count == 1
            ? absl::StrFormat(
                  "The %s in %s has a sentence of %d words (more than %d): %s; split it into "
                  "shorter sentences.",
                  field.label, kLanguages[lang].english_name, words, kLongSentenceWords, quoted)
            : absl::StrFormat(
                  "The %s in %s has %d sentences of more than %d words; the longest has %d "
                  "words: %s; split them into shorter sentences.",
                  field.label, kLanguages[lang].english_name, long_count, kLongSentenceWords, words,
                  quoted);
    findings.Add(field.KeyFor(lang), field.PathFor(lang), severity, "long_sentence",
                 std::move(message));
  }
}

// A web address written into a text: a token starting with http://, https:// or www. at the
// start of a word.
std::optional<std::u32string_view> FindUrlInText(std::u32string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (i > 0 && IsWordChar(text[i - 1])) continue;
    const std::u32string_view rest = text.substr(i);
    if (!StartsWithFolded(rest, "http://") && !StartsWithFolded(rest, "https://") &&
        !StartsWithFolded(rest, "www.")) {
      continue;
    }
    size_t end = 0;
    while (end < rest.size() && !IsSpace(rest[end])) ++end;
    std::u32string_view url = rest.substr(0, end);
    while (!url.empty() &&
           std::u32string_view(U".,;:!?)]}\"'").find(url.back()) != std::u32string_view::npos) {
      url.remove_suffix(1);
    }
    return url;
  }
  return std::nullopt;
}

void CheckUrlsInText(const LocalizedField& field, FindingList& findings) {
  for (int lang = 0; lang < 3; ++lang) {
    const Text& t = field.texts[lang];
    if (!t.usable) continue;
    const std::optional<std::u32string_view> url = FindUrlInText(t.chars);
    if (!url) continue;
    findings.Add(field.KeyFor(lang), field.PathFor(lang), TextFinding::SEVERITY_INFO, "url_in_text",
                 absl::StrCat("The ", field.label, " in ", kLanguages[lang].english_name,
                              " contains the web address ", Quote(*url),
                              "; give links as web page or e-service channels instead."));
  }
}

// ---------------------------------------------------------------------------------------------
// Service texts

bool IsNationwide(const Service& service) {
  return service.area_type() == v1::AREA_TYPE_NATIONWIDE ||
         service.area_type() == v1::AREA_TYPE_NATIONWIDE_EXCEPT_ALAND_ISLANDS;
}

void CheckMissingLanguages(const Service& service, const LocalizedField& field,
                           FindingList& findings) {
  for (int lang = 0; lang < 3; ++lang) {
    if (!field.texts[lang].raw.empty()) continue;
    const Language& language = kLanguages[lang];
    const bool provided = std::find(service.languages().begin(), service.languages().end(),
                                    language.code) != service.languages().end();
    const bool national = lang != kEnglish && IsNationwide(service);
    const std::string what = absl::StrFormat("The %s has no %s text (\"%s\")", field.label,
                                             language.english_name, language.code);
    if (provided) {
      findings.Add(
          field.KeyFor(lang), field.PathFor(lang), TextFinding::SEVERITY_WARNING,
          "missing_language",
          absl::StrFormat("%s, but the service is provided in %s.", what, language.english_name));
    } else if (national) {
      findings.Add(field.KeyFor(lang), field.PathFor(lang), TextFinding::SEVERITY_WARNING,
                   "missing_language",
                   absl::StrFormat("%s, but the service is nationwide and Finland is bilingual: "
                                   "give it in Finnish and Swedish.",
                                   what));
    } else if (lang == kEnglish && std::string_view(field.label) == "name") {
      findings.Add(field.KeyFor(lang), field.PathFor(lang), TextFinding::SEVERITY_INFO,
                   "missing_language",
                   absl::StrFormat("%s; an English name helps people who read neither Finnish "
                                   "nor Swedish to find the service.",
                                   what));
    }
  }
}

void CheckNameCapitals(const LocalizedField& name, FindingList& findings) {
  for (int lang = 0; lang < 3; ++lang) {
    const Text& t = name.texts[lang];
    if (!t.usable) continue;
    size_t upper = 0, lower = 0;
    for (const char32_t c : t.chars) {
      upper += IsUpper(c) ? 1 : 0;
      lower += IsLower(c) ? 1 : 0;
    }
    if (lower > 0 || upper < kNameAllCapsMinLetters) continue;
    findings.Add(name.KeyFor(lang), name.PathFor(lang), TextFinding::SEVERITY_INFO, "name_all_caps",
                 absl::StrCat("The name ", Quote(t.chars),
                              " is written in capital letters only; write it in sentence case."));
  }
}

void CheckSummary(const LocalizedField& name, const LocalizedField& summary,
                  FindingList& findings) {
  for (int lang = 0; lang < 3; ++lang) {
    const Text& t = summary.texts[lang];
    if (!t.usable) continue;
    const char* language = kLanguages[lang].english_name;
    if (t.chars.size() > kSummaryMaxChars) {
      findings.Add(summary.KeyFor(lang), summary.PathFor(lang), TextFinding::SEVERITY_WARNING,
                   "summary_too_long",
                   absl::StrFormat("The summary in %s is %d characters long, more than %d: %s.",
                                   language, t.chars.size(), kSummaryMaxChars, Quote(t.chars)));
    }
    const Text& n = name.texts[lang];
    if (!n.usable) continue;
    std::u32string folded_name = Normalize(n.chars);
    while (!folded_name.empty() && (folded_name.back() == '.' || folded_name.back() == ' ')) {
      folded_name.pop_back();
    }
    if (folded_name.size() < 3) continue;
    const std::u32string folded_summary = Normalize(t.chars);
    std::optional<size_t> at;
    for (size_t pos = folded_summary.find(folded_name); pos != std::u32string::npos;
         pos = folded_summary.find(folded_name, pos + 1)) {
      if (pos == 0 || !IsWordChar(folded_summary[pos - 1])) {
        at = pos;
        break;
      }
    }
    if (!at) continue;
    findings.Add(
        summary.KeyFor(lang), summary.PathFor(lang), TextFinding::SEVERITY_WARNING,
        "name_in_summary",
        absl::StrFormat("The summary in %s %s the service name %s; the name is shown with the "
                        "summary, so say what the service offers instead.",
                        language, *at == 0 ? "starts with" : "repeats", Quote(Trim(n.chars))));
  }
}

void CheckDescription(const LocalizedField& summary, const LocalizedField& description,
                      FindingList& findings) {
  for (int lang = 0; lang < 3; ++lang) {
    const Text& t = description.texts[lang];
    if (!t.usable) continue;
    const char* language = kLanguages[lang].english_name;
    const Text& s = summary.texts[lang];
    if (s.usable && Normalize(s.chars) == Normalize(t.chars)) {
      findings.Add(description.KeyFor(lang), description.PathFor(lang),
                   TextFinding::SEVERITY_WARNING, "summary_same_as_description",
                   absl::StrFormat("The description in %s is the same as the summary (%s); the "
                                   "description should tell more.",
                                   language, Quote(t.chars)));
    }
    if (t.length < kDescriptionMinChars) {
      findings.Add(description.KeyFor(lang), description.PathFor(lang), TextFinding::SEVERITY_INFO,
                   "description_too_short",
                   absl::StrFormat("The description in %s is only %d characters long (less than "
                                   "%d): %s; describe the service in more detail.",
                                   language, t.length, kDescriptionMinChars, Quote(Trim(t.chars))));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Contact details

bool IsAsciiAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool IsKnownGenericTld(std::string_view tld) {
  static constexpr std::array<std::string_view, 28> kGeneric = {
      "aero", "app",  "asia", "biz",  "cat",    "cloud", "com",    "coop", "dev", "edu",
      "gov",  "info", "int",  "jobs", "mil",    "mobi",  "museum", "name", "net", "online",
      "org",  "post", "pro",  "site", "travel", "tel",   "xyz",    "tech"};
  std::string lower(tld);
  for (char& c : lower) c = static_cast<char>(Fold(static_cast<unsigned char>(c)));
  return std::find(kGeneric.begin(), kGeneric.end(), lower) != kGeneric.end();
}

// Why `host` (valid UTF-8) is not a plausible public host name, or nullopt if it is one:
// at least two dot-separated labels of letters, digits and inner hyphens (IDN letters allowed),
// ending in a country code, a common generic top-level domain or an IDN one; or an IPv4 address.
std::optional<std::string> HostProblem(std::string_view host) {
  if (host.empty()) return "has no host name";
  std::vector<std::string_view> labels;
  for (size_t start = 0;;) {
    const size_t dot = host.find('.', start);
    labels.push_back(host.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  const std::string quoted = QuoteForMessage(host, kQuoteBytes);
  bool all_numeric = true;
  for (const std::string_view label : labels) {
    if (label.empty()) return absl::StrCat("has an empty label in the host name ", quoted);
    if (label.size() > 63) return absl::StrCat("has a label over 63 bytes in the host ", quoted);
    if (label.front() == '-' || label.back() == '-') {
      return absl::StrCat("has a label that starts or ends with a hyphen in the host ", quoted);
    }
    for (const char c : label) {
      if (!IsAsciiAlnum(c) && c != '-' && static_cast<unsigned char>(c) < 0x80) {
        return absl::StrCat("has the character \"", std::string(1, c), "\" in the host ", quoted);
      }
      all_numeric = all_numeric && c >= '0' && c <= '9';
    }
  }
  if (labels.size() < 2) return absl::StrCat("has no top-level domain in the host ", quoted);
  if (all_numeric) {
    if (labels.size() != 4) return absl::StrCat("has the malformed IP address ", quoted);
    for (const std::string_view label : labels) {
      if (label.size() > 3 || std::stoi(std::string(label)) > 255) {
        return absl::StrCat("has the malformed IP address ", quoted);
      }
    }
    return std::nullopt;
  }
  const std::string_view tld = labels.back();
  const bool non_ascii = std::any_of(tld.begin(), tld.end(),
                                     [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
  const bool letters = std::all_of(tld.begin(), tld.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  });
  if (non_ascii || StartsWithFolded(Decode(tld), "xn--")) return std::nullopt;
  if (letters && (tld.size() == 2 || IsKnownGenericTld(tld))) return std::nullopt;
  return absl::StrCat("ends in ", QuoteForMessage(tld, kQuoteBytes),
                      ", which is not a country code or a common top-level domain, in the host ",
                      quoted);
}

bool HasSpaceOrControl(std::u32string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char32_t c) { return IsSpace(c) || c < 0x20 || c == 0x7F; });
}

// Why `url` is not an absolute http(s) URL with a plausible host, or nullopt.
std::optional<std::string> UrlProblem(std::string_view url) {
  if (url.empty()) return "is empty";
  if (!Utf8Length(url)) return "is not valid UTF-8";
  const std::u32string chars = Decode(url);
  if (HasSpaceOrControl(chars)) {
    return Trim(chars).size() == chars.size() || HasSpaceOrControl(Trim(chars))
               ? "contains white space or control characters"
               : "has white space at the start or end";
  }
  if (url.find('\\') != std::string_view::npos) return "contains a backslash";
  const size_t colon = url.find(':');
  const size_t first_slash = url.find('/');
  if (colon == std::string_view::npos ||
      (first_slash != std::string_view::npos && first_slash < colon)) {
    return "is not an absolute URL: it does not start with https:// or http://";
  }
  std::string scheme(url.substr(0, colon));
  for (char& c : scheme) c = static_cast<char>(Fold(static_cast<unsigned char>(c)));
  if (scheme != "http" && scheme != "https") {
    if (StartsWithFolded(chars, "www.")) {
      return "is not an absolute URL: it does not start with https:// or http://";
    }
    return absl::StrCat("has the scheme \"", scheme, "\", not https or http");
  }
  if (url.substr(colon + 1, 2) != "//") return "has no \"//\" after the scheme";
  const std::string_view rest = url.substr(colon + 3);
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos) return "has user information before the host";
  std::string_view host = authority;
  const size_t port_colon = authority.rfind(':');
  if (port_colon != std::string_view::npos) {
    host = authority.substr(0, port_colon);
    const std::string_view port = authority.substr(port_colon + 1);
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        std::stoi(std::string(port)) > 65535) {
      return absl::StrCat("has the invalid port \"", std::string(port), "\"");
    }
  }
  return HostProblem(host);
}

// Why `email` is not a plausible e-mail address, or nullopt.
std::optional<std::string> EmailProblem(std::string_view email) {
  if (email.empty()) return "is empty";
  if (!Utf8Length(email)) return "is not valid UTF-8";
  const std::u32string chars = Decode(email);
  if (HasSpaceOrControl(chars)) return "contains white space or control characters";
  if (StartsWithFolded(chars, "mailto:")) return "starts with \"mailto:\"; give the address only";
  const size_t at = email.find('@');
  if (at == std::string_view::npos) return "has no \"@\"";
  if (email.find('@', at + 1) != std::string_view::npos) return "has more than one \"@\"";
  const std::string_view local = email.substr(0, at);
  if (local.empty()) return "has nothing before the \"@\"";
  if (local.size() > 64) return "has more than 64 characters before the \"@\"";
  constexpr std::string_view kLocalSpecials = "!#$%&'*+/=?^_`{|}~.-";
  for (const char c : local) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      return "has a non-ASCII letter before the \"@\"";
    }
    if (!IsAsciiAlnum(c) && kLocalSpecials.find(c) == std::string_view::npos) {
      return absl::StrCat("has the character \"", std::string(1, c), "\" before the \"@\"");
    }
  }
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    return "has a misplaced dot before the \"@\"";
  }
  return HostProblem(email.substr(at + 1));
}

bool IsPhoneSeparator(char32_t c) {
  return IsSpace(c) || c == '-' || c == '/' || c == '.' || (c >= 0x2010 && c <= 0x2013);
}

// Why `phone` is not a plausible phone number, or nullopt. Accepts Finnish national numbers
// ("09 310 1691", "(09) 3101 691", "0295 000"), +358 numbers ("+358 9 310 1691", also with
// "(0)"), other international numbers ("+46 8 123 456", "0046 ..."), Finnish short numbers
// ("112", "116 117"), separated by spaces, hyphens, slashes or dots, optionally after a short
// label ("Vaihde: 09 310 1691").
std::optional<std::string> PhoneProblem(std::string_view phone) {
  if (!Utf8Length(phone)) return "is not valid UTF-8";
  const std::u32string all = Decode(phone);
  const std::u32string_view text = Trim(all);
  if (text.empty()) return "is empty";
  size_t start = 0;
  while (start < text.size() && !IsDigit(text[start]) && text[start] != '+' && text[start] != '(') {
    ++start;
  }
  if (start == text.size()) return "has no digits";
  const std::u32string_view label = Trim(text.substr(0, start));
  if (!label.empty()) {
    const bool short_label = label.size() <= kPhoneLabelMaxChars &&
                             std::any_of(label.begin(), label.end(), IsLetter) &&
                             std::all_of(label.begin(), label.end(), [](char32_t c) {
                               return IsLetter(c) || IsSpace(c) || c == '.' || c == ':' || c == '-';
                             });
    if (!short_label) return absl::StrCat("starts with ", Quote(label), ", which is not a label");
  }
  const std::u32string_view number = text.substr(start);
  std::string digits;
  bool plus = false, in_parens = false, had_parens = false;
  size_t paren_start = 0;
  std::string paren_digits;
  size_t paren_digits_at = 0;  // position in `digits` where the parenthesised digits start
  for (size_t i = 0; i < number.size(); ++i) {
    const char32_t c = number[i];
    if (IsDigit(c)) {
      digits.push_back(static_cast<char>(c));
      if (in_parens) paren_digits.push_back(static_cast<char>(c));
    } else if (c == '+') {
      if (i != 0) return "has a \"+\" that is not at the start of the number";
      plus = true;
    } else if (c == '(') {
      if (had_parens || in_parens) return "has more than one pair of parentheses";
      in_parens = had_parens = true;
      paren_start = i;
      paren_digits_at = digits.size();
    } else if (c == ')') {
      if (!in_parens) return "has a \")\" without \"(\"";
      if (paren_digits.empty() || i != paren_start + 1 + paren_digits.size()) {
        return "has something other than digits in parentheses";
      }
      in_parens = false;
    } else if (c == ',' || c == ';') {
      if (std::any_of(number.begin() + i, number.end(), IsDigit)) {
        return "holds more than one number; give one number per entry";
      }
      return absl::StrCat("has the character ", Quote(number.substr(i, 1)));
    } else if (!IsPhoneSeparator(c)) {
      return absl::StrCat("has the character ", Quote(number.substr(i, 1)),
                          " where a digit was expected");
    }
  }
  if (in_parens) return "has a \"(\" without \")\"";
  if (digits.empty()) return "has no digits";
  const bool international = plus || (digits.rfind("00", 0) == 0 && digits.size() > 4);
  if (international) {
    std::string full = plus ? digits : digits.substr(2);
    // "+358 (0)9 ...": the optional trunk prefix in parentheses is not dialled.
    if (full.rfind("358", 0) == 0 && paren_digits == "0" && paren_digits_at == (plus ? 3u : 5u)) {
      full.erase(3, 1);
    }
    if (full.empty() || full[0] == '0') return "has no country code after the \"+\" or \"00\"";
    if (full.rfind("358", 0) == 0) {
      const std::string national = full.substr(3);
      if (!national.empty() && national[0] == '0') {
        return "has the trunk prefix 0 after the country code +358 (write +358 40 123 4567, "
               "not +358 040 123 4567)";
      }
      if (national.size() < 5 || national.size() > 12) {
        return absl::StrFormat(
            "has %d digits after the country code +358; Finnish numbers have 5 to 12",
            national.size());
      }
      return std::nullopt;
    }
    if (full.size() < 7 || full.size() > 15) {
      return absl::StrFormat("has %d digits; international numbers have 7 to 15", full.size());
    }
    return std::nullopt;
  }
  if (digits[0] == '0') {
    if (digits.size() < 5 || digits.size() > 12) {
      return absl::StrFormat("has %d digits; Finnish numbers with an area code have 5 to 12",
                             digits.size());
    }
    return std::nullopt;
  }
  if (digits[0] == '1') {
    if (digits.size() < 3 || digits.size() > 6) {
      return absl::StrFormat(
          "has %d digits and starts with 1, but is not a short number of 3 to 6 digits",
          digits.size());
    }
    return std::nullopt;
  }
  return "has neither an area code nor a country code (write 040 123 4567 or +358 40 123 4567)";
}

void CheckChannel(const ServiceChannel& channel, int index, FindingList& findings) {
  const std::string base = absl::StrCat("channels[", index, "]");
  ReadLocalized(channel.name(), absl::StrCat(base, ".name"), "channel name", {18, index, 3, 0}, 3,
                findings);
  ReadLocalized(channel.summary(), absl::StrCat(base, ".summary"), "channel summary",
                {18, index, 4, 0}, 3, findings);
  for (int j = 0; j < channel.urls_size(); ++j) {
    const std::string& url = channel.urls(j);
    const FieldKey key = {18, index, 5, j};
    const std::string field = absl::StrCat(base, ".urls[", j, "]");
    if (const std::optional<std::string> problem = UrlProblem(url)) {
      findings.Add(key, field, TextFinding::SEVERITY_ERROR, "malformed_url",
                   absl::StrCat("The URL ", QuoteForMessage(url), " ", *problem, "."));
    } else if (StartsWithFolded(Decode(url), "http://")) {
      findings.Add(key, field, TextFinding::SEVERITY_INFO, "insecure_url",
                   absl::StrCat("The URL ", QuoteForMessage(url),
                                " uses http; use https if the site supports it."));
    }
  }
  for (int j = 0; j < channel.phones_size(); ++j) {
    const std::string& phone = channel.phones(j);
    if (const std::optional<std::string> problem = PhoneProblem(phone)) {
      findings.Add({18, index, 6, j}, absl::StrCat(base, ".phones[", j, "]"),
                   TextFinding::SEVERITY_ERROR, "malformed_phone",
                   absl::StrCat("The phone number ", QuoteForMessage(phone), " ", *problem, "."));
    }
  }
  for (int j = 0; j < channel.emails_size(); ++j) {
    const std::string& email = channel.emails(j);
    if (const std::optional<std::string> problem = EmailProblem(email)) {
      findings.Add({18, index, 7, j}, absl::StrCat(base, ".emails[", j, "]"),
                   TextFinding::SEVERITY_ERROR, "malformed_email",
                   absl::StrCat("The e-mail address ", QuoteForMessage(email), " ", *problem, "."));
    }
  }
  for (int j = 0; j < channel.addresses_size(); ++j) {
    const std::string& code = channel.addresses(j).postal_code();
    const bool five_digits =
        code.size() == 5 && std::all_of(code.begin(), code.end(), [](char c) {
          return c >= '0' && c <= '9';
        });
    if (!code.empty() && !five_digits) {
      findings.Add({18, index, 8, j}, absl::StrCat(base, ".addresses[", j, "].postal_code"),
                   TextFinding::SEVERITY_ERROR, "malformed_postal_code",
                   absl::StrCat("The postal code ", QuoteForMessage(code),
                                " is not a Finnish postal code of 5 digits (put a PO box in the "
                                "street field)."));
    }
  }
}

}  // namespace

std::vector<TextFinding> CheckServiceText(const Service& service) {
  FindingList findings;
  const LocalizedField name =
      ReadLocalized(service.name(), "name", "name", {5, 0, -1, -1}, 1, findings);
  const LocalizedField alternative_name =
      ReadLocalized(service.alternative_name(), "alternative_name", "alternative name",
                    {6, 0, -1, -1}, 1, findings);
  const LocalizedField summary =
      ReadLocalized(service.summary(), "summary", "summary", {7, 0, -1, -1}, 1, findings);
  const LocalizedField description = ReadLocalized(service.description(), "description",
                                                   "description", {8, 0, -1, -1}, 1, findings);
  const LocalizedField user_instruction =
      ReadLocalized(service.user_instruction(), "user_instruction", "user instruction",
                    {9, 0, -1, -1}, 1, findings);
  const LocalizedField requirements = ReadLocalized(service.requirements(), "requirements",
                                                    "requirements", {10, 0, -1, -1}, 1, findings);

  for (const LocalizedField* field : {&name, &summary, &description}) {
    CheckMissingLanguages(service, *field, findings);
  }
  CheckNameCapitals(name, findings);
  CheckSummary(name, summary, findings);
  CheckDescription(summary, description, findings);
  for (const LocalizedField* field : {&summary, &description, &user_instruction}) {
    CheckLongSentences(*field, findings);
  }
  for (const LocalizedField* field :
       {&name, &alternative_name, &summary, &description, &user_instruction, &requirements}) {
    CheckUrlsInText(*field, findings);
  }

  for (int i = 0; i < service.keywords_size(); ++i) {
    const std::string& keyword = service.keywords(i);
    const std::optional<size_t> length = Utf8Length(keyword);
    if (!length) {
      findings.Add({11, i, -1, -1}, absl::StrCat("keywords[", i, "]"), TextFinding::SEVERITY_ERROR,
                   "invalid_utf8",
                   absl::StrCat("The keyword ", QuoteForMessage(keyword), " is not valid UTF-8."));
    } else if (Trim(Decode(keyword)).empty()) {
      findings.Add({11, i, -1, -1}, absl::StrCat("keywords[", i, "]"),
                   TextFinding::SEVERITY_WARNING, "empty_text",
                   absl::StrCat("The keyword ", QuoteForMessage(keyword),
                                " contains only white space; remove it."));
    }
  }

  if (service.channels_size() == 0 && service.kind() != v1::SERVICE_KIND_GENERAL_DESCRIPTION) {
    findings.Add({18, -1, -1, -1}, "channels", TextFinding::SEVERITY_WARNING, "no_channels",
                 "The service has no channels: add at least one way to use it (an e-service, a "
                 "web page, a phone number, a service location or a printable form).");
  }
  for (int i = 0; i < service.channels_size(); ++i) CheckChannel(service.channels(i), i, findings);

  if (service.languages_size() == 0) {
    findings.Add({19, -1, -1, -1}, "languages", TextFinding::SEVERITY_WARNING, "no_languages",
                 "The service lists no languages it is provided in (e.g. \"fi\", \"sv\", \"en\").");
  }
  return std::move(findings).TakeSorted();
}

}  // namespace aurora::directory
