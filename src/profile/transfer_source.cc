#include "profile/transfer_source.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "aurora/profile/v1/profile.grpc.pb.h"
#include "common/status.h"
#include "common/text.h"

namespace aurora::profile {
namespace {

// Far more member nodes than a network has; past it the kept channels are dropped and made again.
constexpr size_t kMaxChannels = 1000;

}  // namespace

TransferSourceClient::TransferSourceClient(TransferSourceOptions options)
    : options_(std::move(options)) {}

std::shared_ptr<grpc::Channel> TransferSourceClient::ChannelTo(const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = channels_.find(address);
  if (it != channels_.end()) return it->second;
  if (channels_.size() >= kMaxChannels) channels_.clear();
  grpc::ChannelArguments args;
  // A redemption waits on the source node: a broken connection is to be noticed, and a node
  // back after an outage reconnected to, within seconds.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  auto channel = grpc::CreateCustomChannel(address, ChannelCredentials(options_.tls), args);
  channels_.emplace(address, channel);
  return channel;
}

absl::StatusOr<v1::RedeemTransferResponse> TransferSourceClient::Redeem(
    const std::string& organization_id, const v1::RedeemTransferRequest& request) {
  if (!options_.tls.enabled()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "source_organization_id: this node has no TLS certificate (--tls-cert), so it cannot call "
        "organisation ",
        organization_id, "'s node"));
  }
  auto address = options_.node_address(organization_id);
  if (!address.ok()) {
    return absl::Status(address.status().code(),
                        absl::StrCat("source_organization_id: ", address.status().message()));
  }
  auto stub = v1::ProfileAccess::NewStub(ChannelTo(*address));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + options_.deadline));
  v1::RedeemTransferResponse response;
  const grpc::Status status = stub->RedeemTransfer(&context, request, &response);
  const std::string node = absl::StrCat("organisation ", organization_id, "'s node at ", *address);
  if (!status.ok()) {
    switch (status.error_code()) {
      case grpc::StatusCode::NOT_FOUND:
      case grpc::StatusCode::PERMISSION_DENIED:
      case grpc::StatusCode::INVALID_ARGUMENT:
      case grpc::StatusCode::FAILED_PRECONDITION:
      case grpc::StatusCode::RESOURCE_EXHAUSTED:
        return absl::Status(FromGrpcStatus(status).code(),
                            absl::StrCat(node, ": ", status.error_message()));
      case grpc::StatusCode::UNAUTHENTICATED:
      case grpc::StatusCode::UNIMPLEMENTED:
        // A node of a version that redeems only for its own API clients.
        return absl::FailedPreconditionError(absl::StrCat(
            node,
            " does not redeem transfers for other organisations' nodes: ", status.error_message()));
      default:
        return absl::UnavailableError(
            absl::StrCat(node, " could not be reached or did not answer in time (",
                         FromGrpcStatus(status).ToString(), ")"));
    }
  }
  const auto auth = context.auth_context();
  const auto answered_by = auth ? PeerOrganization(*auth) : std::nullopt;
  if (answered_by != organization_id) {
    return absl::FailedPreconditionError(
        absl::StrCat(node, " answered with a certificate of organisation ",
                     QuoteForMessage(answered_by.value_or("none")),
                     "; its answer is not taken (is the registry's node address out of date?)"));
  }
  return response;
}

}  // namespace aurora::profile
