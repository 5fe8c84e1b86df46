// libFuzzer target for the gateway's JSON -> protobuf request parsing (gateway/transcoder with
// gateway/strict_json) and its protobuf -> JSON printer (gateway/json_printer), on the request
// message of every gRPC method of the contracts compiled into the binary: every method of every
// service in the files of ContractSet::BuiltIn() (directory, recommender, compat, profile, network,
// including the methods without a google.api.http rule).
//
// Input: one byte, then the JSON body:
//   byte 0      the request type: types[byte % types.size()], where types are the distinct input
//               types of those methods sorted by full name (AURORA_FUZZ_LIST_TYPES=1 in the
//               environment prints the list; the seeds' first bytes follow it, so a change to the
//               contracts only remaps them to other types)
//   the rest    the body
// The body goes through Transcoder::BuildRequests on a `body: "*"` route of a method taking that
// type, twice: once as a lax route and once with strict_json (CheckStrictJson before protobuf's
// parser), whatever the method's own rule says.
//
// Invariants (a broken one prints what broke and calls __builtin_trap()):
//   * both parses return OK or INVALID_ARGUMENT with a message that starts with "request body";
//   * strict OK implies lax OK, with an equal message (strict typing only refuses, never changes);
//   * on OK: the request parses as the type and prints as JSON (AppendMessageJson) unless it nests
//     deeper than the printer's 100 levels (json_printer.h: then INVALID_ARGUMENT; a
//     google.protobuf.Struct level is two message levels, so a body within the gateway's 100 JSON
//     levels can get there), and that JSON sent back as the body (lax) gives an equal message
//     (MessageDifferencer, NaN equal to NaN); every Timestamp in it is within years 1..9999 (this
//     found times that only their UTC offset took out of that range; the transcoder refuses them).

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/field_comparator.h>
#include <google/protobuf/util/message_differencer.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
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
using google::protobuf::MethodDescriptor;
using google::protobuf::Reflection;

constexpr int kPrinterMaxDepth = 100;                   // json_printer.cc's kMaxDepth
constexpr int64_t kMinTimestampSeconds = -62135596800;  // 0001-01-01T00:00:00Z
constexpr int64_t kMaxTimestampSeconds = 253402300799;  // 9999-12-31T23:59:59Z

// One request type and the two `body: "*"` routes its JSON is parsed on.
struct RequestType {
  const Descriptor* type = nullptr;
  Route lax;
  Route strict;
};

struct Fixture {
  std::unique_ptr<ContractSet> contracts;
  std::unique_ptr<Transcoder> transcoder;
  std::vector<RequestType> types;
};

Route BodyStarRoute(const MethodDescriptor* method, bool strict) {
  Route route;
  route.http_method = "POST";
  route.path_text = "/fuzz";
  route.method = method;
  route.grpc_method = "/" + method->service()->full_name() + "/" + method->name();
  route.body = "*";
  route.strict_json = strict;
  route.label = "POST /fuzz";
  return route;
}

const Fixture& GetFixture() {
  static const Fixture* const fixture = [] {
    auto* f = new Fixture;
    // protobuf logs an ERROR line for every string that is not UTF-8, which is most inputs.
    google::protobuf::SetLogHandler(nullptr);
    absl::StatusOr<std::unique_ptr<ContractSet>> contracts = ContractSet::BuiltIn();
    FUZZ_CHECK(contracts.ok());
    f->contracts = *std::move(contracts);
    f->transcoder = std::make_unique<Transcoder>(f->contracts.get());

    // Every method of every service in the files that hold the gateway's services, by input type
    // (the first method by full name stands for the type).
    std::map<std::string, const MethodDescriptor*> by_type;
    std::vector<const google::protobuf::FileDescriptor*> files;
    for (const auto* service : f->contracts->services()) {
      if (std::find(files.begin(), files.end(), service->file()) == files.end()) {
        files.push_back(service->file());
      }
    }
    for (const auto* file : files) {
      for (int s = 0; s < file->service_count(); ++s) {
        for (int m = 0; m < file->service(s)->method_count(); ++m) {
          const MethodDescriptor* method = file->service(s)->method(m);
          auto [it, inserted] = by_type.emplace(method->input_type()->full_name(), method);
          if (!inserted && method->full_name() < it->second->full_name()) it->second = method;
        }
      }
    }
    FUZZ_CHECK(!by_type.empty());
    for (const auto& [name, method] : by_type) {
      f->types.push_back(RequestType{method->input_type(), BodyStarRoute(method, false),
                                     BodyStarRoute(method, true)});
    }
    if (std::getenv("AURORA_FUZZ_LIST_TYPES") != nullptr) {
      for (size_t i = 0; i < f->types.size(); ++i) {
        std::fprintf(stderr, "%3zu 0x%02zx %s\n", i, i, f->types[i].type->full_name().c_str());
      }
    }
    return f;
  }();
  return *fixture;
}

