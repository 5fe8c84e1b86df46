#include "gateway/path_template.h"

#include <algorithm>
#include <cstddef>
#include <functional>
#include <unordered_map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace aurora::gateway {
namespace {

// Debian's Abseil has its own absl::string_view (see common/text.h); this library does not link
// aurora_common, so it converts locally.
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// `text` in double quotes for an error message, C-escaped and cut after 80 bytes.
std::string Quote(std::string_view text) {
  constexpr size_t kMax = 80;
  const bool cut = text.size() > kMax;
  return absl::StrCat("\"", absl::CHexEscape(Av(text.substr(0, kMax))), cut ? "...\"" : "\"");
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Appends the percent-decoding of `text` to `out`; false on a malformed escape.
bool AppendDecoded(std::string_view text, bool keep_slash, std::string& out) {
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    if (i + 2 >= text.size()) return false;
    const int hi = HexValue(text[i + 1]);
    const int lo = HexValue(text[i + 2]);
    if (hi < 0 || lo < 0) return false;
    const char decoded = static_cast<char>(hi * 16 + lo);
    if (keep_slash && decoded == '/') {
      out.append(text.substr(i, 3));
    } else {
      out.push_back(decoded);
    }
    i += 2;
  }
  return true;
}

bool IsIdentStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || (c >= '0' && c <= '9'); }

// RFC 3986 pchar without ':' (the verb separator) and '*' (reserved for the wildcards); '%' is
// checked separately as the start of an escape.
bool IsLiteralChar(char c) {
  constexpr std::string_view kUnreservedSubDelimsAt = "-._~!$&'()+,;=@";
  return IsIdentChar(c) || kUnreservedSubDelimsAt.find(c) != std::string_view::npos;
}

// Recursive-descent parser over the grammar in the header; every error names the position (0-based
// byte offset into the template) and the offending text.
class TemplateParser {
 public:
  explicit TemplateParser(std::string_view text) : text_(text) {}

