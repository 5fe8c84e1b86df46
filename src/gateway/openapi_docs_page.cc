// The /docs page: the OpenAPI document rendered as one self-contained HTML5 page (inline CSS, no
// scripts, no external resources), so that the page and the document always say the same.

#include <initializer_list>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/openapi_internal.h"

namespace aurora::gateway::openapi_internal {
namespace {

std::string Html(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out.append("&amp;");
        break;
      case '<':
        out.append("&lt;");
        break;
      case '>':
        out.append("&gt;");
        break;
      case '"':
        out.append("&quot;");
        break;
      case '\'':
        out.append("&#39;");
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// Escaped text with `code` spans and **bold** as elements.
std::string InlineHtml(std::string_view text) {
  std::string escaped = Html(text);
  std::string out;
  size_t i = 0;
  while (i < escaped.size()) {
    if (escaped[i] == '`') {
      size_t close = escaped.find('`', i + 1);
      if (close != std::string::npos) {
        out.append("<code>").append(escaped, i + 1, close - i - 1).append("</code>");
        i = close + 1;
        continue;
      }
    }
    if (escaped.compare(i, 2, "**") == 0) {
      size_t close = escaped.find("**", i + 2);
      if (close != std::string::npos && close > i + 2) {
        out.append("<strong>").append(escaped, i + 2, close - i - 2).append("</strong>");
        i = close + 2;
        continue;
      }
    }
    out.push_back(escaped[i]);
    ++i;
  }
  return out;
}

// Paragraphs (split on blank lines); line breaks inside a paragraph are kept by CSS.
std::string DocHtml(const std::string& text) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find("\n\n", start);
    if (end == std::string::npos) end = text.size();
    std::string_view paragraph = std::string_view(text).substr(start, end - start);
    if (!paragraph.empty()) out.append("<p>").append(InlineHtml(paragraph)).append("</p>\n");
    start = end + 2;
  }
  return out;
}

std::string SchemaName(const Json& schema) {
  std::string ref = schema.value("$ref", "");
  return ref.substr(std::string_view(kSchemaRef).size());
}

std::string ShortName(const std::string& full_name) {
  size_t dot = full_name.rfind('.');
  return dot == std::string::npos ? full_name : full_name.substr(dot + 1);
}

// `<table><thead>` with one column header per name, then `<tbody>`.
std::string TableHead(std::initializer_list<std::string_view> columns) {
  std::string out = "<table>\n<thead><tr>";
  for (std::string_view column : columns) {
    out.append("<th scope=\"col\">").append(column).append("</th>");
  }
  return out + "</tr></thead>\n<tbody>\n";
}

std::string SchemaLink(const std::string& name) {
  return "<a href=\"#schema-" + Html(name) + "\">" + Html(name) + "</a>";
}

// A short human description of a schema's type, with links to message schemas.
std::string TypeHtml(const Json& schema) {
  if (schema.contains("$ref")) return SchemaLink(SchemaName(schema));
  if (schema.contains("allOf") && schema["allOf"].size() == 1) return TypeHtml(schema["allOf"][0]);
  std::string type = schema.value("type", "");
  std::string out;
  if (type == "array") {
    out = "array of " + TypeHtml(schema.value("items", Json::object()));
  } else if (type == "object" && schema.contains("additionalProperties") &&
             schema["additionalProperties"].is_object()) {
    out = "map of " + Html(schema.value("x-aurora-map-key", "string")) + " to " +
          TypeHtml(schema["additionalProperties"]);
  } else if (schema.contains("enum")) {
    std::string values;
    for (const Json& value : schema["enum"]) {
      if (!values.empty()) values.append(" | ");
      values.append(Html(value.get<std::string>()));
    }
    out = "enum " + Html(ShortName(schema.value("title", ""))) + " <span class=\"values\">(" +
          values + ")</span>";
  } else if (type.empty()) {
    out = "any JSON value";
  } else {
    out = Html(type);
    if (schema.contains("format")) out += " (" + Html(schema["format"].get<std::string>()) + ")";
    if (schema.contains("minimum") && schema.contains("maximum")) {
      out += " " + schema["minimum"].dump() + "…" + schema["maximum"].dump();
    }
    if (schema.contains("title")) {
      out += " <span class=\"values\">" + Html(schema["title"].get<std::string>()) + "</span>";
    }
  }
  if (schema.value("nullable", false)) out += " or null";
  return out;
}

// The descriptions of a field or parameter schema: its own, then its element's (enum values).
std::string SchemaDoc(const Json& schema) {
  std::string doc = schema.value("description", "");
  if (schema.contains("items") && schema["items"].is_object()) {
    AppendParagraph(&doc, schema["items"].value("description", ""));
  }
  if (schema.contains("pattern")) {
    AppendParagraph(&doc, "Pattern: `" + schema["pattern"].get<std::string>() + "`");
  }
  return doc;
}

constexpr char kStyle[] = R"css(
:root{--fg:#1d232b;--muted:#5b6675;--line:#d9dee5;--bg:#fff;--code:#f2f4f7;--accent:#0b5cad}
*{box-sizing:border-box}
body{margin:0;
font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--fg);background:var(--bg)}
header{padding:1.5rem 2rem;border-bottom:1px solid var(--line);background:#f7f9fb}
header h1{margin:0 0 .25rem}
.layout{display:flex;align-items:flex-start}
nav{position:sticky;top:0;flex:0 0 19rem;max-height:100vh;overflow:auto;padding:1rem 1.25rem;
border-right:1px solid var(--line);font-size:13px}
nav ul{list-style:none;padding-left:.75rem;margin:.25rem 0}
nav>ul{padding-left:0}
main{flex:1;min-width:0;padding:1rem 2rem 4rem;max-width:72rem}
a{color:var(--accent);text-decoration:none}
a:hover{text-decoration:underline}
code{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--code);
padding:.05rem .3rem;border-radius:3px}
.doc p,td p{white-space:pre-line}
section.op{border:1px solid var(--line);border-radius:6px;padding:.5rem 1rem 1rem;margin:1rem 0}
section.op h3{font-size:16px;margin:.5rem 0}
.verb{display:inline-block;min-width:4.5em;text-align:center;
font:600 12px/1.8 ui-monospace,monospace;color:#fff;border-radius:3px;background:#6b7280;
margin-right:.25rem}
.verb-get{background:#1f7a44}.verb-post{background:#0b5cad}.verb-put{background:#8a5a00}
.verb-patch{background:#6a3fa0}.verb-delete{background:#b42318}
.summary{font-weight:600}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem;color:var(--muted);
font-size:13px}
dl.meta dt{font-weight:600}dl.meta dd{margin:0}
table{border-collapse:collapse;width:100%;margin:.5rem 0;font-size:14px}
th,td{border:1px solid var(--line);padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f7f9fb}
td p{margin:0 0 .4rem}
.values{color:var(--muted);font-size:12px}
.badge{display:inline-block;font-size:11px;border:1px solid var(--line);border-radius:3px;
padding:0 .3rem;margin-left:.3rem;color:var(--muted)}
.schema{margin:1.5rem 0}
@media (max-width:800px){.layout{display:block}nav{position:static;max-height:none;border-right:0}}
)css";

class DocsPage {
 public:
  DocsPage(const Json& doc, const OpenApiInfo& info) : doc_(doc), info_(info) {}