// The deepest level json_printer's Printer::Message is called at for `message` (the root is 0;
// every message field, element or map value is one level more, the message in an Any one more).
int PrintDepth(const Fixture& f, const Message& message) {
  const Descriptor* type = message.GetDescriptor();
  const Reflection* r = message.GetReflection();
  if (type->full_name() == "google.protobuf.Any") {
    const std::string url = r->GetString(message, type->FindFieldByNumber(1));
    const size_t slash = url.rfind('/');
    const Descriptor* inner_type = f.contracts->pool().FindMessageTypeByName(
        slash == std::string::npos ? url : url.substr(slash + 1));
    if (inner_type == nullptr) return 0;
    std::unique_ptr<Message> inner(f.contracts->Prototype(inner_type)->New());
    if (!inner->ParseFromString(r->GetString(message, type->FindFieldByNumber(2)))) return 0;
    return 1 + PrintDepth(f, *inner);
  }
  int deepest = 0;
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (field->is_map()) {
      const FieldDescriptor* value = field->message_type()->FindFieldByNumber(2);
      if (value->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
      for (int i = 0; i < r->FieldSize(message, field); ++i) {
        const Message& entry = r->GetRepeatedMessage(message, field, i);
        deepest =
            std::max(deepest, 1 + PrintDepth(f, entry.GetReflection()->GetMessage(entry, value)));
      }
    } else if (field->is_repeated()) {
      for (int i = 0; i < r->FieldSize(message, field); ++i) {
        deepest = std::max(deepest, 1 + PrintDepth(f, r->GetRepeatedMessage(message, field, i)));
      }
    } else {
      deepest = std::max(deepest, 1 + PrintDepth(f, r->GetMessage(message, field)));
    }
  }
  return deepest;
}

// Whether `message` holds a google.protobuf.Timestamp outside 0001-01-01T00:00:00Z ..
// 9999-12-31T23:59:59.999999999Z, the range json_printer prints.
bool HasUnprintableTimestamp(const Message& message) {
  const Descriptor* type = message.GetDescriptor();
  const Reflection* r = message.GetReflection();
  if (type->full_name() == "google.protobuf.Timestamp") {
    const int64_t seconds = r->GetInt64(message, type->FindFieldByNumber(1));
    const int32_t nanos = r->GetInt32(message, type->FindFieldByNumber(2));
    return seconds < kMinTimestampSeconds || seconds > kMaxTimestampSeconds || nanos < 0 ||
           nanos > 999999999;
  }
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (!field->is_repeated()) {
      if (HasUnprintableTimestamp(r->GetMessage(message, field))) return true;
      continue;
    }
    for (int i = 0; i < r->FieldSize(message, field); ++i) {
      if (HasUnprintableTimestamp(r->GetRepeatedMessage(message, field, i))) return true;
    }
  }
  return false;
}

bool SameMessage(const Message& a, const Message& b) {
  google::protobuf::util::DefaultFieldComparator comparator;
  comparator.set_treat_nan_as_equal(true);
  google::protobuf::util::MessageDifferencer differencer;
  differencer.set_field_comparator(&comparator);
  return differencer.Compare(a, b);
}

