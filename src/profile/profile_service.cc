#include "profile/profile_service.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/caller.h"
#include "common/status.h"
#include "common/text.h"

namespace aurora::profile {
namespace {

std::string Metadata(const grpc::CallbackServerContext* context, std::string_view key) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
  return it == metadata.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

// The token of `authorization: Bearer <token>`.
absl::StatusOr<std::string> BearerToken(const grpc::CallbackServerContext* context) {
  const std::string authorization = Metadata(context, "authorization");
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size() ||
      absl::AsciiStrToLower(Sv(std::string_view(authorization).substr(0, kScheme.size()))) !=
          kScheme) {
    return absl::UnauthenticatedError("expected `authorization: Bearer <token>`");
  }
  return authorization.substr(kScheme.size());
}

grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context, const absl::Status& status) {
  auto* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace

ProfileCalls::ProfileCalls(ProfileServiceOptions options)
    : options_(options), executor_("profile", options.threads, options.max_queued_calls) {}

ProfileCalls::~ProfileCalls() { executor_.Shutdown(); }

grpc::ServerUnaryReactor* ProfileCalls::Run(grpc::CallbackServerContext* context,
                                            std::function<absl::Status()> work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!executor_.Submit(
          [reactor, work = std::move(work)] { reactor->Finish(ToGrpcStatus(work())); })) {
    context->AddTrailingMetadata("retry-after", absl::StrCat(options_.retry_after_seconds));
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "the profile node is at capacity; retry after the time in "
                                 "retry-after"));
  }
  return reactor;
}

