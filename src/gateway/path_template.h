#pragma once
// Path templates of google.api.HttpRule and a matcher over many of them.
//
// Grammar (google/api/http.proto):
//   Template = "/" Segments [ Verb ] | "/" Segments "/" ;
//   Segments = Segment { "/" Segment } ;
//   Segment  = "*" | "**" | LITERAL | Variable ;
//   Variable = "{" FieldPath [ "=" Segments ] "}" ;
//   FieldPath = IDENT { "." IDENT } ;
//   Verb     = ":" LITERAL ;
// `{x}` is `{x=*}`. `**` matches zero or more segments and may only be the last segment. A
// variable must not contain another variable, and a field path must not appear twice. LITERAL
// (and the verb) is one or more RFC 3986 pchars other than ':' and '*': unreserved characters,
// sub-delims except '*', '@', and %XX escapes.
//
// Percent-decoding of captured values follows the spec: a single-segment variable (`{x}`,
// `{x=*}`, `{x=lit}`) decodes every %XX; a multi-segment variable (`{x=**}`, `{x=a/*}`) decodes
// every %XX except %2F/%2f, which stay as they are. Literal segments are compared with the raw,
// still-encoded request segment. A request path with a malformed escape (`%G1`, a trailing `%`)
// in a captured segment does not match.
//
// Matching precedence at each segment: a literal beats `*`, which beats `**`; among routes that
// still tie, the one inserted first wins. A trailing `:verb` in the request path is tried as the
// template verb first; when no template with that verb matches, the whole last segment
// (including the colon) is matched as an ordinary segment, so ids containing ':' still work.
// An empty request segment ("/v1//x", the trailing one of "/v1/x/") matches no literal and no `*`;
// only a `**` swallows it. The exception is a template ending in "/" (a trailing slash, kept as
// an empty last literal segment): it matches exactly the requests with that trailing slash, as
// the original AuroraAI's "/service-recommender/healthcheck/" needs.
//
// PathTemplate is an immutable value. PathMatcher is built once (Insert) and then read
// concurrently (Lookup, AllowedMethods) without locking.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace aurora::gateway {

struct TemplateSegment {
  enum class Kind { kLiteral, kWildcard /* * */, kDoubleWildcard /* ** */ };
  Kind kind = Kind::kLiteral;
  std::string literal;  // for kLiteral, as written in the template
};

struct TemplateVariable {
  std::string field_path;      // dotted, e.g. "service.id"
  int first_segment = 0;       // index into segments()
  int end_segment = 0;         // one past the last segment the variable covers
  bool multi_segment = false;  // covers more than one segment or a `**`
};

class PathTemplate {
 public:
  // INVALID_ARGUMENT naming the position and the offending text on a syntax error.
  static absl::StatusOr<PathTemplate> Parse(std::string_view text);

  const std::vector<TemplateSegment>& segments() const { return segments_; }
  const std::vector<TemplateVariable>& variables() const { return variables_; }
  const std::string& verb() const { return verb_; }  // without the ':'; empty if none
  // The template as written (normalised: `{x=*}` printed as `{x}`).
  std::string ToString() const;
  // OpenAPI form: every variable as `{field.path}`, e.g. "/v1/services/{service.id}:checkText".
  // Multi-segment variables also print as `{name}` (OpenAPI has no multi-segment parameters).
  std::string ToOpenApiPath() const;

 private:
  std::vector<TemplateSegment> segments_;
  std::vector<TemplateVariable> variables_;
  std::string verb_;
};

// A variable's captured value, percent-decoded as described above.
struct PathBinding {
  std::string field_path;
  std::string value;
};

class PathMatcher {
 public:
  PathMatcher();
  ~PathMatcher();
  PathMatcher(PathMatcher&&) noexcept;
  PathMatcher& operator=(PathMatcher&&) noexcept;

  // Registers `route_id` for `http_method` ("GET", "POST", … or a custom verb name) on `path`.
  // ALREADY_EXISTS when an equivalent template (same segments, same verb, same method) is
  // already registered; the message names both.
  absl::Status Insert(std::string_view http_method, const PathTemplate& path, int route_id);

  struct Match {
    int route_id = -1;
    std::vector<PathBinding> bindings;
  };
  // `path` is the request target's path without the query string, still percent-encoded.
  // nullopt when no template registered for `http_method` matches.
  std::optional<Match> Lookup(std::string_view http_method, std::string_view path) const;

  // The methods (sorted, unique) for which some template matches `path`; for 405's Allow header.
  std::vector<std::string> AllowedMethods(std::string_view path) const;

 private:
  struct Node;
  std::unique_ptr<Node> root_;
  std::vector<std::string> methods_;  // every method inserted, for AllowedMethods
};

// Percent-decodes `text`. With `keep_slash`, %2F/%2f are left encoded. nullopt on a malformed
// escape. Exposed for the query-string parser and tests.
std::optional<std::string> PercentDecode(std::string_view text, bool keep_slash);

}  // namespace aurora::gateway
