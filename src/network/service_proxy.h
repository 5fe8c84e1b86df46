#pragma once
// ServiceProxy: how an organisation offers its own gRPC services to the network without putting
// them on the network. The organisation's backends stay on its private network; its node listens
// for the other members (mutual TLS), the access guard admits a call only if the caller holds the
// right (access_guard.h), and this proxy forwards what was admitted to the backend that serves the
// service: X-Road's security server, for gRPC.
//
// Registered with the node's gRPC server as its generic service, it receives every call whose
// service the node does not implement itself. Calls of a service with a backend
// (`aurora serve --service-backends NAME=HOST:PORT`) are forwarded as they are — unary and all
// three streaming kinds, message by message with flow control in both directions (one message in
// flight each way), the deadline, cancellation from either side, metadata both ways (initial and
// trailing) and the backend's status; other calls end with UNIMPLEMENTED naming the service.
//
// What the backend sees of the caller: x-aurora-organization-id, the calling organisation as the
// node's server established it (from another node's certificate; from an API client through the
// gateway); nothing else of the connection. Request metadata is forwarded except HTTP/2 pseudo
// headers and gRPC's transport headers (grpc-*, te, content-type, user-agent), which the
// upstream call sets itself.
//
// Thread-safe; one object per node, outliving the server.

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/metrics.h"

namespace prometheus {
class Counter;
template <typename T>
class Family;
}  // namespace prometheus

namespace aurora::network {

struct ServiceBackend {
  std::string service;  // full gRPC service name, e.g. "fi.example.benefits.v1.Benefits"
  std::string target;   // the backend's gRPC address, e.g. "127.0.0.1:7001"
};

// Parses NAME=HOST:PORT (the --service-backends flag). INVALID_ARGUMENT naming the flag otherwise.
absl::StatusOr<ServiceBackend> ParseServiceBackend(std::string_view flag_value);

class ServiceProxy final : public grpc::CallbackGenericService {
 public:
  // `credentials`: for the calls to the backends (null: plaintext, backends on a private
  // network). `metrics` may be null.
  ServiceProxy(const std::vector<ServiceBackend>& backends,
               std::shared_ptr<grpc::ChannelCredentials> credentials, Metrics* metrics);
  ~ServiceProxy() override;

  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override;

  // The services this proxy forwards.
  std::vector<std::string> services() const;

  // Counts one finished forwarded call (used by the call objects).
  void Count(const std::string& service, grpc::StatusCode code);

 private:
  struct Route {
    std::unique_ptr<grpc::GenericStub> stub;
    std::vector<prometheus::Counter*> by_code;  // 17 gRPC codes; empty without metrics
  };
  std::map<std::string, Route> routes_;
  prometheus::Family<prometheus::Counter>* calls_ = nullptr;
};

}  // namespace aurora::network
