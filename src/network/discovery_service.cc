#include "network/discovery_service.h"

#include <google/protobuf/descriptor.h>

#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/caller.h"
#include "common/status.h"
#include "common/text.h"
#include "gateway/openapi.h"
#include "gateway/route_table.h"

namespace aurora::network {
namespace {

constexpr size_t kMaxServiceNameChars = 200;

grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

absl::Status CheckOrganizationId(std::string_view id) {
  if (id.empty()) return absl::InvalidArgumentError("organization_id: required");
  if (!IsCanonicalUuid(id)) {
    return absl::InvalidArgumentError(absl::StrCat("organization_id: ", QuoteForMessage(id),
                                                   " is not a canonical UUID (lowercase, "
                                                   "8-4-4-4-12 hex digits)"));
  }
  return absl::OkStatus();
}

absl::Status NotAMember(const RegistryView& view, std::string_view id) {
  return absl::NotFoundError(absl::StrCat("organization_id: ", Sv(id),
                                          " is not a member of the network (registry version ",
                                          view.version(), ")"));
}

const std::string& FirstText(const common::v1::LocalizedText& text) {
  return !text.en().empty() ? text.en() : !text.fi().empty() ? text.fi() : text.sv();
}

}  // namespace

absl::StatusOr<std::shared_ptr<const RegistryView>> DiscoveryService::ValidCopy() const {
  std::shared_ptr<const RegistryView> view = copy_->Current();
  if (std::string reason = NoValidCopyReason(view.get(), absl::Now()); !reason.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(reason, "; discovery answers again once the directory sends a valid copy"));
  }
  return view;
}

