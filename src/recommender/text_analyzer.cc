#include "recommender/text_analyzer.h"

#include <libstemmer.h>
#include <libvoikko/voikko.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/text.h"

namespace aurora::recommender {
namespace {

// Longest word (bytes, lowercase) that is analysed; longer ones give no terms.
constexpr size_t kMaxWordBytes = 100;
// Cached words per language; a full shard is cleared before the next insertion.
constexpr size_t kCacheWordsPerLanguage = 200'000;
constexpr size_t kCacheShards = 16;

// ---- UTF-8 ----------------------------------------------------------------------------------

constexpr uint32_t kInvalid = 0xFFFFFFFF;

struct Decoded {
  uint32_t cp;  // kInvalid for a byte that does not start a valid sequence
  size_t len;   // bytes consumed (1 for an invalid byte)
};

Decoded Decode(std::string_view s, size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return {b0, 1};
  size_t len;
  uint32_t cp;
  uint32_t min;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return {kInvalid, 1};
  }
  if (s.size() - i < len) return {kInvalid, 1};
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return {kInvalid, 1};
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return {kInvalid, 1};
  return {cp, len};
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// ---- Characters -----------------------------------------------------------------------------

enum class CharKind : uint8_t {
  kSeparator,
  kWord,        // letter or digit
  kHyphen,      // joins two words into a hyphenated one: - U+2010 U+2011
  kApostrophe,  // joins inside a word: ' U+2019 U+02BC
  kCombining,   // combining mark (or spacing diaeresis): part of the preceding letter
  kIgnorable,   // soft hyphen: dropped inside a word
};

// Letters and digits are ASCII alphanumerics, the letters of Latin-1 and Latin Extended-A/B, IPA,
// and whole blocks of other scripts (Greek, Cyrillic, ..., CJK) approximately; punctuation,
// symbol, space, private-use and emoji blocks separate words.
CharKind Classify(uint32_t cp) {
  if (cp < 0x80) {
    if ((cp >= '0' && cp <= '9') || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z')) {
      return CharKind::kWord;
    }
    if (cp == '-') return CharKind::kHyphen;
    if (cp == '\'') return CharKind::kApostrophe;
    return CharKind::kSeparator;
  }
  if (cp == kInvalid) return CharKind::kSeparator;
  if (cp < 0xC0) {
    if (cp == 0xAD) return CharKind::kIgnorable;
    if (cp == 0xA8) return CharKind::kCombining;
    return CharKind::kSeparator;
  }
  if (cp <= 0x2AF) return cp == 0xD7 || cp == 0xF7 ? CharKind::kSeparator : CharKind::kWord;
  if (cp == 0x2BC) return CharKind::kApostrophe;
  if (cp < 0x300) return CharKind::kSeparator;
  if (cp < 0x370) return CharKind::kCombining;
  if (cp < 0x2000) return CharKind::kWord;
  if (cp == 0x2010 || cp == 0x2011) return CharKind::kHyphen;
  if (cp == 0x2019) return CharKind::kApostrophe;
  if (cp < 0x2C00) return CharKind::kSeparator;
  if (cp < 0x2E00) return CharKind::kWord;
  if (cp < 0x2E80) return CharKind::kSeparator;
  if (cp >= 0x3000 && cp < 0x3040) return CharKind::kSeparator;
  if (cp < 0xD800) return CharKind::kWord;
  if (cp < 0xF900) return CharKind::kSeparator;  // surrogates (never decoded), private use
  if (cp < 0xFE00) return CharKind::kWord;
  if (cp < 0xFE70) return CharKind::kSeparator;
  if (cp < 0xFEFF) return CharKind::kWord;
  if (cp < 0x10000) {
    if ((cp >= 0xFF10 && cp <= 0xFF19) || (cp >= 0xFF21 && cp <= 0xFF3A) ||
        (cp >= 0xFF41 && cp <= 0xFF5A) || (cp >= 0xFF66 && cp <= 0xFFDC)) {
      return CharKind::kWord;
    }
    return CharKind::kSeparator;
  }
  if (cp < 0x1F000) return CharKind::kWord;
  if (cp < 0x20000) return CharKind::kSeparator;
  if (cp < 0x40000) return CharKind::kWord;
  return CharKind::kSeparator;
}

// Lowercase of ASCII, Latin-1, Latin Extended-A and Latin Extended Additional, basic Greek and
// Cyrillic; other code points unchanged.
uint32_t Lower(uint32_t cp) {
  if (cp < 0x80) return cp >= 'A' && cp <= 'Z' ? cp + 0x20 : cp;
  if (cp < 0xC0) return cp;
  if (cp <= 0xDE) return cp == 0xD7 ? cp : cp + 0x20;
  if (cp < 0x100) return cp;
  if (cp < 0x180) {
    if (cp == 0x130) return 'i';
    if (cp == 0x178) return 0xFF;
    if (cp == 0x17F) return 's';
    if (cp <= 0x137 || (cp >= 0x14A && cp <= 0x177)) return cp | 1;
    if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) {
      return cp % 2 == 1 ? cp + 1 : cp;
    }
    return cp;
  }
  if (cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2) return cp + 0x20;
  if (cp >= 0x400 && cp < 0x410) return cp + 0x50;
  if (cp >= 0x410 && cp < 0x430) return cp + 0x20;
  if ((cp >= 0x1E00 && cp <= 0x1E95) || (cp >= 0x1EA0 && cp <= 0x1EFF)) return cp | 1;
  return cp;
}

// What an accented letter of Latin-1 or Latin Extended-A folds to; nullptr keeps the letter
// (å ä ö æ ø ð þ ŋ).
const char* FoldOf(uint32_t cp) {
  static constexpr const char* kLatin1[] = {
      // U+00DF..U+00FF
      "ss", "a", "a", "a", "a", nullptr, nullptr, nullptr, "c", "e", "e", "e", "e", "i", "i",
      "i", "i", nullptr, "n", "o", "o", "o", "o", nullptr, nullptr, nullptr, "u", "u", "u", "u",
      "y", nullptr, "y"};
  struct Range {
    uint32_t first, last;
    const char* fold;
  };
  static constexpr Range kExtendedA[] = {
      {0x100, 0x105, "a"}, {0x106, 0x10D, "c"}, {0x10E, 0x111, "d"},  {0x112, 0x11B, "e"},
      {0x11C, 0x123, "g"}, {0x124, 0x127, "h"}, {0x128, 0x131, "i"},  {0x132, 0x133, "ij"},
      {0x134, 0x135, "j"}, {0x136, 0x138, "k"}, {0x139, 0x142, "l"},  {0x143, 0x149, "n"},
      {0x14C, 0x151, "o"}, {0x152, 0x153, "oe"}, {0x154, 0x159, "r"}, {0x15A, 0x161, "s"},
      {0x162, 0x167, "t"}, {0x168, 0x173, "u"}, {0x174, 0x175, "w"},  {0x176, 0x178, "y"},
      {0x179, 0x17E, "z"}, {0x17F, 0x17F, "s"}};
  if (cp >= 0xDF && cp <= 0xFF) return kLatin1[cp - 0xDF];
  if (cp >= 0x100 && cp < 0x180) {
    for (const Range& r : kExtendedA) {
      if (cp >= r.first && cp <= r.last) return r.fold;
    }
  }
  return nullptr;
}

// Appends `cp` (already lowercase) folded.
void AppendFolded(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
    return;
  }
  if (const char* fold = FoldOf(cp)) {
    out->append(fold);
  } else {
    AppendUtf8(cp, out);
  }
}

