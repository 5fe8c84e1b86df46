#pragma once
// The caller identity the gateway attaches to the upstream calls of authenticated HTTP requests,
// as gRPC metadata. Services trust it because only the gateway (in-process, or a gateway on the
// node's private gRPC port) can set it: the gateway never forwards these keys from HTTP headers.
// Absent for direct gRPC callers, who are the node's operators. With mutual TLS between
// organisations' nodes, GrpcServer sets x-aurora-organization-id of every call whose certificate
// names another organisation to that organisation (common/tls.h: PeerOrganization), whatever the
// caller sent, and removes x-aurora-client-id: a member node acts with the rights of its
// organisation and cannot speak for this node's API clients.

namespace aurora {

inline constexpr char kCallerOrganizationMetadata[] = "x-aurora-organization-id";
inline constexpr char kCallerClientMetadata[] = "x-aurora-client-id";

}  // namespace aurora