  std::string Render() {
    const std::string title = doc_["info"]["title"].get<std::string>();
    out_ =
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>" +
        Html(title) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n";
    out_ += "<header>\n<h1>" + Html(title) + "</h1>\n<p>Version " +
            Html(doc_["info"]["version"].get<std::string>()) + ".";
    if (!info_.document_url.empty()) {
      out_ += " Machine-readable: <a href=\"" + Html(info_.document_url) +
              "\">OpenAPI 3.0 document</a>.";
    }
    out_ += "</p>\n";
    if (!info_.description.empty())
      out_ += "<div class=\"doc\">" + DocHtml(info_.description) + "</div>\n";
    out_ += "</header>\n<div class=\"layout\">\n";
    Collect();
    Contents();
    out_ += "<main>\n";
    Conventions();
    for (const Service& service : services_) ServiceSection(service);
    Schemas();
    out_ += "</main>\n</div>\n</body>\n</html>\n";
    return std::move(out_);
  }

 private:
  struct Op {
    std::string method;  // upper case
    std::string path;
    const Json* operation;
    std::string note;  // HTML: why the operation is not in `paths`
  };
  struct Service {
    std::string name;
    const Json* tag;
    std::vector<Op> ops;
  };

  void Collect() {
    for (const Json& tag : doc_["tags"])
      services_.push_back({tag["name"].get<std::string>(), &tag, {}});
    auto add = [&](Op op) {
      const std::string tag = (*op.operation)["tags"][0].get<std::string>();
      for (Service& service : services_) {
        if (service.name == tag) service.ops.push_back(std::move(op));
      }
    };
    for (const auto& [path, item] : doc_["paths"].items()) {
      for (const auto& [method, operation] : item.items()) {
        std::string upper = method;
        for (char& c : upper) c = static_cast<char>(c - 'a' + 'A');
        add({upper, path, &operation, ""});
      }
    }
    if (doc_.contains("x-aurora-custom-methods")) {
      for (const Json& entry : doc_["x-aurora-custom-methods"]) {
        const std::string method = entry["method"].get<std::string>();
        add({method, entry["path"].get<std::string>(), &entry["operation"],
             "OpenAPI 3.0 cannot describe the HTTP method " + Html(method) +
                 "; the document lists it under <code>x-aurora-custom-methods</code>."});
      }
    }
    if (doc_.contains("x-aurora-shadowed-routes")) {
      for (const Json& entry : doc_["x-aurora-shadowed-routes"]) {
        add({entry["method"].get<std::string>(), entry["template"].get<std::string>(),
             &entry["operation"],
             "Its OpenAPI path <code>" + Html(entry["path"].get<std::string>()) +
                 "</code> is taken by another operation with the same method; the document lists "
                 "it under <code>x-aurora-shadowed-routes</code>."});
      }
    }
  }

