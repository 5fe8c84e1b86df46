#pragma once
// Strict JSON typing of request bodies (aurora.common.v1.GatewayRule.strict_json): a check of a
// JSON document against a message descriptor, run before protobuf's JSON parser, which accepts
// and converts values that a schema validator would refuse. Every value must have its field's own
// JSON type: a JSON number for a numeric field (not "5", also for 64-bit integers, and not "NaN"),
// without a fraction or exponent for an integer field (not 1.5, 1e2 or 1.0), true or false for a
// bool field (not 0, 1 or "true"), a string for a string, bytes, Timestamp, Duration or FieldMask
// field, a string or an integer for an enum, an object for a message or a map, an array for a
// repeated field, and never null, except for google.protobuf.Value, Struct and NullValue. Wrappers
// are checked as their value; the contents of Value, Struct and ListValue are free JSON; an Any
// is checked as the message its "@type" names, which must be its first member. Every occurrence
// of a repeated key is checked.
//
// Unknown fields, unknown enum names, integers out of range and malformed Timestamps pass: the
// JSON parser that runs next refuses them. One pass over the document's SAX events with a stack
// of the open objects and arrays (no tree is built). Thread-safe (no state).

#include <google/protobuf/descriptor.h>

#include <string_view>

#include "absl/status/status.h"

namespace aurora::gateway {

// OK, or INVALID_ARGUMENT naming the field path and the value, e.g.
//   field "limit": expected a JSON integer, got "5"
//   field "items[2].tags[0]": expected a JSON string, got null
//   field "counts[a]": expected a JSON integer, got 1.5   (a map value)
// `json` should be valid JSON; a syntax error is INVALID_ARGUMENT "not valid JSON" without a
// location (callers report syntax errors themselves).
absl::Status CheckStrictJson(std::string_view json, const google::protobuf::Descriptor* type);

}  // namespace aurora::gateway
