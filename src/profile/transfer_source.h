#pragma once
// TransferSourceClient: redeems a session transfer at the node of the organisation that holds its
// token (ProfileAccess.RedeemTransfer there), for the receiving node's ProfileAccess.
// ReceiveTransfer (vault.h: SourceRedeem).
//
//   * Where: the organisation's node address, as TransferSourceOptions::node_address says (the
//     node's copy of the network registry: network/access_policy.h NodeAddressOf). Its errors
//     come back as they are: FAILED_PRECONDITION when the organisation is not a member or has no
//     node address, UNAVAILABLE while the node has no valid copy (no address is guessed).
//   * How: mutual TLS with this node's certificate (common/tls.h), so that the source node knows
//     the calling organisation from the certificate; one channel per node address, kept; every
//     call with a deadline. After the call, the answering node's certificate must name the
//     organisation asked for: a registry entry that points elsewhere does not get its answer
//     believed (the token it received is useless to it: the source node hands transfers only to
//     the organisation of the transfer's client).
//   * Errors of the source node come back with their code (NOT_FOUND: unknown, used or expired
//     token; PERMISSION_DENIED: another client's or organisation's), prefixed with the
//     organisation; a node that cannot be reached or does not answer in time is UNAVAILABLE.
//
// Thread-safe.

#include <grpcpp/channel.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aurora/profile/v1/profile.pb.h"
#include "common/tls.h"
#include "profile/vault.h"

namespace aurora::profile {

// Where an organisation's node answers (HOST:PORT), or why that is not known.
using NodeAddressLookup =
    std::function<absl::StatusOr<std::string>(const std::string& organization_id)>;

struct TransferSourceOptions {
  // This node's certificate, key, the network CA and CRLs: what its channels present and verify.
  TlsFiles tls;
  NodeAddressLookup node_address;
  // The deadline of each RedeemTransfer call.
  absl::Duration deadline = absl::Seconds(5);
};

class TransferSourceClient {
 public:
  explicit TransferSourceClient(TransferSourceOptions options);

  // RedeemTransfer at `organization_id`'s node, as the rules above say.
  absl::StatusOr<v1::RedeemTransferResponse> Redeem(const std::string& organization_id,
                                                    const v1::RedeemTransferRequest& request);

 private:
  std::shared_ptr<grpc::Channel> ChannelTo(const std::string& address);

  const TransferSourceOptions options_;
  std::mutex mu_;
  // By node address; bounded: cleared when it grows past the number of members a network has.
  absl::flat_hash_map<std::string, std::shared_ptr<grpc::Channel>> channels_;
};

}  // namespace aurora::profile