// `text` lowercased, accents kept; invalid UTF-8 bytes become U+FFFD.
std::string LowerText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const Decoded d = Decode(text, i);
    i += d.len;
    AppendUtf8(d.cp == kInvalid ? 0xFFFD : Lower(d.cp), &out);
  }
  return out;
}

bool AllDigits(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// ---- Words ----------------------------------------------------------------------------------

struct Token {
  uint32_t begin = 0, end = 0;  // byte offsets in the text
  std::string lower;            // lowercase, not folded; hyphens as '-', apostrophes as '\''
  std::string folded;           // lowercase and folded
  bool hyphenated = false;
};

// Splits text into words (see TextAnalyzer::Analyze), reusing one Token.
class Tokenizer {
 public:
  explicit Tokenizer(std::string_view text) : text_(text) {}

  bool Next(Token* token) {
    const size_t n = text_.size();
    while (pos_ < n) {
      const Decoded d = Decode(text_, pos_);
      if (Classify(d.cp) == CharKind::kWord) break;
      pos_ += d.len;
    }
    if (pos_ >= n) return false;
    token->begin = static_cast<uint32_t>(pos_);
    token->hyphenated = false;
    cps_.clear();
    while (pos_ < n) {
      const Decoded d = Decode(text_, pos_);
      const CharKind kind = Classify(d.cp);
      if (kind == CharKind::kWord) {
        cps_.push_back(Lower(d.cp));
        pos_ += d.len;
        continue;
      }
      if (kind == CharKind::kCombining) {  // NFD: compose å ä ö, drop other accents
        uint32_t& last = cps_.back();
        const bool diaeresis = d.cp == 0x308 || d.cp == 0xA8;
        if (diaeresis && last == 'a') last = 0xE4;
        if (diaeresis && last == 'o') last = 0xF6;
        if (d.cp == 0x30A && last == 'a') last = 0xE5;
        pos_ += d.len;
        continue;
      }
      if (kind == CharKind::kHyphen || kind == CharKind::kApostrophe ||
          kind == CharKind::kIgnorable) {
        const size_t next = pos_ + d.len;
        if (next < n && Classify(Decode(text_, next).cp) == CharKind::kWord) {
          if (kind == CharKind::kHyphen) {
            cps_.push_back('-');
            token->hyphenated = true;
          } else if (kind == CharKind::kApostrophe) {
            cps_.push_back('\'');
          }
          pos_ = next;
          continue;
        }
      }
      break;
    }
    token->end = static_cast<uint32_t>(pos_);
    token->lower.clear();
    token->folded.clear();
    for (uint32_t cp : cps_) {
      AppendUtf8(cp, &token->lower);
      AppendFolded(cp, &token->folded);
    }
    return true;
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  std::vector<uint32_t> cps_;
};

// ---- Terms of one word ----------------------------------------------------------------------

struct CachedTerm {
  std::string term;
  bool part = false;
};
using TermList = std::vector<CachedTerm>;

// Adds `term` unless present; a whole-word term wins over the same compound part.
void AddTerm(std::string term, bool part, TermList* terms) {
  if (term.empty()) return;
  for (CachedTerm& t : *terms) {
    if (t.term == term) {
      t.part = t.part && part;
      return;
    }
  }
  terms->push_back({std::move(term), part});
}

std::vector<std::string_view> HyphenParts(std::string_view word) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= word.size()) {
    size_t end = word.find('-', start);
    if (end == std::string_view::npos) end = word.size();
    if (end > start) parts.push_back(word.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

std::string WithoutEquals(std::string_view s) {
  std::string out(s);
  std::erase(out, '=');
  return out;
}

// ---- Voikko ---------------------------------------------------------------------------------

// One segment of a WORDBASES attribute, e.g. "+työttömy(työtön)", "+ys(+ys)", "+-", "+sosiaali".
struct Segment {
  std::string_view surface;
  std::string_view base;  // empty if the segment has no parentheses
  bool has_base = false;
  bool IsRoot() const { return has_base && !base.empty() && base[0] != '+'; }
  bool IsSuffix() const { return has_base && !base.empty() && base[0] == '+'; }
  bool IsHyphen() const { return !has_base && surface == "-"; }
};

std::vector<Segment> ParseWordBases(std::string_view s) {
  std::vector<Segment> segments;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '+') ++i;
    const size_t start = i;
    while (i < s.size() && s[i] != '(' && s[i] != '+') ++i;
    Segment seg;
    seg.surface = s.substr(start, i - start);
    if (i < s.size() && s[i] == '(') {
      const size_t close = s.find(')', i);
      const size_t stop = close == std::string_view::npos ? s.size() : close;
      seg.base = s.substr(i + 1, stop - i - 1);
      seg.has_base = true;
      i = stop == s.size() ? stop : stop + 1;
    }
    if (!seg.surface.empty() || seg.has_base) segments.push_back(seg);
  }
  return segments;
}

// A compound component: a root with its derivational suffixes ("työ" "ttömy" "ys"), or a bound
// element without a base form ("sosiaali" in "+sosiaali+turva(turva)").
struct Component {
  std::string form;  // the surfaces joined (as the component is written in the base form)
  std::string_view root_base;
  int roots = 0;
  int segments = 0;
  bool bound_prefix = false;  // no base form, followed by a root ("epä" in "epäonnistua")
};

// Groups WORDBASES segments into compound components. A root starts a component; a suffix ("(+ys)")
// continues one; a segment without base form stands alone when it starts the word or precedes a
// root or a hyphen ("+epä+onnistua(onnistua)"), and is an infix otherwise ("+ikäänty(ikääntyä)+n+
// yt(+yt)").
std::vector<Component> Components(const std::vector<Segment>& segments) {
  std::vector<Component> components;
  Component current;
  auto close = [&] {
    if (current.segments > 0) components.push_back(std::move(current));
    current = Component();
  };
  auto add = [&](const Segment& seg) {
    current.form.append(seg.surface);
    ++current.segments;
    if (seg.IsRoot()) {
      ++current.roots;
      current.root_base = seg.base;
    }
  };
  for (size_t k = 0; k < segments.size(); ++k) {
    const Segment& seg = segments[k];
    if (seg.IsHyphen()) {
      close();
    } else if (seg.IsRoot()) {
      close();
      add(seg);
    } else if (seg.IsSuffix()) {
      add(seg);
    } else {
      const bool before_root_or_hyphen =
          k + 1 < segments.size() && (segments[k + 1].IsRoot() || segments[k + 1].IsHyphen());
      if (current.segments == 0 || before_root_or_hyphen) {
        close();
        add(seg);
        current.bound_prefix = k + 1 < segments.size() && segments[k + 1].IsRoot();
        close();
      } else {
        add(seg);
      }
    }
  }
  close();
  return components;
}

std::string VoikkoValue(voikko_mor_analysis* analysis, const char* key) {
  char* value = voikko_mor_analysis_value_cstr(analysis, key);
  if (value == nullptr) return {};
  std::string out(value);
  voikko_free_mor_analysis_value_cstr(value);
  return out;
}

struct VoikkoAnalysis {
  std::string baseform;
  std::string wordbases;
};

std::vector<VoikkoAnalysis> VoikkoAnalyze(VoikkoHandle* handle, const std::string& word) {
  std::vector<VoikkoAnalysis> out;
  voikko_mor_analysis** analyses = voikkoAnalyzeWordCstr(handle, word.c_str());
  if (analyses == nullptr) return out;
  for (size_t i = 0; analyses[i] != nullptr; ++i) {
    out.push_back({VoikkoValue(analyses[i], "BASEFORM"), VoikkoValue(analyses[i], "WORDBASES")});
  }
  voikko_free_mor_analysis(analyses);
  return out;
}

size_t CodePoints(std::string_view s) {
  return static_cast<size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

// The terms of a compound component that is not the last one. A lone root gives its base form
// ("lasten(lapsi)" → lapsi, "asumis(asua)" → asua, as Voikko lemmatises "asuminen" to "asua"); a
// derived one ("työ+ttömy+ys") is written as its form and analysed again; an element without base
// form is kept as written ("sosiaali", "18" in "18-vuotias"), unless it is a prefix shorter than 4
// letters ("epä", "ylä").
std::vector<std::string> InnerComponentTerms(VoikkoHandle* handle, const Component& c) {
  if (c.roots == 1 && c.segments == 1) return {FoldText(WithoutEquals(c.root_base))};
  const std::string lower = LowerText(WithoutEquals(c.form));
  const std::string form = FoldText(lower);
  if (c.roots == 0) {
    if (c.bound_prefix && CodePoints(form) < 4) return {};
    return {form};
  }
  std::vector<std::string> terms;
  for (const VoikkoAnalysis& a : VoikkoAnalyze(handle, lower)) {
    std::string base = FoldText(a.baseform);
    if (base == form) return {form};
    if (!base.empty() && std::find(terms.begin(), terms.end(), base) == terms.end()) {
      terms.push_back(std::move(base));
    }
  }
  if (terms.empty()) terms.push_back(form);
  return terms;
}

// Adds the base forms Voikko gives for `word` (lowercase) as whole-word terms, then the parts of
// compounds; false if Voikko does not know the word. Of the analyses with the same base form, parts
// come from those with the fewest morphemes: Voikko also offers far-fetched splits ("ase+makaava"
// besides "asema+kaava").
bool AddFinnishTerms(VoikkoHandle* handle, const std::string& word, TermList* terms) {
  const std::vector<VoikkoAnalysis> analyses = VoikkoAnalyze(handle, word);
  if (analyses.empty()) return false;
  std::vector<std::vector<Segment>> segments;
  for (const VoikkoAnalysis& a : analyses) {
    AddTerm(FoldText(a.baseform), false, terms);
    segments.push_back(ParseWordBases(a.wordbases));
  }
  for (size_t k = 0; k < analyses.size(); ++k) {
    bool simplest = true;
    for (size_t j = 0; j < analyses.size(); ++j) {
      if (analyses[j].baseform == analyses[k].baseform && !segments[j].empty() &&
          segments[j].size() < segments[k].size()) {
        simplest = false;
      }
    }
    if (!simplest) continue;
    const std::vector<Component> components = Components(segments[k]);
    if (components.size() < 2) continue;
    for (size_t i = 0; i < components.size(); ++i) {
      if (i + 1 == components.size()) {
        AddTerm(FoldText(WithoutEquals(components[i].form)), true, terms);
      } else {
        for (std::string& t : InnerComponentTerms(handle, components[i])) {
          AddTerm(std::move(t), true, terms);
        }
      }
    }
  }
  return true;
}

// The term of a word Voikko does not know: the word as written, without an apostrophe ending
// (Finnish inflects foreign names as "Bush'n").
std::string FinnishFallback(std::string_view folded) {
  const size_t apostrophe = folded.find('\'');
  if (apostrophe != std::string_view::npos && apostrophe > 0) {
    return std::string(folded.substr(0, apostrophe));
  }
  return std::string(folded);
}

// ---- Handle pool ----------------------------------------------------------------------------

// Up to `max` handles of a library that is not thread-safe, created on demand, each used by one
// thread at a time.
template <typename Handle>
class HandlePool {
 public:
  HandlePool(std::function<Handle*()> create, void (*destroy)(Handle*), size_t max, Handle* first)
      : create_(std::move(create)), destroy_(destroy), max_(max) {
    all_.push_back(first);
    free_.push_back(first);
  }
  ~HandlePool() {
    for (Handle* h : all_) destroy_(h);
  }
  HandlePool(const HandlePool&) = delete;
  HandlePool& operator=(const HandlePool&) = delete;

  class Lease {
   public:
    Lease(HandlePool* pool, Handle* handle) : pool_(pool), handle_(handle) {}
    Lease(Lease&& other) noexcept
        : pool_(std::exchange(other.pool_, nullptr)), handle_(other.handle_) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (pool_ != nullptr) pool_->Release(handle_);
    }
    Handle* get() const { return handle_; }

   private:
    HandlePool* pool_;
    Handle* handle_;
  };

  Lease Acquire() {
    {
      std::unique_lock lock(mu_);
      if (!free_.empty() || all_.size() + creating_ >= max_) return TakeFree(lock);
      ++creating_;
    }
    Handle* created = create_();  // outside the lock: loading a dictionary takes a while
    std::unique_lock lock(mu_);
    --creating_;
    if (created == nullptr) {  // cannot happen once the first one loaded; use the others
      max_ = all_.size() + creating_;
      return TakeFree(lock);
    }
    all_.push_back(created);
    return Lease(this, created);
  }

 private:
  // Waits (holding `lock` on mu_) until a handle is free, and takes it.
  Lease TakeFree(std::unique_lock<std::mutex>& lock) {
    free_cv_.wait(lock, [this] { return !free_.empty(); });
    Handle* h = free_.back();
    free_.pop_back();
    return Lease(this, h);
  }
  void Release(Handle* h) {
    {
      std::lock_guard lock(mu_);
      free_.push_back(h);
    }
    free_cv_.notify_one();
  }

  const std::function<Handle*()> create_;
  void (*const destroy_)(Handle*);
  // std:: primitives rather than absl::Mutex, so that ThreadSanitizer sees the synchronisation
  // (Debian's Abseil is not built with its annotations; scripts/test's tsan pass).
  std::mutex mu_;
  std::condition_variable free_cv_;
  size_t max_;  // guarded by mu_, like what follows
  size_t creating_ = 0;
  std::vector<Handle*> all_;
  std::vector<Handle*> free_;
};

// ---- Cache ----------------------------------------------------------------------------------

// Word → terms, sharded by hash; each shard bounded, cleared when full.
class TermCache {
 public:
  std::shared_ptr<const TermList> Find(std::string_view word) const {
    const Shard& shard = ShardOf(word);
    std::shared_lock lock(shard.mu);
    auto it = shard.map.find(Sv(word));
    return it == shard.map.end() ? nullptr : it->second;
  }

  void Insert(std::string_view word, std::shared_ptr<const TermList> terms) {
    Shard& shard = ShardOf(word);
    std::lock_guard lock(shard.mu);
    if (shard.map.size() >= kCacheWordsPerLanguage / kCacheShards) shard.map.clear();
    shard.map.try_emplace(std::string(word), std::move(terms));
  }

  size_t Size() const {
    size_t n = 0;
    for (const Shard& shard : shards_) {
      std::shared_lock lock(shard.mu);
      n += shard.map.size();
    }
    return n;
  }

 private:
  struct Shard {
    mutable std::shared_mutex mu;  // guards map
    absl::flat_hash_map<std::string, std::shared_ptr<const TermList>> map;
  };
  const Shard& ShardOf(std::string_view word) const {
    return shards_[absl::Hash<absl::string_view>()(Sv(word)) % kCacheShards];
  }
  Shard& ShardOf(std::string_view word) {
    return shards_[absl::Hash<absl::string_view>()(Sv(word)) % kCacheShards];
  }
  std::array<Shard, kCacheShards> shards_;
};

std::string Stem(sb_stemmer* stemmer, std::string_view word) {
  const sb_symbol* stem = sb_stemmer_stem(
      stemmer, reinterpret_cast<const sb_symbol*>(word.data()), static_cast<int>(word.size()));
  const int length = stem == nullptr ? 0 : sb_stemmer_length(stemmer);
  if (length <= 0) return std::string(word);
  return std::string(reinterpret_cast<const char*>(stem), static_cast<size_t>(length));
}

size_t PoolSize() { return std::max<size_t>(2, std::thread::hardware_concurrency()); }

}  // namespace

