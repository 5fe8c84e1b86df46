#pragma once
// aurora_client: the network for organisations that embed it in their C++ programs. One object
// holds the organisation's identity (its node certificate and key from the network CA, see
// `aurora ca issue`) and its channels: to the directory, where it sets its node's address and
// publishes its services with their access rights, and to a node that answers discovery (its own,
// usually); from there it finds the node of the organisation that offers a service and opens a
// mutual-TLS channel to it, on which the service's own generated stub is used.
//
// Usage:
//   TlsFiles identity{.cert = "org-a/node.crt", .key = "org-a/node.key", .ca = "org-a/ca.crt"};
//   auto client = aurora::client::NetworkClient::Connect(identity, "directory.example.fi:50051",
//                                                        "node-a.example.fi:50051");
//   (*client)->SetNodeAddress("node-a.example.fi:50051");
//   (*client)->Publish(service);                      // NetworkService with rights
//   auto channel = (*client)->ChannelToProvider("fi.example.benefits.v1.Benefits");
//   auto stub = fi::example::benefits::v1::Benefits::NewStub(*channel);
//
// Every call has a deadline (`Options::deadline`). Errors keep the gRPC status code, with the
// RPC's name before the callee's message. Thread-safe.

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aurora/network/v1/network.grpc.pb.h"
#include "aurora/recommender/v1/recommender.grpc.pb.h"
#include "common/tls.h"

namespace aurora::client {

// A channel to `target` presenting the organisation's certificate (mutual TLS), with keepalive
// and a reconnect backoff of at most 5 s.
std::shared_ptr<grpc::Channel> MemberChannel(const std::string& target, const TlsFiles& identity);

class NetworkClient {
 public:
  struct Options {
    absl::Duration deadline = absl::Seconds(10);
  };

  // Checks the identity files (common/tls.h: CheckTlsFiles) and learns the organisation from the
  // certificate; connects lazily.
  static absl::StatusOr<std::unique_ptr<NetworkClient>> Connect(const TlsFiles& identity,
                                                                std::string directory_target,
                                                                std::string discovery_target,
                                                                Options options);
  static absl::StatusOr<std::unique_ptr<NetworkClient>> Connect(const TlsFiles& identity,
                                                                std::string directory_target,
                                                                std::string discovery_target) {
    return Connect(identity, std::move(directory_target), std::move(discovery_target), Options());
  }

  // The organisation the certificate names.
  const std::string& organization_id() const { return organization_id_; }

  // The registry, at the directory.
  absl::StatusOr<network::v1::Member> SetNodeAddress(const std::string& node_address);
  // Publishes `service` for this organisation (organization_id is filled in), replacing the
  // published one if there is one (its current revision is looked up first).
  absl::StatusOr<network::v1::NetworkService> Publish(network::v1::NetworkService service);
  absl::StatusOr<int64_t> Withdraw(const std::string& service_name);

  // Discovery, at the discovery node.
  absl::StatusOr<std::vector<network::v1::Member>> Members();
  absl::StatusOr<std::vector<network::v1::NetworkService>> ServicesOf(
      const std::string& organization_id);
  absl::StatusOr<network::v1::ServiceDescription> Describe(const std::string& service_name);
  // What this organisation may call at other members' nodes.
  absl::StatusOr<std::vector<network::v1::AllowedMethod>> AllowedMethods();

  // A mutual-TLS channel to the node of the organisation that offers `service_name` (one per
  // node, reused). NOT_FOUND if no member offers it, FAILED_PRECONDITION if its node has no
  // address.
  absl::StatusOr<std::shared_ptr<grpc::Channel>> ChannelToProvider(const std::string& service_name);

  // Recommendations for a life situation described in free text, from the directory node's
  // recommender.
  absl::StatusOr<recommender::v1::SearchResponse> Search(const recommender::v1::SearchRequest& request);

 private:
  NetworkClient(TlsFiles identity, std::string organization_id, std::string directory_target,
                std::string discovery_target, Options options);
  void Prepare(grpc::ClientContext* context) const;

  const TlsFiles identity_;
  const std::string organization_id_;
  const Options options_;
  std::shared_ptr<grpc::Channel> directory_;
  std::shared_ptr<grpc::Channel> discovery_;
  std::unique_ptr<network::v1::NetworkRegistry::Stub> registry_stub_;
  std::unique_ptr<network::v1::Discovery::Stub> discovery_stub_;
  std::unique_ptr<recommender::v1::Recommender::Stub> recommender_stub_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> provider_channels_;  // by node address
};

}  // namespace aurora::client
