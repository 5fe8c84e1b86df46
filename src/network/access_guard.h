#pragma once
// AccessGuard: enforces the network's access rights (access_policy.h: Decide) on every call that
// reaches the node's mutual-TLS gRPC port, before the call reaches any service. gRPC runs an
// auth metadata processor set on the server credentials for each call on that port, with the
// call's ":path" and the connection's verified auth context; a non-OK status ends the call with
// that code and message.
//
// Every decision on another organisation's call is logged (caller organisation, path, decision,
// grant or reason, registry version; never request data; admissions to the network's own
// services, which are open to members and carry most of the traffic, at debug level) and counted
// in
// aurora_network_access_decisions_total{decision="allowed|denied|unavailable"}. Calls of the
// node's own organisation are let through without a log line or count: they are its operators'
// and gateway's, not the network's. Plaintext and in-process calls never reach the guard (it is
// attached to the TLS credentials only).
//
// Usage:
//   auto credentials = ServerCredentials(tls_files);
//   credentials->SetAuthMetadataProcessor(
//       std::make_shared<AccessGuard>(&registry_copy, own_organization, &metrics));
//   server.SetCredentials(credentials, own_organization);
//
// Thread-safe; Process never blocks (one atomic load of the registry copy and a hash lookup or
// two), so gRPC runs it inline (IsBlocking() is false).

#include <grpcpp/security/auth_metadata_processor.h>

#include <string>

#include "absl/time/time.h"
#include "common/metrics.h"
#include "network/registry_copy.h"

namespace prometheus {
class Counter;
}  // namespace prometheus

namespace aurora::network {

class AccessGuard final : public grpc::AuthMetadataProcessor {
 public:
  // `copy` must outlive the guard (and so the server whose credentials hold it). `metrics` may
  // be null.
  AccessGuard(const RegistryCopy* copy, std::string own_organization, Metrics* metrics);

  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

 private:
  const RegistryCopy* const copy_;
  const std::string own_organization_;
  prometheus::Counter* allowed_ = nullptr;
  prometheus::Counter* denied_ = nullptr;
  prometheus::Counter* unavailable_ = nullptr;
};

}  // namespace aurora::network