std::string_view LanguageCode(Language language) {
  switch (language) {
    case Language::kFinnish:
      return "fi";
    case Language::kSwedish:
      return "sv";
    case Language::kEnglish:
      return "en";
  }
  return "";
}

std::optional<Language> ParseLanguage(std::string_view code) {
  if (code == "fi") return Language::kFinnish;
  if (code == "sv") return Language::kSwedish;
  if (code == "en") return Language::kEnglish;
  return std::nullopt;
}

std::string FoldText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const Decoded d = Decode(text, i);
    i += d.len;
    AppendFolded(d.cp == kInvalid ? 0xFFFD : Lower(d.cp), &out);
  }
  return out;
}

struct TextAnalyzer::Impl {
  Impl(VoikkoHandle* voikko, sb_stemmer* swedish, sb_stemmer* english)
      : voikko_pool([] { const char* error = nullptr; return voikkoInit(&error, "fi", nullptr); },
                    &voikkoTerminate, PoolSize(), voikko),
        swedish_pool([] { return sb_stemmer_new("swedish", "UTF_8"); }, &sb_stemmer_delete,
                     PoolSize(), swedish),
        english_pool([] { return sb_stemmer_new("english", "UTF_8"); }, &sb_stemmer_delete,
                     PoolSize(), english) {}