  static std::string OpId(const Op& op) {
    return "op-" + Html((*op.operation)["operationId"].get<std::string>());
  }

  static std::string Verb(const std::string& method) {
    return "<span class=\"verb verb-" + Html(Lower(method)) + "\">" + Html(method) + "</span>";
  }

  void Contents() {
    out_ +=
        "<nav aria-label=\"Contents\">\n<ul>\n<li><a href=\"#conventions\">Conventions</a>"
        "<ul><li><a href=\"#errors\">Errors</a></li><li><a href=\"#streaming\">Streaming"
        "</a></li><li><a href=\"#authentication\">Authentication</a></li></ul></li>\n";
    for (const Service& service : services_) {
      out_ += "<li><a href=\"#service-" + Html(service.name) + "\">" + Html(service.name) +
              "</a>\n<ul>\n";
      for (const Op& op : service.ops) {
        out_ += "<li><a href=\"#" + OpId(op) + "\">" + Html(op.method) + " " + Html(op.path) +
                "</a></li>\n";
      }
      out_ += "</ul></li>\n";
    }
    out_ += "<li><a href=\"#schemas\">Schemas</a>\n<ul>\n";
    for (const auto& [name, schema] : doc_["components"]["schemas"].items()) {
      out_ += "<li>" + SchemaLink(name) + "</li>\n";
    }
    out_ += "</ul></li>\n</ul>\n</nav>\n";
  }

