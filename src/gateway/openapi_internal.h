#pragma once
// Shared by openapi.cc (the document) and openapi_docs_page.cc (the HTML page rendered from it);
// not part of the library's interface. Pure functions; thread-safe.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "gateway/openapi.h"

namespace aurora::gateway::openapi_internal {

// Keeps keys in insertion order, so the document reads top-down (openapi, info, paths, …).
using Json = nlohmann::ordered_json;

inline constexpr char kSchemaRef[] = "#/components/schemas/";
inline constexpr char kApiClientScheme[] = "apiClient";
inline constexpr char kBearerScheme[] = "bearer";

// The OpenAPI document as JSON (see openapi.h).
Json BuildDocumentJson(const RouteTable& routes, const OpenApiInfo& info,
                       std::string_view source_info);

// The docs page for a document made by BuildDocumentJson.
std::string RenderDocsPage(const Json& doc, const OpenApiInfo& info);

// Appends `paragraph` to `text`, separated by a blank line; nothing when it is empty.
inline void AppendParagraph(std::string* text, const std::string& paragraph) {
  if (paragraph.empty()) return;
  if (!text->empty()) text->append("\n\n");
  text->append(paragraph);
}

inline std::string Lower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

}  // namespace aurora::gateway::openapi_internal