  // The terms of a word that is not a stop word (uncached). The parts of a hyphenated word are
  // analysed one by one only if Voikko does not know the whole: its analysis of the whole splits
  // it better ("virka-aikaista" → virka, aikainen; alone "aikaista" is also a verb).
  static TermList FinnishTerms(VoikkoHandle* handle, const Token& token) {
    TermList terms;
    const bool known = AddFinnishTerms(handle, token.lower, &terms);
    if (!known) AddTerm(FinnishFallback(token.folded), false, &terms);
    if (token.hyphenated && !known) {
      const std::vector<std::string_view> lower_parts = HyphenParts(token.lower);
      for (std::string_view part : lower_parts) {
        const std::string folded = FoldText(part);
        if (IsStopWord(folded, Language::kFinnish)) continue;
        TermList part_terms;
        if (AllDigits(part) || !AddFinnishTerms(handle, std::string(part), &part_terms)) {
          AddTerm(FinnishFallback(folded), true, &part_terms);
        }
        for (CachedTerm& t : part_terms) AddTerm(std::move(t.term), true, &terms);
      }
    }
    return terms;
  }

  static TermList SnowballTerms(sb_stemmer* stemmer, const Token& token, Language language) {
    TermList terms;
    AddTerm(Stem(stemmer, token.folded), false, &terms);
    if (token.hyphenated) {
      for (std::string_view part : HyphenParts(token.folded)) {
        if (IsStopWord(part, language)) continue;
        AddTerm(AllDigits(part) ? std::string(part) : Stem(stemmer, part), true, &terms);
      }
    }
    return terms;
  }

