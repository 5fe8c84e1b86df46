#pragma once
// The aurora.network.v1.Discovery gRPC service (callback API): answers from the node's registry
// copy (RegistryCopy), so that discovery keeps working while the directory is unreachable, until
// the copy expires. Mapping and validation only; the rules are access_policy.h's.
//
//   * FAILED_PRECONDITION, saying why, while the node has no valid copy (none yet, or expired).
//   * ListMemberServices: INVALID_ARGUMENT for an organization_id that is not a canonical UUID,
//     NOT_FOUND for one that is not a member; services without their descriptor sets.
//   * ListAllowedMethods answers for the caller: the x-aurora-organization-id metadata (the
//     gateway's API client, or another organisation's node: GrpcServer sets it from the
//     certificate). A caller may name another organisation only if it is this node's own
//     organisation or an operator (a call without that metadata); otherwise PERMISSION_DENIED.
//     Without metadata and organization_id: this node's own organisation.
//   * GetServiceDescription: the service with its descriptor set, its provider, and an OpenAPI 3
//     document of its methods as POST /<service>/<method> (gateway/openapi.h with
//     RouteTableOptions::grpc_paths). Documents are cached per (service, revision): a service's
//     description changes only with its revision.
//
// Thread-safe.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "aurora/network/v1/network.grpc.pb.h"
#include "network/registry_copy.h"

namespace aurora::network {

class DiscoveryService final : public v1::Discovery::CallbackService {
 public:
  // `copy` must outlive the service.
  DiscoveryService(const RegistryCopy* copy, std::string own_organization)
      : copy_(copy), own_organization_(std::move(own_organization)) {}

  grpc::ServerUnaryReactor* ListMembers(grpc::CallbackServerContext* context,
                                        const v1::ListMembersRequest* request,
                                        v1::ListMembersResponse* response) override;
  grpc::ServerUnaryReactor* ListMemberServices(grpc::CallbackServerContext* context,
                                               const v1::ListMemberServicesRequest* request,
                                               v1::ListMemberServicesResponse* response) override;
  grpc::ServerUnaryReactor* ListAllowedMethods(grpc::CallbackServerContext* context,
                                               const v1::ListAllowedMethodsRequest* request,
                                               v1::ListAllowedMethodsResponse* response) override;
  grpc::ServerUnaryReactor* GetServiceDescription(grpc::CallbackServerContext* context,
                                                  const v1::GetServiceDescriptionRequest* request,
                                                  v1::ServiceDescription* response) override;

  // The OpenAPI document (JSON) of one of `view`'s services, as GetServiceDescription returns
  // it: built from its descriptor set, or taken from the cache. INTERNAL if the descriptor set
  // does not define the service (the directory checks that when the service is published).
  absl::StatusOr<std::shared_ptr<const std::string>> OpenApiOf(const RegistryView& view,
                                                               const ServiceEntry& entry);

 private:
  // The current copy if it is valid now; otherwise FAILED_PRECONDITION saying why.
  absl::StatusOr<std::shared_ptr<const RegistryView>> ValidCopy() const;

  const RegistryCopy* const copy_;
  const std::string own_organization_;

  struct CachedDocument {
    int64_t revision = 0;
    std::shared_ptr<const std::string> json;
  };
  std::mutex cache_mu_;
  // By service name: one revision each, so the cache holds at most one document per service
  // ever described (and is cleared of withdrawn services when it grows past the registry).
  absl::flat_hash_map<std::string, CachedDocument> documents_;
};

}  // namespace aurora::network
