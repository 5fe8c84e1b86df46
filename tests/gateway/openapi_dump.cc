// Writes the gateway's OpenAPI documents and docs pages for the built-in contracts and for the
// test contract aurora.testing.v1.Library into a folder, for the OpenAPI JSON Schema validation
// run by ctest (tests/tools/validate-openapi.mjs), plus broken.openapi.json: the library document
// with defects the validator must reject.
//
// Usage: openapi_dump OUT_DIR [LIBRARY_DESCRIPTOR_SET]
//   LIBRARY_DESCRIPTOR_SET: library.proto's FileDescriptorSet with source info, for descriptions.

#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "aurora/testing/v1/library.pb.h"
#include "gateway/openapi.h"

namespace aurora {
std::string_view BuiltInDescriptorSet();
}  // namespace aurora

namespace {

using aurora::gateway::ContractSet;
using aurora::gateway::OpenApiInfo;
using aurora::gateway::RouteTable;

bool Write(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out) {
    std::cerr << "openapi_dump: cannot write " << path << "\n";
    return false;
  }
  return true;
}

bool Dump(const std::string& dir, const std::string& name,
          absl::StatusOr<std::unique_ptr<ContractSet>> contracts, std::string_view source_info,
          std::string* document) {
  if (!contracts.ok()) {
    std::cerr << "openapi_dump: " << name << ": " << contracts.status() << "\n";
    return false;
  }
  auto routes = RouteTable::Build((*contracts)->services());
  if (!routes.ok()) {
    std::cerr << "openapi_dump: " << name << ": " << routes.status() << "\n";
    return false;
  }
  OpenApiInfo info;
  info.version = "0.1.0";
  info.server_urls = {"http://localhost:8080"};
  *document = aurora::gateway::BuildOpenApiDocument(*routes, info, source_info);
  return Write(dir + "/" + name + ".openapi.json", *document) &&
         Write(dir + "/" + name + ".docs.html",
               aurora::gateway::BuildDocsPage(*routes, info, source_info));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: openapi_dump OUT_DIR [LIBRARY_DESCRIPTOR_SET]\n";
    return 2;
  }
  const std::string dir = argv[1];
  std::string library_source;
  if (argc == 3) {
    std::ifstream in(argv[2], std::ios::binary);
    if (!in) {
      std::cerr << "openapi_dump: cannot read " << argv[2] << "\n";
      return 1;
    }
    library_source.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  aurora::testing::v1::Book::descriptor();  // links the generated library.proto
  std::string builtin, library;
  if (!Dump(dir, "builtin", ContractSet::BuiltIn(), aurora::BuiltInDescriptorSet(), &builtin) ||
      !Dump(dir, "library", ContractSet::FromGeneratedFiles({"aurora/testing/v1/library.proto"}),
            library_source, &library)) {
    return 1;
  }

  // Defects a JSON Schema validator must catch: an operation without responses, a path parameter
  // that is not required, and a schema with an unknown type.
  nlohmann::ordered_json broken = nlohmann::ordered_json::parse(library);
  auto& get_book = broken["paths"]["/v1/{name}"]["get"];
  get_book.erase("responses");
  broken["paths"]["/v1/shelves/{shelf}/books"]["get"]["parameters"][0]["required"] = false;
  broken["components"]["schemas"]["aurora.testing.v1.Book"]["type"] = "record";
  if (!Write(dir + "/broken.openapi.json", broken.dump())) return 1;
  std::cout << "openapi_dump: wrote builtin, library and broken documents to " << dir << "\n";
  return 0;
}