  HandlePool<VoikkoHandle> voikko_pool;
  HandlePool<sb_stemmer> swedish_pool;
  HandlePool<sb_stemmer> english_pool;
  std::array<TermCache, kLanguageCount> caches;
};

TextAnalyzer::TextAnalyzer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TextAnalyzer::~TextAnalyzer() = default;

absl::StatusOr<std::unique_ptr<TextAnalyzer>> TextAnalyzer::Create() {
  const char* error = nullptr;
  VoikkoHandle* voikko = voikkoInit(&error, "fi", nullptr);
  if (voikko == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot load Voikko's Finnish dictionary (", error != nullptr ? error : "unknown error",
        "): install the Debian package voikko-fi"));
  }
  sb_stemmer* swedish = sb_stemmer_new("swedish", "UTF_8");
  sb_stemmer* english = sb_stemmer_new("english", "UTF_8");
  if (swedish == nullptr || english == nullptr) {
    voikkoTerminate(voikko);
    if (swedish != nullptr) sb_stemmer_delete(swedish);
    if (english != nullptr) sb_stemmer_delete(english);
    return absl::FailedPreconditionError(
        "cannot create the Snowball stemmers for Swedish and English: install the Debian package "
        "libstemmer0d");
  }
  return std::unique_ptr<TextAnalyzer>(
      new TextAnalyzer(std::make_unique<Impl>(voikko, swedish, english)));
}

