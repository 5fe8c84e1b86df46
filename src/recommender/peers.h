#pragma once
// RecommenderPeers: the other replicas of a recommender that runs as several processes (a
// Kubernetes Deployment behind one Service). Each replica keeps its own recommendation log, so a
// call about a recommendation another replica answered (feedback, a click) reaches a replica that
// does not know it; that replica forwards the call, unchanged and with the caller's identity, to
// its peers until one knows it.
//
// Peers are given as HOST:PORT targets (--recommender-peers). A host name is resolved to all its
// addresses (a headless Service's name gives one per pod) and again at most every
// `refresh`; TLS connections to the addresses check the certificate against the host name. The
// replica's own address may be among them: a forwarded call is never forwarded again (metadata
// x-aurora-peer-forwarded), so it answers NOT_FOUND there.
//
// Thread-safe.

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"

namespace aurora::recommender {

// The metadata key that marks a call forwarded by a peer.
inline constexpr char kPeerForwardedKey[] = "x-aurora-peer-forwarded";

class RecommenderPeers {
 public:
  // `targets`: comma-separated HOST:PORT. INVALID_ARGUMENT (naming --recommender-peers and the
  // item) when one is not HOST:PORT.
  static absl::StatusOr<std::unique_ptr<RecommenderPeers>> Create(
      const std::string& targets, std::shared_ptr<grpc::ChannelCredentials> credentials,
      bool tls, absl::Duration refresh = absl::Seconds(10));

  // Whether the call in `context` was forwarded by a peer (and must not be forwarded again).
  static bool Forwarded(const grpc::ServerContextBase& context);

  // Forwards the unary call `method` ("/package.Service/Method") with `request` to each peer in
  // turn, with the incoming call's metadata (the caller's identity) and deadline (at most 5 s per
  // peer). The first answer other than NOT_FOUND (or UNAVAILABLE/DEADLINE_EXCEEDED, i.e. a peer
  // gone) is the result: its message is parsed into `response` and its x-aurora-http-* initial
  // metadata is copied to `context`. nullopt when no peer had it (or the call was itself
  // forwarded): the caller answers from its own state.
  std::optional<grpc::Status> Forward(grpc::CallbackServerContext* context,
                                      const std::string& method,
                                      const google::protobuf::Message& request,
                                      google::protobuf::Message* response);

  // The peers' addresses now (resolving if due), for logs and tests.
  std::vector<std::string> Addresses();

 private:
  struct Target {
    std::string host;
    std::string port;
  };
  RecommenderPeers(std::vector<Target> targets, std::shared_ptr<grpc::ChannelCredentials> creds,
                   bool tls, absl::Duration refresh);
  std::vector<std::shared_ptr<grpc::Channel>> Channels();

  const std::vector<Target> targets_;
  const std::shared_ptr<grpc::ChannelCredentials> credentials_;
  const bool tls_;
  const absl::Duration refresh_;
  std::mutex mu_;
  absl::Time resolved_at_ = absl::InfinitePast();
  std::vector<std::string> addresses_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;  // by "ip:port"
};

}  // namespace aurora::recommender
