#pragma once
// GrpcServer: the node's gRPC server with what every component gets for free: the health service
// (grpc.health.v1; one status per component service plus the overall "" status), server
// reflection, the metrics interceptor, message size limits and keepalive policy, and an
// in-process channel for components and the gateway in the same process; plaintext or mutual TLS.
//
// Usage:
//   GrpcServer server;
//   server.AddService(&directory_service, "aurora.directory.v1.Directory");
//   RETURN_IF_ERROR(server.Start("127.0.0.1:50051", &metrics));
//   server.SetServing(true);
//   ...
//   server.Shutdown(absl::Seconds(10));
//
// Start/Shutdown are not thread-safe; the rest is.

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/health.h"
#include "common/metrics.h"

namespace aurora {

struct GrpcServerOptions {
  int max_receive_message_bytes = 16 << 20;
  int max_send_message_bytes = 64 << 20;
  // The listener's credentials: null for plaintext (a private port, the embedded default), or
  // mutual TLS (common/tls.h: ServerCredentials) between organisations' nodes.
  std::shared_ptr<grpc::ServerCredentials> credentials;
  // With TLS: this node's organisation (from its own certificate). The caller metadata of
  // common/caller.h is honoured only from in-process and plaintext calls and from peers whose
  // certificate names this organisation (its own gateway or tools). In every other
  // organisation's calls, x-aurora-organization-id is replaced by the organisation their
  // certificate names and x-aurora-client-id is removed, before a service sees them: a member
  // node acts with the rights of its organisation.
  std::string own_organization;
  // A second, plaintext listener that serves only grpc.health.v1.Health with the same statuses
  // (empty: none). For probes that cannot present a client certificate, such as the kubelet's
  // native gRPC probes, when the main port requires mutual TLS.
  std::string probe_address;
};

class GrpcServer {
 public:
  explicit GrpcServer(GrpcServerOptions options = {});
  ~GrpcServer();

  // `health_name` is the name the health service reports the component under (its full gRPC
  // service name). Call before Start().
  void AddService(grpc::Service* service, const std::string& health_name);

  // Receives every call of a service the server does not implement (e.g. a proxy to other
  // servers; network/service_proxy.h). Call before Start(); not owned.
  void SetGenericService(grpc::CallbackGenericService* service) { generic_ = service; }

  // Mutual TLS instead of plaintext (see GrpcServerOptions). Call before Start().
  void SetCredentials(std::shared_ptr<grpc::ServerCredentials> credentials,
                      std::string own_organization) {
    options_.credentials = std::move(credentials);
    options_.own_organization = std::move(own_organization);
  }

  // See GrpcServerOptions::probe_address. Call before Start().
  void SetProbeAddress(std::string address) { options_.probe_address = std::move(address); }

  // Listens on `address` (port 0 picks a free one). `metrics` may be null.
  absl::Status Start(const std::string& address, Metrics* metrics);
  int port() const { return port_; }
  // The probe listener's port (0: none).
  int probe_port() const { return probe_port_; }
  grpc::Server* server() const { return server_.get(); }

  // Sets every component's health status and the overall "" status.
  void SetServing(bool serving);
  // A channel to this server without a socket.
  std::shared_ptr<grpc::Channel> InProcessChannel();

  // NOT_SERVING for good, then stops accepting calls and waits for running ones up to `grace`;
  // calls still running then are cancelled. Idempotent.
  void Shutdown(absl::Duration grace);

 private:
  GrpcServerOptions options_;
  HealthService health_;        // declared before server_: outlives it
  HealthService probe_health_;  // the same statuses, on the probe listener
  std::vector<std::pair<grpc::Service*, std::string>> services_;
  grpc::CallbackGenericService* generic_ = nullptr;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Server> probe_server_;
  int port_ = 0;
  int probe_port_ = 0;
  bool shut_down_ = false;
};

}  // namespace aurora
