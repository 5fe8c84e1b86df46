#pragma once
// Transcoder: HTTP request parts -> the upstream request message, and upstream messages -> HTTP
// bodies, for a matched Route (google/api/http.proto semantics):
//   - path variables set their (possibly nested) fields and win over the body;
//   - the body is JSON for the whole request (`body: "*"`), for one top-level field
//     (`body: "field"`), or absent; proto field names and lowerCamel JSON names are both accepted;
//     an empty body is an empty message; a google.api.HttpBody field takes the raw bytes;
//   - query parameters set leaf fields by dotted path (`page.page_size=10`, either naming form;
//     a Timestamp, Duration, FieldMask or wrapper field takes its JSON string form)
//     unless the body is "*"; a repeated field repeats the key; '+' means a space; an unknown
//     parameter, one naming a field bound by the path or the body, a repeated key for a singular
//     field, or a value of the wrong type is INVALID_ARGUMENT naming the parameter and the value;
//   - on a route with strict_json (aurora.common.v1.GatewayRule), every JSON body is checked by
//     CheckStrictJson (strict_json.h) before protobuf's parser takes it: a value of the wrong JSON
//     type ("5" for an int32, 1.5 for an integer, 0 for a bool, null) is INVALID_ARGUMENT naming
//     the field path and the value;
//   - responses print with proto field names and every field (json_printer.h), or only
//     `response_body`'s field; a google.api.HttpBody response is sent raw with its content type.
// Malformed JSON is INVALID_ARGUMENT naming the line and column.
//
// Thread-safe (no state beyond the ContractSet).

#include <google/protobuf/message.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/route_table.h"

namespace aurora::gateway {

struct HttpBody {
  std::string content_type;
  std::string data;
};

class Transcoder {
 public:
  explicit Transcoder(const ContractSet* contracts) : contracts_(contracts) {}

  // The serialized upstream request. For a client-streaming route `body` holds the messages as a
  // JSON array or as newline-delimited JSON; each becomes one element of `requests`, with the
  // path and query bindings applied to every one.
  absl::Status BuildRequests(const Route& route, const std::vector<PathBinding>& bindings,
                             std::string_view query, std::string_view body,
                             std::string_view content_type,
                             std::vector<std::string>* requests) const;

  // The HTTP body for one serialized upstream response.
  absl::Status RenderResponse(const Route& route, std::string_view response, HttpBody* out) const;

  // The JSON of a serialized message of `type`, with the printer of json_printer.h.
  absl::Status MessageJson(const google::protobuf::Descriptor* type, std::string_view serialized,
                           std::string* out) const;

  const ContractSet& contracts() const { return *contracts_; }

 private:
  // Merges `json` into `message`, after CheckStrictJson when `strict`; errors start with
  // `what`. Syntax errors are located in `original` when given (the body that `json` wraps).
  absl::Status ParseJsonInto(std::string_view json, std::string_view what,
                             google::protobuf::Message* message, bool strict,
                             std::string_view original = {}) const;
  absl::Status BindBody(const Route& route, std::string_view body, std::string_view content_type,
                        google::protobuf::Message* request) const;
  absl::Status BindQuery(const Route& route, std::string_view query,
                         google::protobuf::Message* request) const;
  // For a Timestamp, Duration, FieldMask or wrapper leaf: `value` in its JSON string form.
  absl::Status SetWellKnownFromText(google::protobuf::Message* message, const FieldPath& path,
                                    std::string_view value, std::string_view name) const;

  const ContractSet* contracts_;
};

// A value from a path or query binding, converted to `field`'s type and set (or appended, for a
// repeated field) on `message`, creating the intermediate messages of `path`. `name` is used in
// errors ("path variable \"id\"", "query parameter \"page_size\"").
absl::Status SetFieldFromText(google::protobuf::Message* message, const FieldPath& path,
                              std::string_view value, std::string_view name);

// Timestamp, Duration, FieldMask and the wrappers: message types whose JSON form is a string or a
// number, which the query takes as such (`?update_time=2024-01-02T03:04:05Z`).
bool HasScalarJsonForm(const google::protobuf::Descriptor* type);

// The HTTP status for a gRPC status code (google/rpc/code.proto's mapping; 499 for CANCELLED,
// 500 for codes it does not know).
int HttpStatusFromGrpcCode(int code);
// The gRPC code for an HTTP status the gateway answers itself (400 -> INVALID_ARGUMENT, …).
int GrpcCodeFromHttpStatus(int http_status);

// JSON of google.rpc.Status: {"code":…,"message":…,"details":[…]}. `details_status`, when not
// empty, is a serialized google.rpc.Status (grpc-status-details-bin) whose details are used if
// `contracts` knows their types.
std::string StatusJson(int code, std::string_view message, std::string_view details_status = {},
                       const ContractSet* contracts = nullptr);

}  // namespace aurora::gateway
