#pragma once
// The caller identity the gateway attaches to the upstream calls of authenticated HTTP requests,
// as gRPC metadata. Services trust it because only the gateway (in-process, or a gateway on the
// node's private gRPC port) can set it: the gateway never forwards these keys from HTTP headers.
// Absent for direct gRPC callers, who are the node's operators. With mutual TLS between
// organisations' nodes, GrpcServer sets x-aurora-organization-id of every call whose certificate
// names another organisation to that organisation (common/tls.h: PeerOrganization), whatever the
// caller sent, and removes x-aurora-client-id: a member node acts with the rights of its
// organisation and cannot speak for this node's API clients.

#include <grpcpp/grpcpp.h>

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/text.h"

namespace aurora {

inline constexpr char kCallerOrganizationMetadata[] = "x-aurora-organization-id";
inline constexpr char kCallerClientMetadata[] = "x-aurora-client-id";

// The calling organisation as the metadata above gives it: an HTTP caller's (its API client's),
// or another organisation's node's (its certificate's); empty for the node's operators.
inline std::string CallerOrganization(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  auto found = metadata.find(kCallerOrganizationMetadata);
  if (found == metadata.end()) return "";
  return std::string(found->second.data(), found->second.size());
}

// PERMISSION_DENIED when a caller with an organisation acts for another one; operators (no
// organisation) may act for any.
inline absl::Status CheckCallerOwns(const std::string& caller, const std::string& organization_id,
                                    std::string_view field) {
  if (caller.empty() || caller == organization_id) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat(Sv(field), ": organisation ", QuoteForMessage(organization_id),
                   " is not the caller's organisation ", QuoteForMessage(caller)));
}

}  // namespace aurora