void TextAnalyzer::Analyze(std::string_view text, Language language,
                           std::vector<AnalyzedTerm>* terms,
                           std::vector<AnalyzedWord>* words) const {
  text = text.substr(0, std::min<size_t>(text.size(), std::numeric_limits<uint32_t>::max()));
  TermCache& cache = impl_->caches[static_cast<size_t>(language)];
  // A handle of the language's library, taken at the first word missing from the cache and kept
  // until the end of the text.
  std::optional<HandlePool<VoikkoHandle>::Lease> voikko;
  std::optional<HandlePool<sb_stemmer>::Lease> stemmer;

  Tokenizer tokenizer(text);
  Token token;
  uint32_t word = 0;
  for (; tokenizer.Next(&token); ++word) {
    if (words != nullptr) {
      words->push_back(
          {std::string(text.substr(token.begin, token.end - token.begin)), token.begin, token.end});
    }
    if (token.lower.size() > kMaxWordBytes || IsStopWord(token.folded, language)) continue;
    if (AllDigits(token.folded)) {
      terms->push_back({token.folded, word, false});
      continue;
    }
    const std::string& key = language == Language::kFinnish ? token.lower : token.folded;
    std::shared_ptr<const TermList> cached = cache.Find(key);
    if (cached == nullptr) {
      TermList computed;
      if (language == Language::kFinnish) {
        if (!voikko) voikko.emplace(impl_->voikko_pool.Acquire());
        computed = Impl::FinnishTerms(voikko->get(), token);
      } else {
        if (!stemmer) {
          stemmer.emplace(language == Language::kSwedish ? impl_->swedish_pool.Acquire()
                                                         : impl_->english_pool.Acquire());
        }
        computed = Impl::SnowballTerms(stemmer->get(), token, language);
      }
      cached = std::make_shared<const TermList>(std::move(computed));
      cache.Insert(key, cached);
    }
    for (const CachedTerm& t : *cached) terms->push_back({t.term, word, t.part});
  }
}

std::vector<AnalyzedTerm> TextAnalyzer::WordTerms(std::string_view word,
                                                  Language language) const {
  Tokenizer tokenizer(word);
  Token token;
  std::vector<AnalyzedTerm> terms;
  if (!tokenizer.Next(&token)) return terms;
  Analyze(word.substr(token.begin, token.end - token.begin), language, &terms);
  return terms;
}

size_t TextAnalyzer::CachedWords(Language language) const {
  return impl_->caches[static_cast<size_t>(language)].Size();
}

}  // namespace aurora::recommender