  absl::Status Parse(std::vector<TemplateSegment>& segments,
                     std::vector<TemplateVariable>& variables, std::string& verb) {
    if (text_.empty()) return absl::InvalidArgumentError("path template is empty");
    if (text_[0] != '/') return Error(0, "must start with '/'", text_.substr(0, 1));
    pos_ = 1;
    if (absl::Status s = ParseSegments(/*in_variable=*/false); !s.ok()) return s;
    if (pos_ < text_.size() && text_[pos_] == ':') {
      const size_t verb_start = ++pos_;
      std::string_view literal;
      if (absl::Status s = ParseLiteral(literal); !s.ok()) return s;
      if (literal.empty()) return Error(verb_start - 1, "empty verb after ':'", ":");
      verb_ = std::string(literal);
    }
    if (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '}') return Error(pos_, "'}' without a matching '{'", "}");
      if (c == ':') return Error(pos_, "':' is only allowed once, before the verb", ":");
      return Error(pos_, "unexpected text after the verb", text_.substr(pos_));
    }
    for (size_t i = 0; i + 1 < segments_.size(); ++i) {
      if (segments_[i].kind == TemplateSegment::Kind::kDoubleWildcard) {
        return Error(segment_pos_[i], "'**' must be the last segment", "**");
      }
    }
    segments = std::move(segments_);
    variables = std::move(variables_);
    verb = std::move(verb_);
    return absl::OkStatus();
  }

 private:
  absl::Status Error(size_t pos, std::string_view what, std::string_view offending) const {
    return absl::InvalidArgumentError(absl::StrCat("invalid path template ", Quote(text_), ": ",
                                                   Av(what), " at position ", pos, ": ",
                                                   Quote(offending)));
  }

  // Segments = Segment { "/" Segment }; at the top level a final "/" is an empty literal
  // segment (the trailing slash of "/service-recommender/healthcheck/").
  absl::Status ParseSegments(bool in_variable) {
    while (true) {
      if (absl::Status s = ParseSegment(in_variable); !s.ok()) return s;
      if (pos_ < text_.size() && text_[pos_] == '/') {
        ++pos_;
        if (pos_ == text_.size() && !in_variable) {
          TemplateSegment trailing;
          trailing.kind = TemplateSegment::Kind::kLiteral;
          AddSegment(std::move(trailing), pos_);
          return absl::OkStatus();
        }
        continue;
      }
      return absl::OkStatus();
    }
  }

  absl::Status ParseSegment(bool in_variable) {
    const size_t start = pos_;
    if (pos_ >= text_.size() || text_[pos_] == '/' || text_[pos_] == ':' || text_[pos_] == '}') {
      // Name the empty segment with its neighbours, e.g. "//" or a trailing "/".
      const size_t from = start > 0 ? start - 1 : 0;
      return Error(start, "empty segment", text_.substr(from, start + 1 - from));
    }
    const char c = text_[pos_];
    if (c == '{') {
      if (in_variable) return Error(pos_, "nested variable", text_.substr(pos_));
      return ParseVariable();
    }
    if (c == '*') {
      TemplateSegment segment;
      if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '*') {
        segment.kind = TemplateSegment::Kind::kDoubleWildcard;
        pos_ += 2;
      } else {
        segment.kind = TemplateSegment::Kind::kWildcard;
        pos_ += 1;
      }
      if (pos_ < text_.size() && text_[pos_] != '/' && text_[pos_] != ':' && text_[pos_] != '}') {
        return Error(start, "'*' and '**' must be whole segments",
                     text_.substr(start, pos_ + 1 - start));
      }
      AddSegment(std::move(segment), start);
      return absl::OkStatus();
    }
    std::string_view literal;
    if (absl::Status s = ParseLiteral(literal); !s.ok()) return s;
    TemplateSegment segment;
    segment.literal = std::string(literal);
    AddSegment(std::move(segment), start);
    return absl::OkStatus();
  }

  // Variable = "{" FieldPath [ "=" Segments ] "}"
  absl::Status ParseVariable() {
    const size_t open = pos_++;
    const size_t path_start = pos_;
    while (pos_ < text_.size() && text_[pos_] != '=' && text_[pos_] != '}' && text_[pos_] != '{' &&
           text_[pos_] != '/') {
      ++pos_;
    }
    if (pos_ >= text_.size()) return Error(open, "unterminated '{'", text_.substr(open));
    const std::string_view field_path = text_.substr(path_start, pos_ - path_start);
    if (!IsFieldPath(field_path)) {
      return Error(path_start, "bad field path (want IDENT{.IDENT})", field_path);
    }
    for (const TemplateVariable& v : variables_) {
      if (v.field_path == field_path) {
        return Error(path_start, "duplicate variable", field_path);
      }
    }
    TemplateVariable variable;
    variable.field_path = std::string(field_path);
    variable.first_segment = static_cast<int>(segments_.size());
    if (text_[pos_] == '{') return Error(pos_, "nested variable", text_.substr(pos_));
    if (text_[pos_] == '/') {
      return Error(pos_, "'/' in a variable name (use {name=a/*})", text_.substr(open));
    }
    if (text_[pos_] == '=') {
      ++pos_;
      if (absl::Status s = ParseSegments(/*in_variable=*/true); !s.ok()) return s;
    } else {
      TemplateSegment wildcard;
      wildcard.kind = TemplateSegment::Kind::kWildcard;
      AddSegment(std::move(wildcard), open);
    }
    if (pos_ >= text_.size()) return Error(open, "unterminated '{'", text_.substr(open));
    if (text_[pos_] != '}') {
      return Error(pos_, "expected '}' to close the variable", text_.substr(pos_, 1));
    }
    ++pos_;
    variable.end_segment = static_cast<int>(segments_.size());
    variable.multi_segment = variable.end_segment - variable.first_segment > 1 ||
                             segments_.back().kind == TemplateSegment::Kind::kDoubleWildcard;
    variables_.push_back(std::move(variable));
    return absl::OkStatus();
  }

  // Reads literal characters up to '/', ':', '}' or the end (possibly none).
  absl::Status ParseLiteral(std::string_view& literal) {
    const size_t start = pos_;
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '/' || c == ':' || c == '}') break;
      if (c == '%') {
        if (pos_ + 2 >= text_.size()) {
          return Error(pos_, "malformed percent-escape", text_.substr(pos_));
        }
        if (HexValue(text_[pos_ + 1]) < 0 || HexValue(text_[pos_ + 2]) < 0) {
          return Error(pos_, "malformed percent-escape", text_.substr(pos_, 3));
        }
        pos_ += 3;
        continue;
      }
      if (!IsLiteralChar(c)) {
        return Error(pos_, "character not allowed in a literal", text_.substr(pos_, 1));
      }
      ++pos_;
    }
    literal = text_.substr(start, pos_ - start);
    return absl::OkStatus();
  }

  static bool IsFieldPath(std::string_view path) {
    size_t i = 0;
    while (true) {
      if (i >= path.size() || !IsIdentStart(path[i])) return false;
      while (i < path.size() && IsIdentChar(path[i])) ++i;
      if (i == path.size()) return true;
      if (path[i] != '.') return false;
      ++i;
    }
  }

  void AddSegment(TemplateSegment segment, size_t pos) {
    segments_.push_back(std::move(segment));
    segment_pos_.push_back(pos);
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::vector<TemplateSegment> segments_;
  std::vector<size_t> segment_pos_;  // where each segment starts in text_, for errors
  std::vector<TemplateVariable> variables_;
  std::string verb_;
};

