#include "profile/client_directory.h"

#include <grpcpp/client_context.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace aurora::profile {
namespace {

constexpr size_t kMaxCachedClients = 10000;

std::string FirstName(const aurora::common::v1::LocalizedText& text) {
  if (!text.fi().empty()) return text.fi();
  if (!text.sv().empty()) return text.sv();
  return text.en();
}

}  // namespace

ClientDirectory::ClientDirectory(std::function<std::shared_ptr<grpc::Channel>()> directory,
                                 absl::Duration ttl, absl::Duration deadline)
    : directory_(std::move(directory)), ttl_(ttl), deadline_(deadline) {}

aurora::directory::v1::Directory::Stub* ClientDirectory::Stub() {
  std::call_once(stub_once_,
                 [this] { stub_ = aurora::directory::v1::Directory::NewStub(directory_()); });
  return stub_.get();
}

absl::StatusOr<ServiceClient> ClientDirectory::Lookup(const std::string& client_id) {
  const absl::Time now = absl::Now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(client_id);
    if (it != cache_.end() && now - it->second.fetched < ttl_) return it->second.client;
  }
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(now + deadline_));
  aurora::directory::v1::DescribeApiClientRequest request;
  request.set_client_id(client_id);
  aurora::directory::v1::ApiClientDescription description;
  grpc::Status status = Stub()->DescribeApiClient(&context, request, &description);
  if (!status.ok()) {
    absl::Status error = FromGrpcStatus(status);
    if (absl::IsNotFound(error) || absl::IsInvalidArgument(error)) {
      return absl::NotFoundError(absl::StrCat("no API client ", client_id, " in the directory"));
    }
    return absl::UnavailableError(absl::StrCat("the directory could not describe API client ",
                                               client_id, ": ", error.message()));
  }
  ServiceClient client;
  client.client_id = description.client().client_id();
  client.client_name = description.client().display_name();
  client.organization_id = description.organization().id();
  client.organization_name = FirstName(description.organization().name());
  client.active = description.client().state() == aurora::directory::v1::ApiClient::STATE_ACTIVE;
  std::lock_guard<std::mutex> lock(mu_);
  if (cache_.size() >= kMaxCachedClients) cache_.clear();
  cache_[client_id] = {client, now};
  return client;
}

absl::StatusOr<ChannelTarget> ClientDirectory::LookupChannel(const std::string& channel_id) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline_));
  aurora::directory::v1::ListServicesRequest request;
  request.add_channel_ids(channel_id);
  request.mutable_page()->set_page_size(1);
  aurora::directory::v1::ListServicesResponse response;
  grpc::Status status = Stub()->ListServices(&context, request, &response);
  if (!status.ok()) {
    absl::Status error = FromGrpcStatus(status);
    if (absl::IsInvalidArgument(error)) return error;
    return absl::UnavailableError(
        absl::StrCat("the directory could not find channel ", channel_id, ": ", error.message()));
  }
  for (const auto& service : response.services()) {
    for (const auto& channel : service.channels()) {
      if (channel.id() != channel_id) continue;
      ChannelTarget target;
      target.service_id = service.id();
      target.organization_id = service.organization_id();
      target.channel_id = channel.id();
      target.electronic = channel.type() == aurora::directory::v1::CHANNEL_TYPE_ELECTRONIC;
      if (!channel.urls().empty()) target.web_page = channel.urls(0);
      if (channel.has_session_transfer()) {
        target.client_id = channel.session_transfer().client_id();
        target.accepted_attributes.assign(channel.session_transfer().accepted_attributes().begin(),
                                          channel.session_transfer().accepted_attributes().end());
      }
      return target;
    }
  }
  return absl::NotFoundError(absl::StrCat("no service has the channel ", channel_id));
}

}  // namespace aurora::profile
