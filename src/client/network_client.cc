#include "client/network_client.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/text.h"

namespace aurora::client {
namespace nv1 = aurora::network::v1;
namespace rv1 = aurora::recommender::v1;

namespace {

// The callee's status with the RPC named first.
absl::Status FromGrpc(const grpc::Status& status, std::string_view rpc) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(Sv(rpc), ": ", status.error_message()));
}

}  // namespace

std::shared_ptr<grpc::Channel> MemberChannel(const std::string& target, const TlsFiles& identity) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel(target, ChannelCredentials(identity), args);
}

absl::StatusOr<std::unique_ptr<NetworkClient>> NetworkClient::Connect(
    const TlsFiles& identity, std::string directory_target, std::string discovery_target,
    Options options) {
  auto own = CheckTlsFiles(identity);
  if (!own.ok()) return own.status();
  if (directory_target.empty()) {
    return absl::InvalidArgumentError("directory_target: give the directory's node (HOST:PORT)");
  }
  if (discovery_target.empty()) discovery_target = directory_target;
  return std::unique_ptr<NetworkClient>(
      new NetworkClient(identity, own->organization_id, std::move(directory_target),
                        std::move(discovery_target), options));
}

NetworkClient::NetworkClient(TlsFiles identity, std::string organization_id,
                             std::string directory_target, std::string discovery_target,
                             Options options)
    : identity_(std::move(identity)),
      organization_id_(std::move(organization_id)),
      options_(options),
      directory_(MemberChannel(directory_target, identity_)),
      discovery_(discovery_target == directory_target ? directory_
                                                      : MemberChannel(discovery_target, identity_)),
      registry_stub_(nv1::NetworkRegistry::NewStub(directory_)),
      discovery_stub_(nv1::Discovery::NewStub(discovery_)),
      recommender_stub_(rv1::Recommender::NewStub(directory_)) {}

void NetworkClient::Prepare(grpc::ClientContext* context) const {
  context->set_deadline(absl::ToChronoTime(absl::Now() + options_.deadline));
}

absl::StatusOr<nv1::Member> NetworkClient::SetNodeAddress(const std::string& node_address) {
  grpc::ClientContext context;
  Prepare(&context);
  nv1::SetNodeAddressRequest request;
  request.set_organization_id(organization_id_);
  request.set_node_address(node_address);
  nv1::Member member;
  if (auto s = FromGrpc(registry_stub_->SetNodeAddress(&context, request, &member),
                        "SetNodeAddress");
      !s.ok()) {
    return s;
  }
  return member;
}

absl::StatusOr<nv1::NetworkService> NetworkClient::Publish(nv1::NetworkService service) {
  service.set_organization_id(organization_id_);
  // The current revision, if the service is published already (discovery answers from a copy
  // that may lag by moments; a stale revision gets ABORTED, and the caller may try again).
  int64_t expected = 0;
  auto current = Describe(service.name());
  if (current.ok()) {
    expected = current->service().revision();
  } else if (current.status().code() != absl::StatusCode::kNotFound) {
    return current.status();
  }
  grpc::ClientContext context;
  Prepare(&context);
  nv1::PublishServiceRequest request;
  *request.mutable_service() = std::move(service);
  request.set_expected_revision(expected);
  nv1::NetworkService published;
  if (auto s = FromGrpc(registry_stub_->PublishService(&context, request, &published),
                        "PublishService");
      !s.ok()) {
    return s;
  }
  return published;
}

absl::StatusOr<int64_t> NetworkClient::Withdraw(const std::string& service_name) {
  grpc::ClientContext context;
  Prepare(&context);
  nv1::WithdrawServiceRequest request;
  request.set_name(service_name);
  nv1::WithdrawServiceResponse response;
  if (auto s = FromGrpc(registry_stub_->WithdrawService(&context, request, &response),
                        "WithdrawService");
      !s.ok()) {
    return s;
  }
  return response.revision();
}

absl::StatusOr<std::vector<nv1::Member>> NetworkClient::Members() {
  grpc::ClientContext context;
  Prepare(&context);
  nv1::ListMembersResponse response;
  if (auto s = FromGrpc(discovery_stub_->ListMembers(&context, {}, &response), "ListMembers");
      !s.ok()) {
    return s;
  }
  return std::vector<nv1::Member>(response.members().begin(), response.members().end());
}

absl::StatusOr<std::vector<nv1::NetworkService>> NetworkClient::ServicesOf(
    const std::string& organization_id) {
  grpc::ClientContext context;
  Prepare(&context);
  nv1::ListMemberServicesRequest request;
  request.set_organization_id(organization_id);
  nv1::ListMemberServicesResponse response;
  if (auto s = FromGrpc(discovery_stub_->ListMemberServices(&context, request, &response),
                        "ListMemberServices");
      !s.ok()) {
    return s;
  }
  return std::vector<nv1::NetworkService>(response.services().begin(), response.services().end());
}

absl::StatusOr<nv1::ServiceDescription> NetworkClient::Describe(const std::string& service_name) {
  grpc::ClientContext context;
  Prepare(&context);
  nv1::GetServiceDescriptionRequest request;
  request.set_name(service_name);
  nv1::ServiceDescription description;
  if (auto s = FromGrpc(discovery_stub_->GetServiceDescription(&context, request, &description),
                        "GetServiceDescription");
      !s.ok()) {
    return s;
  }
  return description;
}

absl::StatusOr<std::vector<nv1::AllowedMethod>> NetworkClient::AllowedMethods() {
  grpc::ClientContext context;
  Prepare(&context);
  nv1::ListAllowedMethodsResponse response;
  if (auto s = FromGrpc(discovery_stub_->ListAllowedMethods(&context, {}, &response),
                        "ListAllowedMethods");
      !s.ok()) {
    return s;
  }
  return std::vector<nv1::AllowedMethod>(response.methods().begin(), response.methods().end());
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> NetworkClient::ChannelToProvider(
    const std::string& service_name) {
  auto description = Describe(service_name);
  if (!description.ok()) return description.status();
  const std::string& address = description->provider().node_address();
  if (address.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("organisation ", description->provider().organization_id(), " offers ",
                     service_name, " but has not set its node's address"));
  }
  std::lock_guard lock(mu_);
  auto& channel = provider_channels_[address];
  if (channel == nullptr) channel = MemberChannel(address, identity_);
  return channel;
}

absl::StatusOr<rv1::SearchResponse> NetworkClient::Search(const rv1::SearchRequest& request) {
  grpc::ClientContext context;
  Prepare(&context);
  rv1::SearchResponse response;
  if (auto s = FromGrpc(recommender_stub_->Search(&context, request, &response), "Search");
      !s.ok()) {
    return s;
  }
  return response;
}

}  // namespace aurora::client
