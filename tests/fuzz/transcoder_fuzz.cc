// libFuzzer target for gateway/transcoder and gateway/route_table: RouteTable::Find and
// Transcoder::BuildRequests (path bindings, query parameters and JSON bodies into the upstream
// request) on the contracts compiled into the binary (ContractSet::BuiltIn(), the directory API).
//
// Input: one byte, then three parts separated by the first two '\n':
//   byte 0      a route: routes()[byte % routes().size()]
//   line 1      a request path, looked up with RouteTable::Find for that route's HTTP method;
//               when it matches, the route it finds and its bindings are used, else the chosen
//               route with every path variable bound to the line itself (any bytes)
//   line 2      the query string (without '?')
//   the rest    the body (may hold newlines)
//
// Invariants (a broken one prints what broke and calls __builtin_trap()):
//   * Find: a match has the route's method and one binding per path variable, named as in the
//     template; otherwise the allowed methods are sorted, unique and do not include the method;
//   * BuildRequests returns OK or INVALID_ARGUMENT (with a message), nothing else;
//   * on OK: one request unless the route is client-streaming; every request parses as the route's
//     input type; path values win (a string leaf bound by the path holds the path value); the
//     top-level fields set come only from the path, the query keys and the body as the rule
//     allows (a body bound to one field sets only that field, and is on its own a valid JSON
//     value of that field's type, equal to what the request holds); the request prints as JSON
//     (json_printer), and for a `body: "*"` route that JSON sent back as the body gives the same
//     message again.

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "gateway/json_printer.h"
#include "gateway/route_table.h"
#include "gateway/transcoder.h"
#include "fuzz_check.h"

namespace aurora::gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

struct Fixture {
  std::unique_ptr<ContractSet> contracts;
  std::unique_ptr<RouteTable> routes;
  std::unique_ptr<Transcoder> transcoder;
};