  void Conventions() {
    out_ += R"html(<section id="conventions">
<h2>Conventions</h2>
<p>Every operation is a gRPC method served over HTTP/JSON by the gateway, described from the same
descriptors that route the requests.</p>
<ul>
<li>Responses use the proto field names (<code>snake_case</code>) and print every field without
presence, also when it holds its default (<code>0</code>, <code>""</code>, <code>false</code>,
<code>[]</code>, <code>{}</code>); <code>optional</code> and oneof fields appear only when set.
Requests accept proto names and lowerCamelCase names.</li>
<li>Enums are their value names; 64-bit integers are decimal strings; bytes are base64; float and
double fields may also be <code>"NaN"</code>, <code>"Infinity"</code> or
<code>"-Infinity"</code>.</li>
<li>Timestamp is RFC 3339 (<code>"2024-05-01T12:00:00Z"</code>); Duration is seconds with the suffix
<code>s</code> (<code>"1.5s"</code>); FieldMask is comma-separated lowerCamelCase paths; wrappers
are their value or <code>null</code>; Struct, Value and ListValue are plain JSON; Any is an object
with <code>"@type"</code>.</li>
<li>Operations with strict JSON typing take every body value only in its field's own JSON type:
numbers (64-bit integers included) as JSON numbers, integers without a fraction or exponent,
booleans as <code>true</code> or <code>false</code>, no <code>null</code> except for Value and
Struct. Anything else is rejected with 400 naming the field.</li>
<li>Path variables set (nested) request fields. A variable spanning several segments (e.g.
<code>shelves/*/books/*</code>) is sent with its slashes unescaped. Query parameters set the other
fields by dotted path (<code>page.page_size=10</code>); repeat the key for a repeated field; an
unknown parameter is rejected with 400.</li>
</ul>
<h3 id="errors">Errors</h3>
<p>Every error body is a <a href="#schema-google.rpc.Status">google.rpc.Status</a>: <code>{"code":
&lt;gRPC code&gt;, "message": &lt;text&gt;, "details": [&lt;Any&gt;…]}</code>. The HTTP status
follows the gRPC code:</p>
<table>
<thead><tr><th scope="col">gRPC code</th><th scope="col">HTTP status</th></tr></thead>
<tbody>
<tr><td>INVALID_ARGUMENT (3), FAILED_PRECONDITION (9), OUT_OF_RANGE (11)</td><td>400</td></tr>
<tr><td>UNAUTHENTICATED (16)</td><td>401, with <code>WWW-Authenticate</code></td></tr>
<tr><td>PERMISSION_DENIED (7)</td><td>403</td></tr>
<tr><td>NOT_FOUND (5)</td><td>404</td></tr>
<tr><td>ALREADY_EXISTS (6), ABORTED (10)</td><td>409</td></tr>
<tr><td>RESOURCE_EXHAUSTED (8)</td><td>429, with <code>Retry-After</code></td></tr>
<tr><td>CANCELLED (1)</td><td>499</td></tr>
<tr><td>UNIMPLEMENTED (12)</td><td>501</td></tr>
<tr><td>UNAVAILABLE (14)</td><td>503, with <code>Retry-After</code></td></tr>
<tr><td>DEADLINE_EXCEEDED (4)</td><td>504</td></tr>
<tr><td>UNKNOWN (2), INTERNAL (13), DATA_LOSS (15)</td><td>500</td></tr>
</tbody>
</table>
<p>A successful answer is 200, or another status from 200 to 399 that the service chose (a
redirection with <code>Location</code>).</p>
<h3 id="streaming">Streaming</h3>
<p>A server-streaming operation answers with newline-delimited JSON
(<code>application/x-ndjson</code>): one message per line, flushed as it arrives. An error after the
first message cannot change the HTTP status; it ends the stream with the line <code>{"error":
&lt;google.rpc.Status&gt;}</code>. With <code>Accept: text/event-stream</code> the same records
arrive as Server-Sent Events (<code>data: &lt;JSON&gt;</code>, one event per message).</p>
<p>A client-streaming operation takes its messages as a JSON array or as newline-delimited JSON, one
message per line.</p>
<h3 id="authentication">Authentication</h3>
<ul>
<li><strong>apiClient</strong>: HTTP Basic with an API client's id as the user name and its secret
as the password.</li>
<li><strong>bearer</strong>: <code>Authorization: Bearer &lt;token&gt;</code>, forwarded to the
service, which verifies it.</li>
</ul>
<p>Without valid credentials the answer is 401 with a <code>WWW-Authenticate</code> header.</p>
</section>
)html";
  }

  void ServiceSection(const Service& service) {
    out_ += "<section id=\"service-" + Html(service.name) + "\">\n<h2>" + Html(service.name) +
            "</h2>\n";
    if (service.tag->contains("x-aurora-grpc-service")) {
      out_ += "<p class=\"values\">gRPC service <code>" +
              Html((*service.tag)["x-aurora-grpc-service"].get<std::string>()) + "</code></p>\n";
    }
    if (service.tag->contains("description")) {
      out_ += "<div class=\"doc\">" + DocHtml((*service.tag)["description"].get<std::string>()) +
              "</div>\n";
    }
    for (const Op& op : service.ops) Operation(op);
    out_ += "</section>\n";
  }

  static std::string AuthHtml(const Json& operation) {
    if (!operation.contains("security")) return "none";
    std::string out;
    for (const Json& requirement : operation["security"]) {
      for (const auto& [scheme, scopes] : requirement.items()) {
        if (!out.empty()) out += " or ";
        if (scheme == kApiClientScheme) {
          out += "<a href=\"#authentication\">apiClient</a> (HTTP Basic: API client id and secret)";
        } else if (scheme == kBearerScheme) {
          out += "<a href=\"#authentication\">bearer</a> (Authorization: Bearer token)";
        } else {
          out += Html(scheme);
        }
      }
    }
    return out;
  }

  void Operation(const Op& op) {
    const Json& operation = *op.operation;
    out_ += "<section class=\"op\" id=\"" + OpId(op) + "\">\n<h3>" + Verb(op.method) + " <code>" +
            Html(op.path) + "</code></h3>\n";
    if (operation.contains("summary")) {
      out_ +=
          "<p class=\"summary\">" + InlineHtml(operation["summary"].get<std::string>()) + "</p>\n";
    }
    out_ += "<dl class=\"meta\">\n<dt>RPC</dt><dd><code>" +
            Html(operation.value("x-aurora-grpc-method", "")) + "</code></dd>\n";
    out_ += "<dt>Operation id</dt><dd><code>" + Html(operation["operationId"].get<std::string>()) +
            "</code></dd>\n";
    out_ += "<dt>Authentication</dt><dd>" + AuthHtml(operation) + "</dd>\n";
    if (operation.contains("x-aurora-streaming")) {
      out_ += "<dt>Streaming</dt><dd><a href=\"#streaming\">" +
              Html(operation["x-aurora-streaming"].get<std::string>()) + "</a></dd>\n";
    }
    if (operation.contains("x-aurora-default-timeout-ms")) {
      out_ += "<dt>Default deadline</dt><dd>" +
              std::to_string(operation["x-aurora-default-timeout-ms"].get<int64_t>()) +
              " ms</dd>\n";
    }
    if (operation.value("x-aurora-strict-json", false)) {
      out_ += "<dt>JSON typing</dt><dd><a href=\"#conventions\">strict</a></dd>\n";
    }
    if (!op.note.empty()) out_ += "<dt>Note</dt><dd>" + op.note + "</dd>\n";
    out_ += "</dl>\n";
    if (operation.contains("description")) {
      out_ +=
          "<div class=\"doc\">" + DocHtml(operation["description"].get<std::string>()) + "</div>\n";
    }
    if (operation.contains("parameters")) {
      out_ +=
          "<h4>Parameters</h4>\n" + TableHead({"Name", "In", "Type", "Required", "Description"});
      for (const Json& parameter : operation["parameters"]) {
        std::string doc = parameter.value("description", "");
        AppendParagraph(&doc, SchemaDoc(parameter["schema"]));
        out_ += "<tr><td><code>" + Html(parameter["name"].get<std::string>()) + "</code></td><td>" +
                Html(parameter["in"].get<std::string>()) + "</td><td>" +
                TypeHtml(parameter["schema"]) + "</td><td>" +
                (parameter.value("required", false) ? "yes" : "no") + "</td><td>" + DocHtml(doc) +
                "</td></tr>\n";
      }
      out_ += "</tbody>\n</table>\n";
    }
    if (operation.contains("requestBody")) {
      const Json& body = operation["requestBody"];
      out_ += "<h4>Request body" +
              std::string(body.value("required", false) ? " <span class=\"badge\">required</span>"
                                                        : "") +
              "</h4>\n";
      ContentTable(body["content"]);
      out_ += "<div class=\"doc\">" + DocHtml(body.value("description", "")) + "</div>\n";
    }
    out_ += "<h4>Responses</h4>\n" + TableHead({"Status", "Content type", "Body", "Description"});
    for (const auto& [status, response] : operation["responses"].items()) {
      std::string doc = response.value("description", "");
      if (response.contains("headers")) {
        for (const auto& [header, spec] : response["headers"].items()) {
          AppendParagraph(&doc, "Header `" + header + "`: " + spec.value("description", ""));
        }
      }
      // One row per content type; the status and description span them.
      const std::string rows = std::to_string(response["content"].size());
      bool first = true;
      for (const auto& [type, media] : response["content"].items()) {
        out_ += "<tr>";
        if (first) out_ += "<td rowspan=\"" + rows + "\">" + Html(status) + "</td>";
        out_ +=
            "<td><code>" + Html(type) + "</code></td><td>" + TypeHtml(media["schema"]) + "</td>";
        if (first) out_ += "<td rowspan=\"" + rows + "\">" + DocHtml(doc) + "</td>";
        out_ += "</tr>\n";
        first = false;
      }
    }
    out_ += "</tbody>\n</table>\n</section>\n";
  }

  void ContentTable(const Json& content) {
    out_ += TableHead({"Content type", "Body"});
    for (const auto& [type, media] : content.items()) {
      out_ += "<tr><td><code>" + Html(type) + "</code></td><td>" + TypeHtml(media["schema"]) +
              "</td></tr>\n";
    }
    out_ += "</tbody>\n</table>\n";
  }

  void Schemas() {
    out_ += "<section id=\"schemas\">\n<h2>Schemas</h2>\n";
    for (const auto& [name, schema] : doc_["components"]["schemas"].items()) {
      out_ += "<section class=\"schema\" id=\"schema-" + Html(name) + "\">\n<h3>" + Html(name) +
              "</h3>\n";
      if (schema.contains("description")) {
        out_ +=
            "<div class=\"doc\">" + DocHtml(schema["description"].get<std::string>()) + "</div>\n";
      }
      if (!schema.contains("properties")) {
        out_ += "<p>No fields: <code>{}</code>.</p>\n</section>\n";
        continue;
      }
      std::set<std::string> required;
      if (schema.contains("required")) {
        for (const Json& field : schema["required"]) required.insert(field.get<std::string>());
      }
      out_ += TableHead({"Field", "Type", "Description"});
      for (const auto& [field, property] : schema["properties"].items()) {
        std::string badges;
        if (required.count(field) > 0) badges += "<span class=\"badge\">required</span>";
        if (property.value("readOnly", false)) badges += "<span class=\"badge\">output only</span>";
        if (property.value("writeOnly", false)) badges += "<span class=\"badge\">input only</span>";
        if (property.value("deprecated", false))
          badges += "<span class=\"badge\">deprecated</span>";
        out_ += "<tr><td><code>" + Html(field) + "</code>" + badges + "</td><td>" +
                TypeHtml(property) + "</td><td>" + DocHtml(SchemaDoc(property)) + "</td></tr>\n";
      }
      out_ += "</tbody>\n</table>\n</section>\n";
    }
    out_ += "</section>\n";
  }

  const Json& doc_;
  const OpenApiInfo& info_;
  std::vector<Service> services_;
  std::string out_;
};

}  // namespace

std::string RenderDocsPage(const Json& doc, const OpenApiInfo& info) {
  return DocsPage(doc, info).Render();
}

}  // namespace aurora::gateway::openapi_internal