void AppendSegment(const TemplateSegment& segment, std::string& out) {
  switch (segment.kind) {
    case TemplateSegment::Kind::kLiteral:
      out.append(segment.literal);
      break;
    case TemplateSegment::Kind::kWildcard:
      out.push_back('*');
      break;
    case TemplateSegment::Kind::kDoubleWildcard:
      out.append("**");
      break;
  }
}

// Prints `t`; with `openapi`, every variable as `{field.path}` whatever its segments.
std::string Print(const PathTemplate& t, bool openapi) {
  const std::vector<TemplateSegment>& segments = t.segments();
  const std::vector<TemplateVariable>& variables = t.variables();
  std::string out;
  size_t next_var = 0;
  int i = 0;
  const int n = static_cast<int>(segments.size());
  while (i < n) {
    out.push_back('/');
    if (next_var < variables.size() && variables[next_var].first_segment == i) {
      const TemplateVariable& v = variables[next_var++];
      out.push_back('{');
      out.append(v.field_path);
      const bool implicit_wildcard = v.end_segment - v.first_segment == 1 &&
                                     segments[i].kind == TemplateSegment::Kind::kWildcard;
      if (!openapi && !implicit_wildcard) {
        out.push_back('=');
        for (int j = v.first_segment; j < v.end_segment; ++j) {
          if (j > v.first_segment) out.push_back('/');
          AppendSegment(segments[j], out);
        }
      }
      out.push_back('}');
      i = v.end_segment;
      continue;
    }
    AppendSegment(segments[i], out);
    ++i;
  }
  if (!t.verb().empty()) {
    out.push_back(':');
    out.append(t.verb());
  }
  return out;
}

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace

absl::StatusOr<PathTemplate> PathTemplate::Parse(std::string_view text) {
  PathTemplate result;
  TemplateParser parser(text);
  if (absl::Status s = parser.Parse(result.segments_, result.variables_, result.verb_); !s.ok()) {
    return s;
  }
  return result;
}

std::string PathTemplate::ToString() const { return Print(*this, /*openapi=*/false); }

std::string PathTemplate::ToOpenApiPath() const { return Print(*this, /*openapi=*/true); }

std::optional<std::string> PercentDecode(std::string_view text, bool keep_slash) {
  std::string out;
  out.reserve(text.size());
  if (!AppendDecoded(text, keep_slash, out)) return std::nullopt;
  return out;
}

// One node per template segment. Routes end at a node; they are kept per verb, then per method,
// in small vectors (a node rarely carries more than a few) rather than hash maps.
struct PathMatcher::Node {
  struct Route {
    std::string method;
    int route_id = -1;
    PathTemplate path;  // for the bindings and for ALREADY_EXISTS messages
  };
  struct VerbRoutes {
    std::string verb;
    std::vector<Route> routes;
  };

  std::unordered_map<std::string, std::unique_ptr<Node>, StringHash, std::equal_to<>> literals;
  std::unique_ptr<Node> wildcard;         // `*`
  std::unique_ptr<Node> double_wildcard;  // `**`: always a leaf, since `**` is the last segment
  std::vector<VerbRoutes> verbs;

  const Route* Find(std::string_view verb, std::string_view method) const {
    for (const VerbRoutes& v : verbs) {
      if (v.verb != verb) continue;
      for (const Route& r : v.routes) {
        if (r.method == method) return &r;
      }
      return nullptr;
    }
    return nullptr;
  }
};