template <typename Response>
grpc::ServerUnaryReactor* ProfileService::AsPerson(
    grpc::CallbackServerContext* context, Response* response,
    std::function<absl::StatusOr<Response>(const Person& person)> work) {
  auto token = BearerToken(context);
  if (!token.ok()) return Finish(context, token.status());
  return calls_->Run(
      context,
      [this, response, token = *std::move(token), work = std::move(work)]() -> absl::Status {
        auto person = vault_->Authenticate(token);
        if (!person.ok()) return person.status();
        auto result = work(*person);
        if (!result.ok()) return result.status();
        *response = *std::move(result);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* ProfileService::GetMyProfile(grpc::CallbackServerContext* context,
                                                       const v1::GetMyProfileRequest*,
                                                       v1::MyProfile* response) {
  return AsPerson<v1::MyProfile>(context, response,
                                 [this](const Person& p) { return vault_->GetMyProfile(p); });
}

grpc::ServerUnaryReactor* ProfileService::PutAttributes(grpc::CallbackServerContext* context,
                                                        const v1::PutAttributesRequest* request,
                                                        v1::MyProfile* response) {
  return AsPerson<v1::MyProfile>(context, response, [this, request](const Person& p) {
    return vault_->PutAttributes(p, *request);
  });
}

grpc::ServerUnaryReactor* ProfileService::DeleteAttributes(
    grpc::CallbackServerContext* context, const v1::DeleteAttributesRequest* request,
    v1::MyProfile* response) {
  return AsPerson<v1::MyProfile>(context, response, [this, request](const Person& p) {
    return vault_->DeleteAttributes(p, *request);
  });
}

grpc::ServerUnaryReactor* ProfileService::GrantConsent(grpc::CallbackServerContext* context,
                                                       const v1::GrantConsentRequest* request,
                                                       v1::ConsentReceipt* response) {
  return AsPerson<v1::ConsentReceipt>(context, response, [this, request](const Person& p) {
    return vault_->GrantConsent(p, *request);
  });
}

grpc::ServerUnaryReactor* ProfileService::WithdrawConsent(grpc::CallbackServerContext* context,
                                                          const v1::WithdrawConsentRequest* request,
                                                          v1::ConsentReceipt* response) {
  return AsPerson<v1::ConsentReceipt>(context, response, [this, request](const Person& p) {
    return vault_->WithdrawConsent(p, *request);
  });
}

grpc::ServerUnaryReactor* ProfileService::ListConsents(grpc::CallbackServerContext* context,
                                                       const v1::ListConsentsRequest* request,
                                                       v1::ListConsentsResponse* response) {
  return AsPerson<v1::ListConsentsResponse>(context, response, [this, request](const Person& p) {
    return vault_->ListConsents(p, *request);
  });
}

grpc::ServerUnaryReactor* ProfileService::ListAccessLog(grpc::CallbackServerContext* context,
                                                        const v1::ListAccessLogRequest* request,
                                                        v1::ListAccessLogResponse* response) {
  return AsPerson<v1::ListAccessLogResponse>(context, response, [this, request](const Person& p) {
    return vault_->ListAccessLog(p, *request);
  });
}

grpc::ServerUnaryReactor* ProfileService::ExportProfile(grpc::CallbackServerContext* context,
                                                        const v1::ExportProfileRequest*,
                                                        v1::ProfileExport* response) {
  return AsPerson<v1::ProfileExport>(context, response,
                                     [this](const Person& p) { return vault_->Export(p); });
}

grpc::ServerUnaryReactor* ProfileService::CreateTransfer(grpc::CallbackServerContext* context,
                                                         const v1::CreateTransferRequest* request,
                                                         v1::Transfer* response) {
  return AsPerson<v1::Transfer>(context, response, [this, request](const Person& p) {
    return vault_->CreateTransfer(p, *request);
  });
}

grpc::ServerUnaryReactor* ProfileService::GetReceiptKeys(grpc::CallbackServerContext* context,
                                                         const v1::GetReceiptKeysRequest*,
                                                         google::api::HttpBody* response) {
  response->set_content_type("application/jwk-set+json");
  response->set_data(vault_->ReceiptKeysJson());
  return Finish(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* ProfileService::DeleteProfile(grpc::CallbackServerContext* context,
                                                        const v1::DeleteProfileRequest*,
                                                        v1::DeleteProfileResponse* response) {
  return AsPerson<v1::DeleteProfileResponse>(context, response,
                                             [this](const Person& p) { return vault_->Erase(p); });
}

namespace {

// The API client the gateway verified; UNAUTHENTICATED for a call without one.
absl::StatusOr<std::string> CallingClient(const grpc::CallbackServerContext* context) {
  std::string client = Metadata(context, kCallerClientMetadata);
  if (client.empty()) {
    return absl::UnauthenticatedError(
        "ProfileAccess needs the calling service's API client: call it through the gateway with "
        "HTTP Basic credentials (or, with a certificate of this node's organisation, name it in "
        "x-aurora-client-id)");
  }
  return client;
}

}  // namespace

template <typename Response>
grpc::ServerUnaryReactor* ProfileAccessService::AsClient(
    grpc::CallbackServerContext* context, Response* response,
    std::function<absl::StatusOr<Response>(const std::string& client_id)> work) {
  auto client = CallingClient(context);
  if (!client.ok()) return Finish(context, client.status());
  return calls_->Run(context,
                     [response, client = *client, work = std::move(work)]() -> absl::Status {
                       auto result = work(client);
                       if (!result.ok()) return result.status();
                       *response = *std::move(result);
                       return absl::OkStatus();
                     });
}

grpc::ServerUnaryReactor* ProfileAccessService::ReadAttributes(
    grpc::CallbackServerContext* context, const v1::ReadAttributesRequest* request,
    v1::ReadAttributesResponse* response) {
  return AsClient<v1::ReadAttributesResponse>(context, response,
                                              [this, request](const std::string& client) {
                                                return vault_->ReadAttributes(client, *request);
                                              });
}

grpc::ServerUnaryReactor* ProfileAccessService::StoreAttributes(
    grpc::CallbackServerContext* context, const v1::StoreAttributesRequest* request,
    v1::StoreAttributesResponse* response) {
  return AsClient<v1::StoreAttributesResponse>(context, response,
                                               [this, request](const std::string& client) {
                                                 return vault_->StoreAttributes(client, *request);
                                               });
}

grpc::ServerUnaryReactor* ProfileAccessService::CreateTransfer(
    grpc::CallbackServerContext* context, const v1::CreateTransferRequest* request,
    v1::Transfer* response) {
  return AsClient<v1::Transfer>(context, response, [this, request](const std::string& client) {
    return vault_->CreateAnonymousTransfer(client, *request);
  });
}

grpc::ServerUnaryReactor* ProfileAccessService::RedeemTransfer(
    grpc::CallbackServerContext* context, const v1::RedeemTransferRequest* request,
    v1::RedeemTransferResponse* response) {
  const std::string organization = CallerOrganization(*context);
  if (Metadata(context, kCallerClientMetadata).empty() && !organization.empty()) {
    // Another organisation's node (or a tool of an organisation without a client): it acts for
    // its organisation and names the client it redeems for.
    return calls_->Run(context, [this, request, response, organization]() -> absl::Status {
      auto result = vault_->RedeemTransferForOrganization(organization, *request);
      if (!result.ok()) return result.status();
      *response = *std::move(result);
      return absl::OkStatus();
    });
  }
  return AsClient<v1::RedeemTransferResponse>(
      context, response,
      [this, request](const std::string& client) -> absl::StatusOr<v1::RedeemTransferResponse> {
        if (!request->client_id().empty() && request->client_id() != client) {
          return absl::InvalidArgumentError(absl::StrCat(
              "client_id: only another organisation's node names a client; an API client "
              "redeems for itself (",
              client, "), not for ", QuoteForMessage(request->client_id())));
        }
        return vault_->RedeemTransfer(client, request->access_token());
      });
}

grpc::ServerUnaryReactor* ProfileAccessService::ReceiveTransfer(
    grpc::CallbackServerContext* context, const v1::ReceiveTransferRequest* request,
    v1::ReceivedTransfer* response) {
  return AsClient<v1::ReceivedTransfer>(context, response,
                                        [this, request](const std::string& client) {
                                          return vault_->ReceiveTransfer(client, *request);
                                        });
}

grpc::ServerUnaryReactor* CompatSessionService::CreateSessionAttributes(
    grpc::CallbackServerContext* context,
    const aurora::compat::v1::CreateSessionAttributesRequest* request,
    google::api::HttpBody* response) {
  auto client = CallingClient(context);
  if (!client.ok()) return Finish(context, client.status());
  absl::Status valid;
  if (request->session_attributes().fields().empty()) {
    valid = absl::InvalidArgumentError("session_attributes: give at least one attribute");
  } else if (request->has_auroraai_recommendation_id() && request->service_id().empty()) {
    valid = absl::InvalidArgumentError(
        "service_id: required with auroraai_recommendation_id (the tracking link names both)");
  } else if (request->has_auroraai_recommendation_id() &&
             request->auroraai_recommendation_id() < 0) {
    valid = absl::InvalidArgumentError(absl::StrCat(
        "auroraai_recommendation_id: must be >= 0, got ", request->auroraai_recommendation_id()));
  }
  if (!valid.ok()) return Finish(context, valid);
  v1::CreateTransferRequest transfer;
  transfer.set_service_channel_id(request->service_channel_id());
  transfer.set_service_id(request->service_id());
  for (const auto& [name, value] : request->session_attributes().fields()) {
    (*transfer.mutable_attributes())[name] = value;
  }
  return calls_->Run(
      context,
      [this, request, response, client = *client,
       transfer = std::move(transfer)]() -> absl::Status {
        auto created = vault_->CreateAnonymousTransfer(client, transfer);
        if (!created.ok()) return created.status();
        std::string link = created->redirect_url();
        if (request->has_auroraai_recommendation_id() && !created->access_token().empty()) {
          // Through the recommender's click tracking, which passes the token on.
          link = absl::StrCat(
              PublicUrl(), "/service-recommender/v1/redirect?service_id=", request->service_id(),
              "&service_channel_id=", request->service_channel_id(),
              "&link_id=0&recommendation_id=", request->auroraai_recommendation_id(),
              "&auroraai_access_token=", created->access_token());
        } else if (link.empty()) {
          return absl::NotFoundError("No web page found for channel.");
        }
        response->set_content_type("text/plain; charset=utf-8");
        response->set_data(std::move(link));
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* CompatSessionService::GetSessionAttributes(
    grpc::CallbackServerContext* context,
    const aurora::compat::v1::GetSessionAttributesRequest* request,
    google::api::HttpBody* response) {
  if (request->access_token().empty()) {
    return Finish(context, absl::InvalidArgumentError("access_token is a required parameter"));
  }
  return calls_->Run(context, [this, request, response]() -> absl::Status {
    // Compatibility mode: the original's landing pages read without credentials.
    auto redeemed = vault_->RedeemTransfer("", request->access_token());
    if (!redeemed.ok()) return redeemed.status();
    google::protobuf::Value object;
    auto& fields = *object.mutable_struct_value()->mutable_fields();
    for (const auto& attribute : redeemed->attributes())
      fields[attribute.name()] = attribute.value();
    response->set_content_type("application/json");
    response->set_data(AttributeRegistry::CanonicalJson(object));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* DevIdentityService::IssueDevToken(grpc::CallbackServerContext* context,
                                                            const v1::IssueDevTokenRequest* request,
                                                            v1::DevToken* response) {
  if (request->lifetime_seconds() < 0 || request->lifetime_seconds() > 86400) {
    return Finish(context,
                  absl::InvalidArgumentError(absl::StrCat(
                      "lifetime_seconds: 1 to 86400 (0: 900), not ", request->lifetime_seconds())));
  }
  const int lifetime = request->lifetime_seconds() == 0 ? 900 : request->lifetime_seconds();
  DevTokenRequest token_request;
  token_request.subject = request->subject();
  token_request.audience = audience_;
  token_request.lifetime = absl::Seconds(lifetime);
  auto token = issuer_->Issue(token_request, absl::Now());
  if (!token.ok()) return Finish(context, token.status());
  response->set_access_token(*std::move(token));
  response->set_token_type("Bearer");
  response->set_expires_in(lifetime);
  return Finish(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* DevIdentityService::GetDevIssuerKeys(grpc::CallbackServerContext* context,
                                                               const v1::GetDevIssuerKeysRequest*,
                                                               google::api::HttpBody* response) {
  response->set_content_type("application/jwk-set+json");
  response->set_data(issuer_->JwksJson());
  return Finish(context, absl::OkStatus());
}

}  // namespace aurora::profile
