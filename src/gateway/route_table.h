#pragma once
// The gateway's view of the contracts: ContractSet holds the descriptor pool and message factory
// of the contracts it serves — the ones compiled into the binary (generated classes, fast), or a
// serialized FileDescriptorSet given at start-up (dynamic messages); RouteTable
// turns every method's google.api.http rule (and its additional_bindings) plus its
// aurora.common.v1.gateway option into routes, checked at start-up: a template that does not
// parse, a path variable naming a field that does not exist or is repeated or a message, a body
// naming an unknown or non-top-level field, a response_body naming an unknown field, or two
// routes with the same method and template are errors naming the RPC.
//
// Both are immutable after construction and safe to read from any thread.

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/descriptor_database.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/util/type_resolver.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/path_template.h"

namespace aurora::gateway {

class ContractSet {
 public:
  // `serialized` is a google.protobuf.FileDescriptorSet with every import included.
  static absl::StatusOr<std::unique_ptr<ContractSet>> FromSerialized(std::string_view serialized);
  // The contracts compiled into this binary (protos/): the generated pool and classes when their
  // generated code is all linked in, else dynamic messages built from the embedded set.
  static absl::StatusOr<std::unique_ptr<ContractSet>> BuiltIn();

  // The named files of protobuf's generated pool (their generated code must be linked in) and the
  // generated classes; for tests and tools with contracts of their own.
  static absl::StatusOr<std::unique_ptr<ContractSet>> FromGeneratedFiles(
      const std::vector<std::string>& file_names);

  const google::protobuf::DescriptorPool& pool() const { return *pool_; }
  // An empty message of `type` (a type of pool()); thread-safe.
  const google::protobuf::Message* Prototype(const google::protobuf::Descriptor* type) const {
    return factory_->GetPrototype(type);
  }
  // Services that have at least one method with a google.api.http rule, in file order.
  const std::vector<const google::protobuf::ServiceDescriptor*>& services() const {
    return services_;
  }
  // Resolves "type.googleapis.com/<full name>" URLs against pool() for the binary<->JSON
  // converters.
  google::protobuf::util::TypeResolver* type_resolver() const { return type_resolver_.get(); }
  static std::string TypeUrl(const google::protobuf::Descriptor* type);

 private:
  ContractSet() = default;
  absl::Status FindServices(const std::vector<std::string>& file_names);

  // Only for FromSerialized: the pool and the factory of dynamic messages.
  google::protobuf::SimpleDescriptorDatabase database_;
  std::unique_ptr<google::protobuf::DescriptorPool> own_pool_;
  std::unique_ptr<google::protobuf::DynamicMessageFactory> dynamic_factory_;

  const google::protobuf::DescriptorPool* pool_ = nullptr;
  google::protobuf::MessageFactory* factory_ = nullptr;
  std::vector<const google::protobuf::ServiceDescriptor*> services_;
  std::unique_ptr<google::protobuf::util::TypeResolver> type_resolver_;
};

enum class RouteAuth { kNone, kApiClient, kBearer };

// A chain of fields from the request message to a leaf, e.g. service -> id for "service.id".
using FieldPath = std::vector<const google::protobuf::FieldDescriptor*>;
// "service.id" for service -> id.
std::string Dotted(const FieldPath& path);

struct Route {
  int id = 0;               // index in RouteTable::routes()
  std::string http_method;  // "GET", "PUT", "POST", "DELETE", "PATCH" or a custom kind
  std::string path_text;    // the template as written in the rule
  PathTemplate path;
  const google::protobuf::MethodDescriptor* method = nullptr;
  std::string grpc_method;             // "/aurora.directory.v1.Directory/GetService"
  std::vector<FieldPath> path_fields;  // one per path.variables(), same order
  // "" (no body), "*" (every field not bound by the path) or a top-level field's name.
  std::string body;
  const google::protobuf::FieldDescriptor* body_field = nullptr;  // for a named body
  std::string response_body;  // "" (the whole response) or a top-level field's name
  const google::protobuf::FieldDescriptor* response_body_field = nullptr;
  RouteAuth auth = RouteAuth::kNone;
  absl::Duration default_timeout = absl::ZeroDuration();  // zero: the gateway's default
  bool strict_json = false;  // JSON bodies are type-checked strictly (strict_json.h)
  bool client_streaming = false;
  bool server_streaming = false;
  bool additional_binding = false;  // from additional_bindings, not the primary rule
  std::string label;                // "GET /v1/services/{id}", for metrics and logs
};

struct RouteTableOptions {
  // false: the routes of each method's google.api.http rule and its additional_bindings; a
  // method without a rule has none (the gateway's own contracts).
  // true: one route per method, POST /<service full name>/<method> with body "*", whatever rules
  // it carries: how the network describes a member's gRPC service (network.proto:
  // ServiceDescription.openapi_json), whose methods are called by their gRPC paths.
  bool grpc_paths = false;
};

class RouteTable {
 public:
  static absl::StatusOr<RouteTable> Build(
      const std::vector<const google::protobuf::ServiceDescriptor*>& services,
      const RouteTableOptions& options = {});

  const std::vector<Route>& routes() const { return routes_; }

  struct Lookup {
    const Route* route = nullptr;  // null: not found
    std::vector<PathBinding> bindings;
    // When route is null but the path matches for other methods: those methods (405 + Allow).
    std::vector<std::string> allowed_methods;
  };
  Lookup Find(std::string_view http_method, std::string_view path) const;

 private:
  std::vector<Route> routes_;
  PathMatcher matcher_;
};

}  // namespace aurora::gateway
