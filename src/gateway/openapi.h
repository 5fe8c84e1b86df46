#pragma once
// The gateway's API description, generated from the same descriptors and RouteTable that route
// the requests, so the two cannot drift apart:
//   - BuildOpenApiDocument: an OpenAPI 3.0.3 document (JSON) with one operation per route, the
//     request and response schemas in the gateway's JSON mapping (proto field names, 64-bit
//     integers as strings, enums as names, well-known types in their proto3 JSON forms), the
//     google.rpc.Status error body, the NDJSON/SSE framing of server streams, and the
//     authentication each route needs;
//   - BuildDocsPage: the same content as one self-contained HTML5 page (no external scripts,
//     styles or fonts) for /docs.
//
// Example:
//   auto contracts = ContractSet::BuiltIn();
//   auto routes = RouteTable::Build((*contracts)->services());
//   std::string json = BuildOpenApiDocument(*routes, {.version = "0.1.0"},
//                                           aurora::BuiltInDescriptorSet());
//
// Routes whose HTTP method OpenAPI 3.0 cannot express (custom methods such as REPORT) are left out
// of `paths` and listed under the top-level extension `x-aurora-custom-methods`.
//
// Output is deterministic: the same routes, info and source info give byte-identical output.
// Pure functions of their arguments; thread-safe.

#include <string>
#include <string_view>
#include <vector>

#include "gateway/route_table.h"

namespace aurora::gateway {

struct OpenApiInfo {
  std::string title = "Aurora Network API";
  std::string version;                   // info.version; "unversioned" when empty
  std::string description;               // placed before the generated notes on the JSON mapping
  std::vector<std::string> server_urls;  // e.g. "https://api.example.fi"; none: relative "/"
  std::string document_url = "/openapi.json";  // linked from the docs page; empty: no link
};

// `source_info` is an optional serialized google.protobuf.FileDescriptorSet built with
// --include_source_info (aurora::BuiltInDescriptorSet() is one); its proto comments become the
// summaries and descriptions. Descriptors that carry their own source info (a ContractSet built
// FromSerialized with such a set) are described without it; descriptors of protobuf's generated
// pool carry no comments. A `source_info` that does not parse is ignored.
std::string BuildOpenApiDocument(const RouteTable& routes, const OpenApiInfo& info,
                                 std::string_view source_info = {});

// The HTML page (UTF-8) describing the same API; every text from the contracts is escaped.
std::string BuildDocsPage(const RouteTable& routes, const OpenApiInfo& info,
                          std::string_view source_info = {});

}  // namespace aurora::gateway
