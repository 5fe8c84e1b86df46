#include "gateway/path_template.h"

#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

namespace aurora::gateway {
namespace {

using Kind = TemplateSegment::Kind;

PathTemplate MustParse(std::string_view text) {
  absl::StatusOr<PathTemplate> t = PathTemplate::Parse(text);
  INFO("template " << text << ": " << t.status().ToString());
  REQUIRE(t.ok());
  return *std::move(t);
}

std::string ParseError(std::string_view text) {
  absl::StatusOr<PathTemplate> t = PathTemplate::Parse(text);
  INFO("template " << text);
  REQUIRE_FALSE(t.ok());
  CHECK(t.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(t.status().message());
}

// "kind:literal" per segment, e.g. {"L:v1", "*", "**"}.
std::vector<std::string> Shape(const PathTemplate& t) {
  std::vector<std::string> out;
  for (const TemplateSegment& s : t.segments()) {
    switch (s.kind) {
      case Kind::kLiteral:
        out.push_back("L:" + s.literal);
        break;
      case Kind::kWildcard:
        out.push_back("*");
        break;
      case Kind::kDoubleWildcard:
        out.push_back("**");
        break;
    }
  }
  return out;
}

using Bindings = std::vector<std::pair<std::string, std::string>>;

Bindings ToPairs(const std::vector<PathBinding>& bindings) {
  Bindings out;
  for (const PathBinding& b : bindings) out.emplace_back(b.field_path, b.value);
  return out;
}

void MustInsert(PathMatcher& m, std::string_view method, std::string_view text, int id) {
  absl::Status s = m.Insert(method, MustParse(text), id);
  INFO(method << " " << text << ": " << s.ToString());
  REQUIRE(s.ok());
}

// Route id matched for (method, path), or -1.
int RouteOf(const PathMatcher& m, std::string_view method, std::string_view path) {
  std::optional<PathMatcher::Match> match = m.Lookup(method, path);
  return match ? match->route_id : -1;
}

Bindings BindingsOf(const PathMatcher& m, std::string_view method, std::string_view path) {
  std::optional<PathMatcher::Match> match = m.Lookup(method, path);
  INFO(method << " " << path);
  REQUIRE(match.has_value());
  return ToPairs(match->bindings);
}

TEST_CASE("Parse: literals, wildcards and the verb") {
  PathTemplate t = MustParse("/v1/services/*/items/**:search");
  CHECK(Shape(t) == std::vector<std::string>{"L:v1", "L:services", "*", "L:items", "**"});
  CHECK(t.variables().empty());
  CHECK(t.verb() == "search");

  PathTemplate plain = MustParse("/v1");
  CHECK(Shape(plain) == std::vector<std::string>{"L:v1"});
  CHECK(plain.verb().empty());

  PathTemplate chars = MustParse("/a-b.c_d~e!$&'()+,;=@f/%2Fx%aB");
  CHECK(Shape(chars) == std::vector<std::string>{"L:a-b.c_d~e!$&'()+,;=@f", "L:%2Fx%aB"});

  CHECK(Shape(MustParse("/**")) == std::vector<std::string>{"**"});
  CHECK(Shape(MustParse("/*:do")) == std::vector<std::string>{"*"});
}

TEST_CASE("Parse: variables") {
  SECTION("{x} is {x=*}") {
    PathTemplate t = MustParse("/v1/services/{service_id}");
    CHECK(Shape(t) == std::vector<std::string>{"L:v1", "L:services", "*"});
    REQUIRE(t.variables().size() == 1);
    const TemplateVariable& v = t.variables()[0];
    CHECK(v.field_path == "service_id");
    CHECK(v.first_segment == 2);
    CHECK(v.end_segment == 3);
    CHECK_FALSE(v.multi_segment);
    CHECK(Shape(MustParse("/v1/services/{service_id=*}")) == Shape(t));
  }
  SECTION("nested field path and multi-segment template") {
    PathTemplate t = MustParse("/v1/{a.b_2.C}/{name=shelves/*/books/*}:move");
    CHECK(Shape(t) == std::vector<std::string>{"L:v1", "*", "L:shelves", "*", "L:books", "*"});
    REQUIRE(t.variables().size() == 2);
    CHECK(t.variables()[0].field_path == "a.b_2.C");
    CHECK(t.variables()[0].first_segment == 1);
    CHECK(t.variables()[0].end_segment == 2);
    CHECK_FALSE(t.variables()[0].multi_segment);
    CHECK(t.variables()[1].field_path == "name");
    CHECK(t.variables()[1].first_segment == 2);
    CHECK(t.variables()[1].end_segment == 6);
    CHECK(t.variables()[1].multi_segment);
    CHECK(t.verb() == "move");
  }
  SECTION("{x=**} is multi-segment though it covers one template segment") {
    PathTemplate t = MustParse("/files/{path=**}");
    REQUIRE(t.variables().size() == 1);
    CHECK(t.variables()[0].first_segment == 1);
    CHECK(t.variables()[0].end_segment == 2);
    CHECK(t.variables()[0].multi_segment);
  }
  SECTION("{x=literal} is single-segment") {
    PathTemplate t = MustParse("/v1/{kind=books}");
    CHECK(Shape(t) == std::vector<std::string>{"L:v1", "L:books"});
    REQUIRE(t.variables().size() == 1);
    CHECK_FALSE(t.variables()[0].multi_segment);
  }
}

TEST_CASE("Parse: every rejection names the position and the offending text") {
  CHECK(ParseError("") == "path template is empty");
  CHECK(ParseError("v1/x") ==
        "invalid path template \"v1/x\": must start with '/' at position 0: \"v\"");
  CHECK(ParseError("/v1//x") ==
        "invalid path template \"/v1//x\": empty segment at position 4: \"//\"");
  CHECK(ParseError("/v1//") ==
        "invalid path template \"/v1//\": empty segment at position 4: \"//\"");
  CHECK(ParseError("/v1/:verb") ==
        "invalid path template \"/v1/:verb\": empty segment at position 4: \"/:\"");
  CHECK(ParseError("/v1/{a=x/}") ==
        "invalid path template \"/v1/{a=x/}\": empty segment at position 9: \"/}\"");
  CHECK(ParseError("/v1/**/") ==
        "invalid path template \"/v1/**/\": '**' must be the last segment at position 4: \"**\"");
  CHECK(ParseError("/") == "invalid path template \"/\": empty segment at position 1: \"/\"");
  CHECK(ParseError("/:verb") ==
        "invalid path template \"/:verb\": empty segment at position 1: \"/:\"");
  CHECK(ParseError("/v1/{a=x/{b}}") ==
        "invalid path template \"/v1/{a=x/{b}}\": nested variable at position 9: \"{b}}\"");
  CHECK(ParseError("/v1/{a{b}}") ==
        "invalid path template \"/v1/{a{b}}\": nested variable at position 6: \"{b}}\"");
  CHECK(ParseError("/v1/{name") ==
        "invalid path template \"/v1/{name\": unterminated '{' at position 4: \"{name\"");
  CHECK(ParseError("/v1/{name=a/*") ==
        "invalid path template \"/v1/{name=a/*\": unterminated '{' at position 4: \"{name=a/*\"");
  CHECK(ParseError("/v1/{1abc}") ==
        "invalid path template \"/v1/{1abc}\": bad field path (want IDENT{.IDENT}) at position "
        "5: \"1abc\"");
  CHECK(ParseError("/v1/{a..b}") ==
        "invalid path template \"/v1/{a..b}\": bad field path (want IDENT{.IDENT}) at position "
        "5: \"a..b\"");
  CHECK(ParseError("/v1/{a.}") ==
        "invalid path template \"/v1/{a.}\": bad field path (want IDENT{.IDENT}) at position "
        "5: \"a.\"");
  CHECK(ParseError("/v1/{}") ==
        "invalid path template \"/v1/{}\": bad field path (want IDENT{.IDENT}) at position 5: "
        "\"\"");
  CHECK(ParseError("/v1/{a-b}") ==
        "invalid path template \"/v1/{a-b}\": bad field path (want IDENT{.IDENT}) at position "
        "5: \"a-b\"");
  CHECK(ParseError("/v1/**/x") ==
        "invalid path template \"/v1/**/x\": '**' must be the last segment at position 4: "
        "\"**\"");
  CHECK(ParseError("/v1/{p=**}/x") ==
        "invalid path template \"/v1/{p=**}/x\": '**' must be the last segment at position 7: "
        "\"**\"");
  CHECK(ParseError("/v1/{id}/{id}") ==
        "invalid path template \"/v1/{id}/{id}\": duplicate variable at position 10: \"id\"");
  CHECK(ParseError("/v1/a:b/c") ==
        "invalid path template \"/v1/a:b/c\": unexpected text after the verb at position 7: "
        "\"/c\"");
  CHECK(ParseError("/v1/a:b:c") ==
        "invalid path template \"/v1/a:b:c\": ':' is only allowed once, before the verb at "
        "position 7: \":\"");
  CHECK(ParseError("/v1/a:") ==
        "invalid path template \"/v1/a:\": empty verb after ':' at position 5: \":\"");
  CHECK(ParseError("/v1/a b") ==
        "invalid path template \"/v1/a b\": character not allowed in a literal at position 5: "
        "\" \"");
  CHECK(ParseError("/v1/a?b") ==
        "invalid path template \"/v1/a?b\": character not allowed in a literal at position 5: "
        "\"?\"");
  CHECK(ParseError("/v1/a*") ==
        "invalid path template \"/v1/a*\": character not allowed in a literal at position 5: "
        "\"*\"");
  CHECK(ParseError("/v1/*a") ==
        "invalid path template \"/v1/*a\": '*' and '**' must be whole segments at position 4: "
        "\"*a\"");
  CHECK(ParseError("/v1/***") ==
        "invalid path template \"/v1/***\": '*' and '**' must be whole segments at position 4: "
        "\"***\"");
  CHECK(ParseError("/v1/a%2") ==
        "invalid path template \"/v1/a%2\": malformed percent-escape at position 5: \"%2\"");
  CHECK(ParseError("/v1/a%zz") ==
        "invalid path template \"/v1/a%zz\": malformed percent-escape at position 5: \"%zz\"");
  CHECK(ParseError("/v1/x}") ==
        "invalid path template \"/v1/x}\": '}' without a matching '{' at position 5: \"}\"");
  CHECK(ParseError("/v1/{a=}") ==
        "invalid path template \"/v1/{a=}\": empty segment at position 7: \"=}\"");
  CHECK(ParseError("/v1/{a=b:c}") ==
        "invalid path template \"/v1/{a=b:c}\": expected '}' to close the variable at position "
        "8: \":\"");
  CHECK(ParseError("/v1/{a/b}") ==
        "invalid path template \"/v1/{a/b}\": '/' in a variable name (use {name=a/*}) at "
        "position 6: \"{a/b}\"");
  CHECK(ParseError("/v1/x:a b") ==
        "invalid path template \"/v1/x:a b\": character not allowed in a literal at position 7: "
        "\" \"");
  // Non-printable bytes are escaped in the message.
  CHECK(ParseError(std::string_view("/v1/\x01", 5)) ==
        "invalid path template \"/v1/\\x01\": character not allowed in a literal at position 4: "
        "\"\\x01\"");
}

TEST_CASE("ToString normalises {x=*} and ToOpenApiPath prints every variable as {field}") {
  struct Case {
    std::string text, string, openapi;
  };
  const std::vector<Case> cases = {
      {"/v1/services", "/v1/services", "/v1/services"},
      {"/v1/services/{service_id=*}", "/v1/services/{service_id}", "/v1/services/{service_id}"},
      {"/v1/services/{service.id}:checkText", "/v1/services/{service.id}:checkText",
       "/v1/services/{service.id}:checkText"},
      {"/v1/{name=shelves/*/books/*}", "/v1/{name=shelves/*/books/*}", "/v1/{name}"},
      {"/files/{path=**}:undelete", "/files/{path=**}:undelete", "/files/{path}:undelete"},
      {"/v1/{kind=books}/*/**", "/v1/{kind=books}/*/**", "/v1/{kind}/*/**"},
      {"/a%2Fb/{x}", "/a%2Fb/{x}", "/a%2Fb/{x}"},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    PathTemplate t = MustParse(c.text);
    CHECK(t.ToString() == c.string);
    CHECK(t.ToOpenApiPath() == c.openapi);
    // The printed form parses back to the same template.
    PathTemplate again = MustParse(t.ToString());
    CHECK(again.ToString() == c.string);
    CHECK(Shape(again) == Shape(t));
  }
}

TEST_CASE("PercentDecode") {
  CHECK(PercentDecode("", false) == std::string());
  CHECK(PercentDecode("plain", false) == std::string("plain"));
  CHECK(PercentDecode("a%20b%2fc%2Fd%41%4a%4A", false) == std::string("a b/c/dAJJ"));
  CHECK(PercentDecode("a%20b%2fc%2Fd", true) == std::string("a b%2fc%2Fd"));
  CHECK(PercentDecode("%25%32%46", true) == std::string("%2F"));  // "%2F" decoded from "%25"
  CHECK(PercentDecode("%00", false) == std::string(1, '\0'));
  CHECK(PercentDecode("%ff", false) == std::string(1, '\xff'));
  CHECK_FALSE(PercentDecode("%", false).has_value());
  CHECK_FALSE(PercentDecode("a%4", false).has_value());
  CHECK_FALSE(PercentDecode("a%4", true).has_value());
  CHECK_FALSE(PercentDecode("%G1", false).has_value());
  CHECK_FALSE(PercentDecode("%1G", true).has_value());
}

TEST_CASE("Matcher: literal beats *, which beats **") {
  PathMatcher m;
  MustInsert(m, "GET", "/v1/**", 1);
  MustInsert(m, "GET", "/v1/{id}", 2);
  MustInsert(m, "GET", "/v1/special", 3);
  MustInsert(m, "GET", "/v1/{id}/items", 4);
  MustInsert(m, "GET", "/v1/special/{x=**}", 5);

  CHECK(RouteOf(m, "GET", "/v1/special") == 3);
  CHECK(RouteOf(m, "GET", "/v1/other") == 2);
  CHECK(RouteOf(m, "GET", "/v1/other/more") == 1);
  CHECK(RouteOf(m, "GET", "/v1") == 1);  // ** matches zero segments
  CHECK(RouteOf(m, "GET", "/v1/other/items") == 4);
  // Literal "special" is tried first; its subtree has no "items" but a `**`.
  CHECK(RouteOf(m, "GET", "/v1/special/items") == 5);
  CHECK(BindingsOf(m, "GET", "/v1/special/items") == Bindings{{"x", "items"}});
  CHECK(RouteOf(m, "GET", "/v2/other") == -1);
  CHECK(RouteOf(m, "POST", "/v1/special") == -1);
}

TEST_CASE("Matcher: backtracks from a literal to * when the literal's subtree fails") {
  PathMatcher m;
  MustInsert(m, "GET", "/v1/a/b", 1);
  MustInsert(m, "GET", "/v1/*/c", 2);
  CHECK(RouteOf(m, "GET", "/v1/a/b") == 1);
  CHECK(RouteOf(m, "GET", "/v1/a/c") == 2);
  CHECK(RouteOf(m, "GET", "/v1/z/c") == 2);
  CHECK(RouteOf(m, "GET", "/v1/a/d") == -1);
}

TEST_CASE("Matcher: precedence is segment by segment, left to right, not insertion order") {
  PathMatcher m;
  MustInsert(m, "GET", "/v1/{a}/x", 1);
  MustInsert(m, "GET", "/v1/y/{b}", 2);
  CHECK(RouteOf(m, "GET", "/v1/y/x") == 2);
  CHECK(BindingsOf(m, "GET", "/v1/y/x") == Bindings{{"b", "x"}});

  PathMatcher reversed;
  MustInsert(reversed, "GET", "/v1/y/{b}", 2);
  MustInsert(reversed, "GET", "/v1/{a}/x", 1);
  CHECK(RouteOf(reversed, "GET", "/v1/y/x") == 2);
}

TEST_CASE("Matcher: a template ending at the request's end beats ** matching zero segments") {
  PathMatcher m;
  MustInsert(m, "GET", "/v1/files/{rest=**}", 1);
  MustInsert(m, "GET", "/v1/files", 2);
  CHECK(RouteOf(m, "GET", "/v1/files") == 2);
  CHECK(RouteOf(m, "GET", "/v1/files/a") == 1);
}

TEST_CASE("Matcher: equivalent templates tie; the first inserted keeps the route") {
  PathMatcher m;
  MustInsert(m, "GET", "/v1/{a}", 1);
  absl::Status s = m.Insert("GET", MustParse("/v1/{b=*}"), 2);
  CHECK(s.code() == absl::StatusCode::kAlreadyExists);
  CHECK(s.message() ==
        "GET \"/v1/{b}\" (route 2) is equivalent to the already registered \"/v1/{a}\" "
        "(route 1)");
  CHECK(RouteOf(m, "GET", "/v1/z") == 1);
  CHECK(BindingsOf(m, "GET", "/v1/z") == Bindings{{"a", "z"}});

  // Different method, different verb or different segments are not equivalent.
  MustInsert(m, "POST", "/v1/{b}", 3);
  MustInsert(m, "GET", "/v1/{b}:run", 4);
  MustInsert(m, "GET", "/v1/{b=**}", 5);
  CHECK(RouteOf(m, "POST", "/v1/z") == 3);
  CHECK(RouteOf(m, "GET", "/v1/z:run") == 4);
  CHECK(RouteOf(m, "GET", "/v1/z/y") == 5);
  CHECK(m.Insert("GET", MustParse("/v1/{b}:run"), 6).code() == absl::StatusCode::kAlreadyExists);
  CHECK(m.Insert("GET", MustParse("/v1/*"), 7).code() == absl::StatusCode::kAlreadyExists);
  CHECK(m.Insert("GET", MustParse("/v1/**"), 8).code() == absl::StatusCode::kAlreadyExists);
}

TEST_CASE("Matcher: Insert rejects an empty method and an empty template") {
  PathMatcher m;
  CHECK(m.Insert("", MustParse("/v1"), 1).code() == absl::StatusCode::kInvalidArgument);
  CHECK(m.Insert("GET", PathTemplate(), 1).code() == absl::StatusCode::kInvalidArgument);
  CHECK(m.AllowedMethods("/v1").empty());
}

TEST_CASE("Matcher: ** matches zero and many segments") {
  PathMatcher m;
  MustInsert(m, "GET", "/files/{path=**}", 1);
  CHECK(BindingsOf(m, "GET", "/files") == Bindings{{"path", ""}});
  CHECK(BindingsOf(m, "GET", "/files/a") == Bindings{{"path", "a"}});
  CHECK(BindingsOf(m, "GET", "/files/a/b/c") == Bindings{{"path", "a/b/c"}});
  // Empty segments are swallowed by ** (and kept in the value).
  CHECK(BindingsOf(m, "GET", "/files/a//b/") == Bindings{{"path", "a//b/"}});
  CHECK(RouteOf(m, "GET", "/file") == -1);

  PathMatcher prefix;
  MustInsert(prefix, "GET", "/v1/{name=projects/*/**}", 1);
  CHECK(BindingsOf(prefix, "GET", "/v1/projects/p1") == Bindings{{"name", "projects/p1"}});
  CHECK(BindingsOf(prefix, "GET", "/v1/projects/p1/a/b") == Bindings{{"name", "projects/p1/a/b"}});
  CHECK(RouteOf(prefix, "GET", "/v1/projects") == -1);

  PathMatcher root;
  MustInsert(root, "GET", "/**", 7);
  CHECK(RouteOf(root, "GET", "/") == 7);
  CHECK(RouteOf(root, "GET", "/anything/at/all") == 7);
  CHECK(RouteOf(root, "GET", "") == -1);
  CHECK(RouteOf(root, "GET", "anything") == -1);
}

TEST_CASE("Matcher: multi-segment capture and nested field paths") {
  PathMatcher m;
  MustInsert(m, "GET", "/v1/{name=shelves/*/books/*}", 1);
  MustInsert(m, "PATCH", "/v1/{book.name=shelves/*/books/*}/{a.b.c}", 2);
  CHECK(BindingsOf(m, "GET", "/v1/shelves/s1/books/b%201") ==
        Bindings{{"name", "shelves/s1/books/b 1"}});
  CHECK(RouteOf(m, "GET", "/v1/shelves/s1/books") == -1);
  CHECK(RouteOf(m, "GET", "/v1/shelves/s1/novels/b1") == -1);
  CHECK(RouteOf(m, "GET", "/v1/shelves/s1/books/b1/x") == -1);
  CHECK(BindingsOf(m, "PATCH", "/v1/shelves/s/books/b/c") ==
        Bindings{{"book.name", "shelves/s/books/b"}, {"a.b.c", "c"}});
}

TEST_CASE("Matcher: verbs") {
  PathMatcher m;
  MustInsert(m, "GET", "/v1/services:search", 1);
  MustInsert(m, "GET", "/v1/services/{id}", 2);
  MustInsert(m, "POST", "/v1/services/{id}:checkText", 3);
  MustInsert(m, "GET", "/v1/services", 4);

  CHECK(RouteOf(m, "GET", "/v1/services:search") == 1);
  CHECK(BindingsOf(m, "GET", "/v1/services:search").empty());
  CHECK(RouteOf(m, "GET", "/v1/services") == 4);
  CHECK(RouteOf(m, "GET", "/v1/services/abc") == 2);
  CHECK(RouteOf(m, "POST", "/v1/services/abc:checkText") == 3);
  CHECK(BindingsOf(m, "POST", "/v1/services/abc:checkText") == Bindings{{"id", "abc"}});
  // No template has the verb "other": the whole last segment is the id.
  CHECK(BindingsOf(m, "GET", "/v1/services/urn:x:other") == Bindings{{"id", "urn:x:other"}});
  // The verb is after the LAST ':'.
  CHECK(BindingsOf(m, "POST", "/v1/services/urn:x:checkText") == Bindings{{"id", "urn:x"}});
  // A template without a verb does not match when the verb is split off and nothing else does.
  CHECK(RouteOf(m, "POST", "/v1/services/abc") == -1);
  // ":checkText" is only registered for POST; for GET the colon stays in the id.
  CHECK(BindingsOf(m, "GET", "/v1/services/abc:checkText") == Bindings{{"id", "abc:checkText"}});
  // A trailing ':' is no verb.
  CHECK(BindingsOf(m, "GET", "/v1/services/abc:") == Bindings{{"id", "abc:"}});
  // "services:other" matches no literal and no verb.
  CHECK(RouteOf(m, "GET", "/v1/services:other") == -1);
  // A colon in an earlier segment is ordinary data.
  CHECK(RouteOf(m, "GET", "/v1/services:search/x") == -1);

  PathMatcher tail;
  MustInsert(tail, "POST", "/v1/{name=**}:undelete", 1);
  MustInsert(tail, "POST", "/v1/{name=**}", 2);
  CHECK(RouteOf(tail, "POST", "/v1/a/b:undelete") == 1);
  CHECK(BindingsOf(tail, "POST", "/v1/a/b:undelete") == Bindings{{"name", "a/b"}});
  CHECK(RouteOf(tail, "POST", "/v1:undelete") == 1);
  CHECK(BindingsOf(tail, "POST", "/v1:undelete") == Bindings{{"name", ""}});
  CHECK(BindingsOf(tail, "POST", "/v1/a/b:other") == Bindings{{"name", "a/b:other"}});
}

TEST_CASE("Matcher: trailing slash and empty segments") {
  PathMatcher m;
  MustInsert(m, "GET", "/v1/services", 1);
  MustInsert(m, "GET", "/v1/{a}/{b}", 2);
  CHECK(RouteOf(m, "GET", "/v1/services") == 1);
  CHECK(RouteOf(m, "GET", "/v1/services/") == -1);  // empty segment never matches `*`
  CHECK(RouteOf(m, "GET", "/v1//x") == -1);
  CHECK(RouteOf(m, "GET", "/v1/x/y") == 2);
  CHECK(RouteOf(m, "GET", "//v1/services") == -1);
}

TEST_CASE("a template's trailing slash matches exactly the requests that have it") {
  // The original AuroraAI's health check is "/service-recommender/healthcheck/".
  const PathTemplate t = MustParse("/service-recommender/healthcheck/");
  CHECK(t.ToString() == "/service-recommender/healthcheck/");
  CHECK(t.ToOpenApiPath() == "/service-recommender/healthcheck/");
  PathMatcher m;
  MustInsert(m, "GET", "/service-recommender/healthcheck/", 1);
  MustInsert(m, "GET", "/service-recommender/healthcheck", 2);
  MustInsert(m, "GET", "/v1/{id}/", 3);
  MustInsert(m, "GET", "/v2/*", 4);
  CHECK(RouteOf(m, "GET", "/service-recommender/healthcheck/") == 1);
  CHECK(RouteOf(m, "GET", "/service-recommender/healthcheck") == 2);
  CHECK(RouteOf(m, "GET", "/service-recommender/healthcheck//") == -1);
  CHECK(RouteOf(m, "GET", "/service-recommender//") == -1);
  CHECK(RouteOf(m, "GET", "/v1/abc/") == 3);
  CHECK(BindingsOf(m, "GET", "/v1/abc/") == Bindings{{"id", "abc"}});
  CHECK(RouteOf(m, "GET", "/v1/abc") == -1);
  CHECK(RouteOf(m, "GET", "/v1//") == -1);  // the variable still needs a segment
  CHECK(RouteOf(m, "GET", "/v2/") == -1);   // an empty segment is still no `*`
}

TEST_CASE("Matcher: percent-decoding of captured values") {
  PathMatcher m;
  MustInsert(m, "GET", "/one/{id}", 1);
  MustInsert(m, "GET", "/multi/{path=**}", 2);
  MustInsert(m, "GET", "/lit/a%20b", 3);
  MustInsert(m, "GET", "/uncaptured/*", 4);
  MustInsert(m, "GET", "/two/{name=x/*}", 5);

  CHECK(BindingsOf(m, "GET", "/one/a%2Fb%20c%3a") == Bindings{{"id", "a/b c:"}});
  CHECK(BindingsOf(m, "GET", "/multi/a%2Fb/c%2fd%20e") == Bindings{{"path", "a%2Fb/c%2fd e"}});
  CHECK(BindingsOf(m, "GET", "/two/x/a%2Fb") == Bindings{{"name", "x/a%2Fb"}});
  // Literals are compared with the raw, still-encoded segment.
  CHECK(RouteOf(m, "GET", "/lit/a%20b") == 3);
  CHECK(RouteOf(m, "GET", "/lit/a b") == -1);
  // Malformed escapes in a captured segment do not match.
  CHECK(RouteOf(m, "GET", "/one/a%G1") == -1);
  CHECK(RouteOf(m, "GET", "/one/a%") == -1);
  CHECK(RouteOf(m, "GET", "/multi/ok/a%2") == -1);
  // ...but an uncaptured wildcard does not decode.
  CHECK(RouteOf(m, "GET", "/uncaptured/a%G1") == 4);
}

TEST_CASE("Matcher: a malformed escape falls back to a lower-precedence route") {
  PathMatcher m;
  MustInsert(m, "GET", "/v1/{id}", 1);
  MustInsert(m, "GET", "/v1/**", 2);
  CHECK(RouteOf(m, "GET", "/v1/a%zz") == 2);
  CHECK(RouteOf(m, "GET", "/v1/a%20") == 1);
}

TEST_CASE("Matcher: custom HTTP methods and AllowedMethods") {
  PathMatcher m;
  MustInsert(m, "PUT", "/v1/items/{id}", 1);
  MustInsert(m, "GET", "/v1/items/{id}", 2);
  MustInsert(m, "PURGE", "/v1/items/{id}", 3);
  MustInsert(m, "DELETE", "/v1/items/**", 4);
  MustInsert(m, "GET", "/v1/items", 5);
  MustInsert(m, "GET", "/v1/other", 6);

  CHECK(RouteOf(m, "PURGE", "/v1/items/x") == 3);
  CHECK(RouteOf(m, "purge", "/v1/items/x") == -1);  // method names are case-sensitive
  CHECK(m.AllowedMethods("/v1/items/x") ==
        std::vector<std::string>{"DELETE", "GET", "PURGE", "PUT"});
  CHECK(m.AllowedMethods("/v1/items") == std::vector<std::string>{"DELETE", "GET"});
  CHECK(m.AllowedMethods("/v1/items/x/y") == std::vector<std::string>{"DELETE"});
  CHECK(m.AllowedMethods("/v1/nothing").empty());
  CHECK(m.AllowedMethods("no-slash").empty());
}

TEST_CASE("Matcher: moved-from and moved-to matchers") {
  PathMatcher m;
  MustInsert(m, "GET", "/v1/{id}", 1);
  PathMatcher moved = std::move(m);
  CHECK(RouteOf(moved, "GET", "/v1/x") == 1);
  PathMatcher assigned;
  assigned = std::move(moved);
  CHECK(RouteOf(assigned, "GET", "/v1/x") == 1);
  CHECK(assigned.AllowedMethods("/v1/x") == std::vector<std::string>{"GET"});
}

}  // namespace
}  // namespace aurora::gateway