std::unique_ptr<Message> Parsed(const Fixture& f, const Descriptor* type,
                                const std::string& serialized) {
  std::unique_ptr<Message> message(f.contracts->Prototype(type)->New());
  FUZZ_CHECK(message->ParseFromString(serialized));
  return message;
}

// BuildRequests on `route`; checks the status and returns the one request (empty on error).
absl::Status Build(const Fixture& f, const Route& route, std::string_view body,
                   std::string* request) {
  std::vector<std::string> requests;
  const absl::Status status =
      f.transcoder->BuildRequests(route, {}, "", body, "application/json", &requests);
  if (!status.ok()) {
    if (status.code() != absl::StatusCode::kInvalidArgument ||
        status.message().substr(0, 12) != "request body") {
      std::fprintf(stderr, "BuildRequests (%s, strict %d): %s\n",
                   route.method->input_type()->full_name().c_str(), route.strict_json,
                   status.ToString().c_str());
    }
    FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    FUZZ_CHECK(status.message().substr(0, 12) == "request body");
    return status;
  }
  FUZZ_CHECK(requests.size() == 1);
  *request = std::move(requests[0]);
  return status;
}

void RunOne(const uint8_t* data, size_t size) {
  if (size < 1) return;
  const Fixture& f = GetFixture();
  const RequestType& t = f.types[data[0] % f.types.size()];
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);

  std::string lax_bytes, strict_bytes;
  const absl::Status lax = Build(f, t.lax, body, &lax_bytes);
  const absl::Status strict = Build(f, t.strict, body, &strict_bytes);
  if (strict.ok()) {
    if (!lax.ok()) {
      std::fprintf(stderr, "strict JSON accepted what the lax parse refused: %s\n",
                   lax.ToString().c_str());
    }
    FUZZ_CHECK(lax.ok());
    FUZZ_CHECK(SameMessage(*Parsed(f, t.type, lax_bytes), *Parsed(f, t.type, strict_bytes)));
  }
  if (!lax.ok()) return;

  const std::unique_ptr<Message> request = Parsed(f, t.type, lax_bytes);
  // Every time the gateway accepts is within the JSON mapping's range (this found times taken
  // out of it by their UTC offset; the transcoder now refuses them).
  if (HasUnprintableTimestamp(*request)) {
    std::fprintf(stderr, "a %s with a time outside years 1..9999 was accepted:\n%s\n",
                 t.type->full_name().c_str(), request->DebugString().c_str());
  }
  FUZZ_CHECK(!HasUnprintableTimestamp(*request));
  std::string json;
  const absl::Status printed = AppendMessageJson(*request, f.contracts.get(), &json);
  const int depth = PrintDepth(f, *request);
  if (!printed.ok()) {
    if (depth <= kPrinterMaxDepth) {
      std::fprintf(stderr, "a parsed %s (depth %d) does not print: %s\n%s\n",
                   t.type->full_name().c_str(), depth, printed.ToString().c_str(),
                   request->DebugString().c_str());
    }
    FUZZ_CHECK(depth > kPrinterMaxDepth);
    FUZZ_CHECK(printed.code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  FUZZ_CHECK(depth <= kPrinterMaxDepth);

  std::string again_bytes;
  const absl::Status again = Build(f, t.lax, json, &again_bytes);
  if (!again.ok()) {
    std::fprintf(stderr, "the printed JSON of a parsed %s is refused: %s\nJSON: %s\n",
                 t.type->full_name().c_str(), again.ToString().c_str(), json.c_str());
  }
  FUZZ_CHECK(again.ok());
  const std::unique_ptr<Message> reparsed = Parsed(f, t.type, again_bytes);
  if (!SameMessage(*request, *reparsed)) {
    std::fprintf(stderr,
                 "JSON round trip of %s differs:\nparsed:\n%s\nprinted: %s\nreparsed:\n%s\n",
                 t.type->full_name().c_str(), request->DebugString().c_str(), json.c_str(),
                 reparsed->DebugString().c_str());
  }
  FUZZ_CHECK(SameMessage(*request, *reparsed));
}

}  // namespace
}  // namespace aurora::gateway

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  aurora::gateway::RunOne(data, size);
  return 0;
}