grpc::ServerUnaryReactor* DiscoveryService::ListMembers(grpc::CallbackServerContext* context,
                                                        const v1::ListMembersRequest* /*request*/,
                                                        v1::ListMembersResponse* response) {
  auto view = ValidCopy();
  if (!view.ok()) return Finish(context, view.status());
  *response->mutable_members() = (*view)->snapshot().members();
  response->set_registry_version((*view)->version());
  return Finish(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* DiscoveryService::ListMemberServices(
    grpc::CallbackServerContext* context, const v1::ListMemberServicesRequest* request,
    v1::ListMemberServicesResponse* response) {
  if (absl::Status valid = CheckOrganizationId(request->organization_id()); !valid.ok()) {
    return Finish(context, valid);
  }
  auto view = ValidCopy();
  if (!view.ok()) return Finish(context, view.status());
  const RegistryView& registry = **view;
  if (registry.FindMember(request->organization_id()) == nullptr) {
    return Finish(context, NotAMember(registry, request->organization_id()));
  }
  for (const ServiceEntry* entry : registry.ServicesOf(request->organization_id())) {
    v1::NetworkService* out = response->add_services();
    // Copy everything but the descriptor set (up to 4 MiB each): GetServiceDescription has it.
    *out = *entry->service;
    out->clear_descriptor_set();
  }
  response->set_registry_version(registry.version());
  return Finish(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* DiscoveryService::ListAllowedMethods(
    grpc::CallbackServerContext* context, const v1::ListAllowedMethodsRequest* request,
    v1::ListAllowedMethodsResponse* response) {
  const std::string& requested = request->organization_id();
  if (!requested.empty()) {
    if (absl::Status valid = CheckOrganizationId(requested); !valid.ok()) {
      return Finish(context, valid);
    }
  }
  const std::string caller = CallerOrganization(*context);
  std::string organization;
  if (caller.empty()) {
    // An operator: any organisation, by default the node's own.
    organization = requested.empty() ? own_organization_ : requested;
    if (organization.empty()) {
      return Finish(context, absl::InvalidArgumentError(
                                 "organization_id: required (this node has no organisation of "
                                 "its own to answer for)"));
    }
  } else if (requested.empty() || requested == caller) {
    organization = caller;
  } else if (!own_organization_.empty() && caller == own_organization_) {
    organization = requested;
  } else {
    return Finish(context, absl::PermissionDeniedError(absl::StrCat(
                               "organization_id: organisation ", QuoteForMessage(caller),
                               " may list only its own allowed methods, not those of ", requested,
                               " (only the node's own organisation ", own_organization_,
                               " and its operators may ask for another)")));
  }
  auto view = ValidCopy();
  if (!view.ok()) return Finish(context, view.status());
  const RegistryView& registry = **view;
  if (registry.FindMember(organization) == nullptr) {
    return Finish(context, NotAMember(registry, organization));
  }
  std::vector<v1::AllowedMethod> methods = AllowedMethods(registry, organization);
  response->mutable_methods()->Reserve(static_cast<int>(methods.size()));
  for (v1::AllowedMethod& method : methods) *response->add_methods() = std::move(method);
  response->set_organization_id(organization);
  response->set_registry_version(registry.version());
  return Finish(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* DiscoveryService::GetServiceDescription(
    grpc::CallbackServerContext* context, const v1::GetServiceDescriptionRequest* request,
    v1::ServiceDescription* response) {
  const std::string& name = request->name();
  if (name.empty()) return Finish(context, absl::InvalidArgumentError("name: required"));
  if (name.size() > kMaxServiceNameChars) {
    return Finish(context, absl::InvalidArgumentError(
                               absl::StrCat("name: ", QuoteForMessage(name), " is longer than ",
                                            kMaxServiceNameChars, " characters")));
  }
  auto view = ValidCopy();
  if (!view.ok()) return Finish(context, view.status());
  const RegistryView& registry = **view;
  const ServiceEntry* entry = registry.FindService(name);
  if (entry == nullptr) {
    return Finish(context, absl::NotFoundError(absl::StrCat(
                               "name: no member of the network offers ", QuoteForMessage(name),
                               " (registry version ", registry.version(), ")")));
  }
  auto document = OpenApiOf(registry, *entry);
  if (!document.ok()) return Finish(context, document.status());
  *response->mutable_service() = *entry->service;
  if (entry->provider != nullptr) *response->mutable_provider() = *entry->provider;
  response->set_openapi_json(**document);
  response->set_registry_version(registry.version());
  return Finish(context, absl::OkStatus());
}

absl::StatusOr<std::shared_ptr<const std::string>> DiscoveryService::OpenApiOf(
    const RegistryView& view, const ServiceEntry& entry) {
  const v1::NetworkService& service = *entry.service;
  {
    std::lock_guard lock(cache_mu_);
    auto it = documents_.find(service.name());
    if (it != documents_.end() && it->second.revision == service.revision()) return it->second.json;
  }
  // Built outside the lock: two callers may build the same document once each, but no caller
  // waits behind another service's build.
  const auto error = [&](std::string_view what) {
    return absl::InternalError(absl::StrCat("the descriptor set of ", service.name(), " (revision ",
                                            service.revision(), ") ", Sv(what)));
  };
  auto contracts = gateway::ContractSet::FromSerialized(service.descriptor_set());
  if (!contracts.ok()) return error(StdSv(contracts.status().message()));
  const google::protobuf::ServiceDescriptor* descriptor =
      (*contracts)->pool().FindServiceByName(service.name());
  if (descriptor == nullptr) return error("does not define the service");
  gateway::RouteTableOptions route_options;
  route_options.grpc_paths = true;
  auto routes = gateway::RouteTable::Build({descriptor}, route_options);
  if (!routes.ok()) return error(StdSv(routes.status().message()));

  gateway::OpenApiInfo info;
  info.title = FirstText(service.title()).empty() ? service.name() : FirstText(service.title());
  info.version = absl::StrCat("revision ", service.revision());
  info.description = absl::StrCat("The gRPC service ", service.name(), ", offered by organisation ",
                                  service.organization_id());
  if (entry.provider != nullptr) {
    if (const std::string& provider = FirstText(entry.provider->name()); !provider.empty()) {
      absl::StrAppend(&info.description, " (", provider, ")");
    }
    if (!entry.provider->node_address().empty()) {
      absl::StrAppend(&info.description, " from its node ", entry.provider->node_address());
    }
  }
  absl::StrAppend(&info.description,
                  ". Each method is described as POST /<service>/<method> with the JSON forms of "
                  "its request and response messages.");
  info.document_url.clear();
  auto json = std::make_shared<const std::string>(gateway::BuildOpenApiDocument(*routes, info));

  std::lock_guard lock(cache_mu_);
  // Withdrawn services' documents are dropped once the cache outgrows the registry.
  if (documents_.size() >= view.services().size() + 16) {
    for (auto it = documents_.begin(); it != documents_.end();) {
      if (view.FindService(it->first) == nullptr) {
        documents_.erase(it++);
      } else {
        ++it;
      }
    }
  }
  documents_[service.name()] = CachedDocument{service.revision(), json};
  return json;
}

}  // namespace aurora::network