const Fixture& GetFixture() {
  static const Fixture* const fixture = [] {
    auto* f = new Fixture;
    absl::StatusOr<std::unique_ptr<ContractSet>> contracts = ContractSet::BuiltIn();
    FUZZ_CHECK(contracts.ok());
    f->contracts = *std::move(contracts);
    absl::StatusOr<RouteTable> routes = RouteTable::Build(f->contracts->services());
    FUZZ_CHECK(routes.ok());
    FUZZ_CHECK(!routes->routes().empty());
    f->routes = std::make_unique<RouteTable>(*std::move(routes));
    f->transcoder = std::make_unique<Transcoder>(f->contracts.get());
    return f;
  }();
  return *fixture;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A query key decoded ('+' is a space, %XX an escape; a malformed escape is kept as is: such a
// key is refused anyway).
std::string DecodeKey(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out.push_back(' ');
    } else if (text[i] == '%' && i + 2 < text.size() && HexValue(text[i + 1]) >= 0 &&
               HexValue(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// The top-level fields of `type` that the query may have named: the first dotted part of every
// key, by proto name or JSON name.
std::set<const FieldDescriptor*> QueryFields(const Descriptor* type, std::string_view query) {
  std::set<const FieldDescriptor*> fields;
  while (true) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const std::string key = DecodeKey(pair.substr(0, pair.find('=')));
    const std::string first = key.substr(0, key.find('.'));
    if (const FieldDescriptor* f = type->FindFieldByName(first)) fields.insert(f);
    for (int i = 0; i < type->field_count(); ++i) {
      if (type->field(i)->json_name() == first) fields.insert(type->field(i));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return fields;
}

void CheckFind(const RouteTable& table, std::string_view method, std::string_view path,
               const RouteTable::Lookup& found) {
  if (found.route == nullptr) {
    FUZZ_CHECK(found.bindings.empty());
    const std::vector<std::string>& allowed = found.allowed_methods;
    FUZZ_CHECK(std::is_sorted(allowed.begin(), allowed.end()));
    FUZZ_CHECK(std::adjacent_find(allowed.begin(), allowed.end()) == allowed.end());
    FUZZ_CHECK(std::find(allowed.begin(), allowed.end(), method) == allowed.end());
    for (const std::string& m : allowed) FUZZ_CHECK(table.Find(m, path).route != nullptr);
    return;
  }
  FUZZ_CHECK(found.allowed_methods.empty());
  FUZZ_CHECK(found.route->http_method == method);
  FUZZ_CHECK(found.route >= table.routes().data() &&
             found.route < table.routes().data() + table.routes().size());
  const std::vector<TemplateVariable>& variables = found.route->path.variables();
  FUZZ_CHECK(found.bindings.size() == variables.size());
  FUZZ_CHECK(found.route->path_fields.size() == variables.size());
  for (size_t i = 0; i < variables.size(); ++i) {
    FUZZ_CHECK(found.bindings[i].field_path == variables[i].field_path);
  }
}

// The checks on a request BuildRequests produced.
void CheckRequest(const Fixture& f, const Route& route, const std::vector<PathBinding>& bindings,
                  std::string_view query, std::string_view serialized) {
  const Descriptor* type = route.method->input_type();
  std::unique_ptr<Message> request(f.contracts->Prototype(type)->New());
  FUZZ_CHECK(request->ParseFromString(std::string(serialized)));

  // Path values win over the body and the query.
  for (size_t i = 0; i < bindings.size(); ++i) {
    const FieldPath& path = route.path_fields[i];
    const Message* holder = request.get();
    for (size_t j = 0; j + 1 < path.size(); ++j) {
      holder = &holder->GetReflection()->GetMessage(*holder, path[j]);
    }
    const FieldDescriptor* leaf = path.back();
    if (leaf->is_repeated() || leaf->type() != FieldDescriptor::TYPE_STRING) continue;
    FUZZ_CHECK(holder->GetReflection()->GetString(*holder, leaf) == bindings[i].value);
  }

  // Where the top-level fields came from.
  if (route.body != "*") {
    std::set<const FieldDescriptor*> allowed = QueryFields(type, query);
    for (const FieldPath& path : route.path_fields) allowed.insert(path.front());
    if (route.body_field != nullptr) allowed.insert(route.body_field);
    std::vector<const FieldDescriptor*> set;
    request->GetReflection()->ListFields(*request, &set);
    for (const FieldDescriptor* field : set) {
      if (!allowed.contains(field)) {
        std::fprintf(stderr, "field %s is set, but neither the path, the query nor the body "
                     "(%s) may set it\n", field->full_name().c_str(), route.body.c_str());
      }
      FUZZ_CHECK(allowed.contains(field));
    }
  }

  std::string json;
  const absl::Status printed = f.transcoder->MessageJson(type, serialized, &json);
  FUZZ_CHECK(printed.ok());

  // body "*": the printed JSON is a body that gives the same message.
  if (route.body == "*" && !route.client_streaming) {
    std::vector<std::string> again;
    const absl::Status status =
        f.transcoder->BuildRequests(route, bindings, "", json, "application/json", &again);
    if (!status.ok()) {
      std::fprintf(stderr, "printed JSON %s refused: %s\n", json.c_str(),
                   std::string(status.message()).c_str());
    }
    FUZZ_CHECK(status.ok());
    FUZZ_CHECK(again.size() == 1);
    std::unique_ptr<Message> reparsed(f.contracts->Prototype(type)->New());
    FUZZ_CHECK(reparsed->ParseFromString(again[0]));
    if (!google::protobuf::util::MessageDifferencer::Equals(*request, *reparsed)) {
      std::fprintf(stderr, "JSON round trip differs:\n%s\n%s\n", request->DebugString().c_str(),
                   reparsed->DebugString().c_str());
    }
    FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(*request, *reparsed));
  }
}

constexpr char kBlank[] = " \t\r\n";

bool IsBlank(std::string_view text) { return text.find_first_not_of(kBlank) == std::string_view::npos; }

// A body bound to one message field (`body: "service"`) is that field's JSON and nothing else: it
// parses on its own as the field's type, to the value the request holds (path values aside).
void CheckNamedBody(const Fixture& f, const Route& route, std::string_view body,
                    std::string_view serialized) {
  const FieldDescriptor* field = route.body_field;
  if (field == nullptr || IsBlank(body) || field->is_repeated() ||
      field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE ||
      field->message_type()->full_name() == "google.api.HttpBody") {
    return;
  }
  // JSON null is the field's default (unset), but protobuf's parser takes no null at the root.
  std::string_view trimmed = body.substr(body.find_first_not_of(kBlank));
  trimmed = trimmed.substr(0, trimmed.find_last_not_of(kBlank) + 1);
  std::string binary;
  const auto parsed =
      trimmed == "null"
          ? google::protobuf::util::Status()
          : google::protobuf::util::JsonToBinaryString(f.contracts->type_resolver(),
                                                       ContractSet::TypeUrl(field->message_type()),
                                                       std::string(body), &binary);
  if (!parsed.ok()) {
    std::fprintf(stderr, "the body is accepted as field %s, but on its own it is not a %s: %s\n",
                 field->name().c_str(), field->message_type()->full_name().c_str(),
                 std::string(parsed.message()).c_str());
  }
  FUZZ_CHECK(parsed.ok());
  std::unique_ptr<Message> alone(f.contracts->Prototype(field->message_type())->New());
  FUZZ_CHECK(alone->ParseFromString(binary));
  std::unique_ptr<Message> request(f.contracts->Prototype(route.method->input_type())->New());
  FUZZ_CHECK(request->ParseFromString(std::string(serialized)));
  const Message& held = request->GetReflection()->GetMessage(*request, field);
  google::protobuf::util::MessageDifferencer differencer;
  for (const FieldPath& path : route.path_fields) {
    if (path.size() > 1 && path.front() == field) differencer.IgnoreField(path.back());
  }
  if (!differencer.Compare(*alone, held)) {
    std::fprintf(stderr, "the body alone:\n%s\nthe field in the request:\n%s\n",
                 alone->DebugString().c_str(), held.DebugString().c_str());
  }
  FUZZ_CHECK(differencer.Compare(*alone, held));
}

void RunOne(const uint8_t* data, size_t size) {
  if (size < 1) return;
  const Fixture& f = GetFixture();
  const std::vector<Route>& routes = f.routes->routes();
  const Route* route = &routes[data[0] % routes.size()];
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t nl1 = rest.find('\n');
  const std::string_view path = rest.substr(0, nl1);
  rest = nl1 == std::string_view::npos ? std::string_view() : rest.substr(nl1 + 1);
  const size_t nl2 = rest.find('\n');
  const std::string_view query = rest.substr(0, nl2);
  const std::string_view body =
      nl2 == std::string_view::npos ? std::string_view() : rest.substr(nl2 + 1);

  RouteTable::Lookup found = f.routes->Find(route->http_method, path);
  CheckFind(*f.routes, route->http_method, path, found);
  std::vector<PathBinding> bindings;
  if (found.route != nullptr) {
    route = found.route;
    bindings = std::move(found.bindings);
  } else {
    for (const TemplateVariable& v : route->path.variables()) {
      bindings.push_back(PathBinding{v.field_path, std::string(path)});
    }
  }

  std::vector<std::string> requests;
  const absl::Status status =
      f.transcoder->BuildRequests(*route, bindings, query, body, "application/json", &requests);
  if (!status.ok()) {
    if (status.code() != absl::StatusCode::kInvalidArgument) {
      std::fprintf(stderr, "BuildRequests: %s\n", status.ToString().c_str());
    }
    FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    FUZZ_CHECK(!status.message().empty());
    return;
  }
  if (!route->client_streaming) FUZZ_CHECK(requests.size() == 1);
  for (const std::string& request : requests) CheckRequest(f, *route, bindings, query, request);
  if (!route->client_streaming) CheckNamedBody(f, *route, body, requests[0]);
}

}  // namespace
}  // namespace aurora::gateway

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  aurora::gateway::RunOne(data, size);
  return 0;
}