namespace {

using Segments = std::vector<std::string_view>;

// Fills `match` from `route` for the request `segments`; false when a captured segment holds a
// malformed escape. Template segment i is request segment i, except that a trailing `**` covers
// every request segment from its index on.
template <typename Route, typename MatchT>
bool Bind(const Route& route, const Segments& segments, MatchT& match) {
  const std::vector<TemplateSegment>& tsegs = route.path.segments();
  const bool ends_with_double =
      !tsegs.empty() && tsegs.back().kind == TemplateSegment::Kind::kDoubleWildcard;
  match.bindings.clear();
  match.bindings.reserve(route.path.variables().size());
  for (const TemplateVariable& v : route.path.variables()) {
    size_t end = static_cast<size_t>(v.end_segment);
    if (ends_with_double && end == tsegs.size()) end = segments.size();
    PathBinding& binding = match.bindings.emplace_back();
    binding.field_path = v.field_path;
    for (size_t i = static_cast<size_t>(v.first_segment); i < end; ++i) {
      if (i > static_cast<size_t>(v.first_segment)) binding.value.push_back('/');
      if (!AppendDecoded(segments[i], /*keep_slash=*/v.multi_segment, binding.value)) {
        match.bindings.clear();
        return false;
      }
    }
  }
  match.route_id = route.route_id;
  return true;
}

// Depth-first search in precedence order (literal, `*`, `**`); each node is visited at most once
// per lookup because the request segment index equals the node's depth.
template <typename NodeT, typename MatchT>
bool Search(const NodeT& node, const Segments& segments, size_t i, std::string_view verb,
            std::string_view method, MatchT& match) {
  if (i == segments.size()) {
    if (const auto* route = node.Find(verb, method); route && Bind(*route, segments, match)) {
      return true;
    }
  } else {
    // An empty segment matches only the empty literal, which a template has only as its
    // trailing slash (so only a request's trailing empty segment can reach a route through it).
    if (auto it = node.literals.find(segments[i]);
        it != node.literals.end() && Search(*it->second, segments, i + 1, verb, method, match)) {
      return true;
    }
    if (!segments[i].empty() && node.wildcard &&
        Search(*node.wildcard, segments, i + 1, verb, method, match)) {
      return true;
    }
  }
  if (node.double_wildcard) {
    if (const auto* route = node.double_wildcard->Find(verb, method);
        route && Bind(*route, segments, match)) {
      return true;
    }
  }
  return false;
}

}  // namespace

PathMatcher::PathMatcher() : root_(std::make_unique<Node>()) {}
PathMatcher::~PathMatcher() = default;
PathMatcher::PathMatcher(PathMatcher&&) noexcept = default;
PathMatcher& PathMatcher::operator=(PathMatcher&&) noexcept = default;

absl::Status PathMatcher::Insert(std::string_view http_method, const PathTemplate& path,
                                 int route_id) {
  if (http_method.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("empty HTTP method for path template ", Quote(path.ToString())));
  }
  if (path.segments().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("empty path template for route ", route_id, " (", Av(http_method), ")"));
  }
  if (!root_) root_ = std::make_unique<Node>();  // after a move
  Node* node = root_.get();
  for (const TemplateSegment& segment : path.segments()) {
    std::unique_ptr<Node>* child = nullptr;
    switch (segment.kind) {
      case TemplateSegment::Kind::kLiteral:
        child = &node->literals[segment.literal];
        break;
      case TemplateSegment::Kind::kWildcard:
        child = &node->wildcard;
        break;
      case TemplateSegment::Kind::kDoubleWildcard:
        child = &node->double_wildcard;
        break;
    }
    if (!*child) *child = std::make_unique<Node>();
    node = child->get();
  }
  if (const Node::Route* existing = node->Find(path.verb(), http_method)) {
    return absl::AlreadyExistsError(
        absl::StrCat(Av(http_method), " ", Quote(path.ToString()), " (route ", route_id,
                     ") is equivalent to the already registered ", Quote(existing->path.ToString()),
                     " (route ", existing->route_id, ")"));
  }
  auto verb_it = std::find_if(node->verbs.begin(), node->verbs.end(),
                              [&](const Node::VerbRoutes& v) { return v.verb == path.verb(); });
  if (verb_it == node->verbs.end()) {
    verb_it = node->verbs.insert(node->verbs.end(), Node::VerbRoutes{path.verb(), {}});
  }
  verb_it->routes.push_back(Node::Route{std::string(http_method), route_id, path});
  auto method_it = std::lower_bound(methods_.begin(), methods_.end(), http_method);
  if (method_it == methods_.end() || *method_it != http_method) {
    methods_.insert(method_it, std::string(http_method));
  }
  return absl::OkStatus();
}

std::optional<PathMatcher::Match> PathMatcher::Lookup(std::string_view http_method,
                                                      std::string_view path) const {
  if (!root_ || path.empty() || path[0] != '/') return std::nullopt;
  Segments segments;
  segments.reserve(8);
  size_t start = 1;
  while (true) {
    const size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      segments.push_back(path.substr(start));
      break;
    }
    segments.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  Match match;
  const std::string_view last = segments.back();
  const size_t colon = last.rfind(':');
  if (colon != std::string_view::npos && colon + 1 < last.size()) {
    segments.back() = last.substr(0, colon);
    if (Search(*root_, segments, 0, last.substr(colon + 1), http_method, match)) return match;
    segments.back() = last;
  }
  if (Search(*root_, segments, 0, std::string_view(), http_method, match)) return match;
  return std::nullopt;
}

std::vector<std::string> PathMatcher::AllowedMethods(std::string_view path) const {
  std::vector<std::string> allowed;
  for (const std::string& method : methods_) {
    if (Lookup(method, path).has_value()) allowed.push_back(method);
  }
  return allowed;
}

}  // namespace aurora::gateway
