// libFuzzer target for gateway/path_template: PathTemplate::Parse, PathMatcher and PercentDecode.
//
// Input: lines separated by '\n'. With three or more lines, all but the last two are templates
// (at most kMaxTemplates), then the HTTP method, then the request path. With two lines: template
// and path (method GET); with one: the template, also used as the path.
//
// Every fuzzed template that parses is registered next to a few fixed ones, and each Lookup is
// compared with a slow reference matcher written straight from the rules in path_template.h
// (per-template matching, verb first, precedence literal < `*` < `**` segment by segment). Any
// broken invariant prints what broke and calls __builtin_trap().

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/path_template.h"
#include "fuzz_check.h"

namespace aurora::gateway {
namespace {

constexpr size_t kMaxTemplates = 4;

constexpr const char* kFixedTemplates[] = {
    "/v1/services",
    "/v1/services/{service_id}",
    "/v1/services/{service.id}:checkText",
    "/v1/services:search",
    "/v1/{name=shelves/*/books/*}",
    "/files/{path=**}",
    "/v1/*/x/**",
    "/{a}/{b}/{c}",
};
constexpr const char* kFixedMethods[] = {"GET", "POST"};

using Kind = TemplateSegment::Kind;

struct Registered {
  std::string method;
  PathTemplate path;
  int route_id;
};

bool IsIdent(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool IsFieldPath(std::string_view s) {
  while (true) {
    const size_t dot = s.find('.');
    if (!IsIdent(s.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    s.remove_prefix(dot + 1);
  }
}

bool SameShape(const PathTemplate& a, const PathTemplate& b) {
  if (a.verb() != b.verb() || a.segments().size() != b.segments().size()) return false;
  for (size_t i = 0; i < a.segments().size(); ++i) {
    if (a.segments()[i].kind != b.segments()[i].kind) return false;
    if (a.segments()[i].literal != b.segments()[i].literal) return false;
  }
  return true;
}

bool SameVariables(const PathTemplate& a, const PathTemplate& b) {
  if (a.variables().size() != b.variables().size()) return false;
  for (size_t i = 0; i < a.variables().size(); ++i) {
    const TemplateVariable& x = a.variables()[i];
    const TemplateVariable& y = b.variables()[i];
    if (x.field_path != y.field_path || x.first_segment != y.first_segment ||
        x.end_segment != y.end_segment || x.multi_segment != y.multi_segment) {
      return false;
    }
  }
  return true;
}

// Structural invariants of a successfully parsed template, and the ToString round trip.
void CheckParsed(std::string_view text, const PathTemplate& t) {
  FUZZ_CHECK(!text.empty() && text[0] == '/');
  const auto& segments = t.segments();
  FUZZ_CHECK(!segments.empty());
  for (size_t i = 0; i < segments.size(); ++i) {
    const TemplateSegment& s = segments[i];
    if (s.kind == Kind::kDoubleWildcard) FUZZ_CHECK(i + 1 == segments.size());
    if (s.kind == Kind::kLiteral) {
      // Empty only as the trailing slash: the last segment, and no verb.
      FUZZ_CHECK(!s.literal.empty() || (i + 1 == segments.size() && t.verb().empty()));
      FUZZ_CHECK(s.literal.find_first_of("/:{}*") == std::string::npos);
      FUZZ_CHECK(PercentDecode(s.literal, false).has_value());
    } else {
      FUZZ_CHECK(s.literal.empty());
    }
  }
  FUZZ_CHECK(t.verb().find_first_of("/:{}*") == std::string::npos);
  int previous_end = 0;
  for (size_t i = 0; i < t.variables().size(); ++i) {
    const TemplateVariable& v = t.variables()[i];
    FUZZ_CHECK(IsFieldPath(v.field_path));
    FUZZ_CHECK(v.first_segment >= previous_end);
    FUZZ_CHECK(v.first_segment < v.end_segment);
    FUZZ_CHECK(v.end_segment <= static_cast<int>(segments.size()));
    const bool multi = v.end_segment - v.first_segment > 1 ||
                       segments[v.end_segment - 1].kind == Kind::kDoubleWildcard;
    FUZZ_CHECK(v.multi_segment == multi);
    for (size_t j = 0; j < i; ++j) FUZZ_CHECK(t.variables()[j].field_path != v.field_path);
    previous_end = v.end_segment;
  }
  const std::string printed = t.ToString();
  absl::StatusOr<PathTemplate> again = PathTemplate::Parse(printed);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->ToString() == printed);
  FUZZ_CHECK(SameShape(*again, t));
  FUZZ_CHECK(SameVariables(*again, t));
  const std::string openapi = t.ToOpenApiPath();
  FUZZ_CHECK(!openapi.empty() && openapi[0] == '/');
  FUZZ_CHECK(openapi.size() <= printed.size());
}

// PercentDecode against counts worked out here: every escape shrinks the text by two bytes, and
// only %2F/%2f may turn into '/' (and not with keep_slash).
void CheckPercentDecode(std::string_view x) {
  const std::optional<std::string> full = PercentDecode(x, false);
  const std::optional<std::string> kept = PercentDecode(x, true);
  FUZZ_CHECK(full.has_value() == kept.has_value());
  if (x.find('%') == std::string_view::npos) {
    FUZZ_CHECK(full.has_value() && *full == x && *kept == x);
    return;
  }
  size_t escapes = 0, slash_escapes = 0, raw_slashes = 0;
  bool malformed = false;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] == '/') ++raw_slashes;
    if (x[i] != '%') continue;
    if (i + 2 >= x.size() || !std::isxdigit(static_cast<unsigned char>(x[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(x[i + 2]))) {
      malformed = true;
      break;
    }
    ++escapes;
    if (x[i + 1] == '2' && (x[i + 2] == 'F' || x[i + 2] == 'f')) ++slash_escapes;
    i += 2;
  }
  FUZZ_CHECK(full.has_value() == !malformed);
  if (malformed) return;
  FUZZ_CHECK(full->size() == x.size() - 2 * escapes);
  FUZZ_CHECK(kept->size() == x.size() - 2 * (escapes - slash_escapes));
  FUZZ_CHECK(static_cast<size_t>(std::count(full->begin(), full->end(), '/')) ==
             raw_slashes + slash_escapes);
  FUZZ_CHECK(static_cast<size_t>(std::count(kept->begin(), kept->end(), '/')) == raw_slashes);
}

// --- Reference matcher ------------------------------------------------------------------------

bool EndsWithDoubleWildcard(const PathTemplate& t) {
  return t.segments().back().kind == Kind::kDoubleWildcard;
}

bool NaiveMatches(const PathTemplate& t, const std::vector<std::string_view>& request) {
  const auto& segments = t.segments();
  const size_t fixed = EndsWithDoubleWildcard(t) ? segments.size() - 1 : segments.size();
  if (EndsWithDoubleWildcard(t) ? request.size() < fixed : request.size() != fixed) return false;
  for (size_t i = 0; i < fixed; ++i) {
    if (segments[i].kind == Kind::kLiteral && request[i] != segments[i].literal) return false;
    if (segments[i].kind == Kind::kWildcard && request[i].empty()) return false;
  }
  return true;
}

std::optional<std::vector<PathBinding>> NaiveBindings(
    const PathTemplate& t, const std::vector<std::string_view>& request) {
  std::vector<PathBinding> bindings;
  for (const TemplateVariable& v : t.variables()) {
    size_t end = static_cast<size_t>(v.end_segment);
    if (EndsWithDoubleWildcard(t) && end == t.segments().size()) end = request.size();
    std::string raw;
    for (size_t i = static_cast<size_t>(v.first_segment); i < end; ++i) {
      if (i > static_cast<size_t>(v.first_segment)) raw.push_back('/');
      raw.append(request[i]);
    }
    if (!v.multi_segment) FUZZ_CHECK(end - static_cast<size_t>(v.first_segment) == 1);
    std::optional<std::string> value = PercentDecode(raw, /*keep_slash=*/v.multi_segment);
    if (!value) return std::nullopt;
    bindings.push_back(PathBinding{v.field_path, *std::move(value)});
  }
  return bindings;
}

// Precedence key: per template segment literal 0, `*` 1, `**` 2, then -1 for "ends here" unless
// it ends with `**`. The smallest key wins.
std::vector<int> PrecedenceKey(const PathTemplate& t) {
  std::vector<int> key;
  for (const TemplateSegment& s : t.segments()) {
    key.push_back(s.kind == Kind::kLiteral ? 0 : s.kind == Kind::kWildcard ? 1 : 2);
  }
  if (!EndsWithDoubleWildcard(t)) key.push_back(-1);
  return key;
}

std::optional<PathMatcher::Match> NaiveLookup(const std::vector<Registered>& routes,
                                              std::string_view method, std::string_view path) {
  if (path.empty() || path[0] != '/') return std::nullopt;
  std::vector<std::string_view> request;
  size_t start = 1;
  while (true) {
    const size_t slash = path.find('/', start);
    request.push_back(path.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  struct Attempt {
    std::vector<std::string_view> request;
    std::string_view verb;
  };
  std::vector<Attempt> attempts;
  const std::string_view last = request.back();
  if (const size_t colon = last.rfind(':');
      colon != std::string_view::npos && colon + 1 < last.size()) {
    Attempt split{request, last.substr(colon + 1)};
    split.request.back() = last.substr(0, colon);
    attempts.push_back(std::move(split));
  }
  attempts.push_back(Attempt{request, std::string_view()});
  for (const Attempt& attempt : attempts) {
    const Registered* best = nullptr;
    std::vector<PathBinding> best_bindings;
    for (const Registered& r : routes) {  // in insertion order: ties keep the first
      if (r.method != method || r.path.verb() != attempt.verb) continue;
      if (!NaiveMatches(r.path, attempt.request)) continue;
      std::optional<std::vector<PathBinding>> bindings = NaiveBindings(r.path, attempt.request);
      if (!bindings) continue;
      if (best == nullptr || PrecedenceKey(r.path) < PrecedenceKey(best->path)) {
        best = &r;
        best_bindings = *std::move(bindings);
      }
    }
    if (best != nullptr) return PathMatcher::Match{best->route_id, std::move(best_bindings)};
  }
  return std::nullopt;
}

void CheckLookup(const PathMatcher& matcher, const std::vector<Registered>& routes,
                 std::string_view method, std::string_view path) {
  const std::optional<PathMatcher::Match> got = matcher.Lookup(method, path);
  const std::optional<PathMatcher::Match> want = NaiveLookup(routes, method, path);
  FUZZ_CHECK(got.has_value() == want.has_value());
  if (!got) return;
  FUZZ_CHECK(got->route_id == want->route_id);
  FUZZ_CHECK(got->bindings.size() == want->bindings.size());
  const Registered& route = routes[static_cast<size_t>(got->route_id)];
  FUZZ_CHECK(got->bindings.size() == route.path.variables().size());
  for (size_t i = 0; i < got->bindings.size(); ++i) {
    FUZZ_CHECK(got->bindings[i].field_path == route.path.variables()[i].field_path);
    FUZZ_CHECK(got->bindings[i].field_path == want->bindings[i].field_path);
    FUZZ_CHECK(got->bindings[i].value == want->bindings[i].value);
  }
}

// A request path that `t` matches: literals as written, `*` filled from `fill` (the fuzzed
// path's segments, so captures see odd bytes and escapes), `**` as no segment or as two, then the
// verb.
std::string PathFor(const PathTemplate& t, std::string_view fill, bool empty_double_wildcard) {
  std::vector<std::string_view> fillers;
  for (size_t start = 0; start <= fill.size();) {
    const size_t slash = std::min(fill.find('/', start), fill.size());
    if (slash > start) fillers.push_back(fill.substr(start, slash - start));
    start = slash + 1;
  }
  size_t next = 0;
  std::string path;
  for (const TemplateSegment& s : t.segments()) {
    if (s.kind == Kind::kDoubleWildcard && empty_double_wildcard) break;
    path.push_back('/');
    switch (s.kind) {
      case Kind::kLiteral:
        path.append(s.literal);
        break;
      case Kind::kWildcard:
        path.append(next < fillers.size() ? fillers[next++] : std::string_view("x"));
        break;
      case Kind::kDoubleWildcard:
        path.append("a%2Fb/c");
        break;
    }
  }
  if (path.empty()) path.push_back('/');  // "/**" with no segment
  if (!t.verb().empty()) path.append(":").append(t.verb());
  return path;
}

void RunOne(std::string_view input) {
  std::vector<std::string_view> lines;
  for (size_t start = 0;;) {
    const size_t nl = input.find('\n', start);
    lines.push_back(input.substr(start, nl == std::string_view::npos ? nl : nl - start));
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  std::vector<std::string_view> templates;
  std::string_view method = "GET";
  std::string_view path;
  if (lines.size() >= 3) {
    templates.assign(lines.begin(), lines.end() - 2);
    if (templates.size() > kMaxTemplates) templates.resize(kMaxTemplates);
    if (!lines[lines.size() - 2].empty()) method = lines[lines.size() - 2];
    path = lines.back();
  } else {
    templates.push_back(lines[0]);
    path = lines.size() == 2 ? lines[1] : lines[0];
  }

  PathMatcher matcher;
  std::vector<Registered> routes;
  auto insert = [&](std::string_view http_method, const PathTemplate& t) {
    const int id = static_cast<int>(routes.size());
    const absl::Status status = matcher.Insert(http_method, t, id);
    bool equivalent = false;
    for (const Registered& r : routes) {
      equivalent = equivalent || (r.method == http_method && SameShape(r.path, t));
    }
    if (equivalent) {
      FUZZ_CHECK(status.code() == absl::StatusCode::kAlreadyExists);
      FUZZ_CHECK(!status.message().empty());
      return;
    }
    FUZZ_CHECK(status.ok());
    routes.push_back(Registered{std::string(http_method), t, id});
  };

  std::vector<PathTemplate> parsed;
  for (std::string_view text : templates) {
    absl::StatusOr<PathTemplate> t = PathTemplate::Parse(text);
    if (!t.ok()) {
      FUZZ_CHECK(t.status().code() == absl::StatusCode::kInvalidArgument);
      FUZZ_CHECK(!t.status().message().empty());
      FUZZ_CHECK(text.empty() ||
                 t.status().message().find(" at position ") != std::string_view::npos);
      continue;
    }
    CheckParsed(text, *t);
    insert(method, *t);
    parsed.push_back(*std::move(t));
  }
  static const std::vector<PathTemplate>* const fixed = [] {
    auto* out = new std::vector<PathTemplate>;
    for (const char* text : kFixedTemplates) {
      absl::StatusOr<PathTemplate> t = PathTemplate::Parse(text);
      FUZZ_CHECK(t.ok());
      out->push_back(*std::move(t));
    }
    return out;
  }();
  for (const PathTemplate& t : *fixed) {
    for (const char* m : kFixedMethods) insert(m, t);
  }

  CheckPercentDecode(path);
  CheckLookup(matcher, routes, method, path);
  for (const PathTemplate& t : parsed) {
    for (bool empty_double_wildcard : {false, true}) {
      const std::string synthesized = PathFor(t, path, empty_double_wildcard);
      CheckLookup(matcher, routes, method, synthesized);
      CheckLookup(matcher, routes, "POST", synthesized);
    }
  }

  const std::vector<std::string> allowed = matcher.AllowedMethods(path);
  FUZZ_CHECK(std::is_sorted(allowed.begin(), allowed.end()));
  FUZZ_CHECK(std::adjacent_find(allowed.begin(), allowed.end()) == allowed.end());
  for (const Registered& r : routes) {
    const bool listed = std::binary_search(allowed.begin(), allowed.end(), r.method);
    FUZZ_CHECK(listed == matcher.Lookup(r.method, path).has_value());
  }
  for (const std::string& m : allowed) FUZZ_CHECK(matcher.Lookup(m, path).has_value());
}

}  // namespace
}  // namespace aurora::gateway

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  aurora::gateway::RunOne(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
