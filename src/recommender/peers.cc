#include "recommender/peers.h"

#include <arpa/inet.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <future>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/ascii.h"
#include "common/log.h"

namespace aurora::recommender {
namespace {

using MessageStub =
    grpc::TemplatedGenericStub<google::protobuf::Message, google::protobuf::Message>;

bool IsIpLiteral(const std::string& host) {
  unsigned char buffer[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

// Every address of `host` as "ip:port" ("[ip6]:port"), sorted; empty when it does not resolve.
std::vector<std::string> Resolve(const std::string& host, const std::string& port) {
  std::string bare = host;
  if (bare.size() > 2 && bare.front() == '[' && bare.back() == ']') {
    bare = bare.substr(1, bare.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  std::vector<std::string> out;
  if (getaddrinfo(bare.c_str(), port.c_str(), &hints, &found) != 0) return out;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    if (a->ai_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr, text,
                sizeof(text));
      out.push_back(absl::StrCat(text, ":", port));
    } else if (a->ai_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr, text,
                sizeof(text));
      out.push_back(absl::StrCat("[", text, "]:", port));
    }
  }
  freeaddrinfo(found);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool PeerLacksIt(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::NOT_FOUND ||
         status.error_code() == grpc::StatusCode::UNAVAILABLE ||
         status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RecommenderPeers>> RecommenderPeers::Create(
    const std::string& targets, std::shared_ptr<grpc::ChannelCredentials> credentials, bool tls,
    absl::Duration refresh) {
  std::vector<Target> parsed;
  for (absl::string_view item : absl::StrSplit(targets, ',', absl::SkipWhitespace())) {
    item = absl::StripAsciiWhitespace(item);
    const size_t colon = item.rfind(':');
    Target target;
    if (colon != absl::string_view::npos) {
      target.host = std::string(item.substr(0, colon));
      target.port = std::string(item.substr(colon + 1));
    }
    int port = 0;
    if (target.host.empty() || !absl::SimpleAtoi(target.port, &port) || port <= 0 ||
        port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--recommender-peers: expected HOST:PORT (e.g. recommender-peers:50051), got \"", item,
          "\""));
    }
    parsed.push_back(std::move(target));
  }
  if (parsed.empty()) {
    return absl::InvalidArgumentError("--recommender-peers: no HOST:PORT given");
  }
  return std::unique_ptr<RecommenderPeers>(
      new RecommenderPeers(std::move(parsed), std::move(credentials), tls, refresh));
}

RecommenderPeers::RecommenderPeers(std::vector<Target> targets,
                                   std::shared_ptr<grpc::ChannelCredentials> creds, bool tls,
                                   absl::Duration refresh)
    : targets_(std::move(targets)), credentials_(std::move(creds)), tls_(tls), refresh_(refresh) {}

bool RecommenderPeers::Forwarded(const grpc::ServerContextBase& context) {
  return context.client_metadata().count(kPeerForwardedKey) > 0;
}

std::vector<std::shared_ptr<grpc::Channel>> RecommenderPeers::Channels() {
  std::lock_guard<std::mutex> lock(mu_);
  const absl::Time now = absl::Now();
  if (now - resolved_at_ >= refresh_) {
    resolved_at_ = now;
    std::vector<std::string> addresses;
    std::map<std::string, std::shared_ptr<grpc::Channel>> channels;
    for (const Target& target : targets_) {
      for (const std::string& address : Resolve(target.host, target.port)) {
        if (channels.contains(address)) continue;
        addresses.push_back(address);
        if (auto kept = channels_.find(address); kept != channels_.end()) {
          channels[address] = kept->second;
          continue;
        }
        grpc::ChannelArguments args;
        args.SetMaxReceiveMessageSize(64 << 20);
        // The certificate names the Service (e.g. recommender-peers), not the pod's address.
        if (tls_ && !IsIpLiteral(target.host)) args.SetSslTargetNameOverride(target.host);
        channels[address] = grpc::CreateCustomChannel(address, credentials_, args);
      }
    }
    if (addresses != addresses_) {
      LogInfo("recommender", "peers resolved", {{"peers", absl::StrJoin(addresses, ",")}});
    }
    addresses_ = std::move(addresses);
    channels_ = std::move(channels);
  }
  std::vector<std::shared_ptr<grpc::Channel>> out;
  out.reserve(channels_.size());
  for (const auto& [address, channel] : channels_) out.push_back(channel);
  return out;
}

std::vector<std::string> RecommenderPeers::Addresses() {
  Channels();
  std::lock_guard<std::mutex> lock(mu_);
  return addresses_;
}

std::optional<grpc::Status> RecommenderPeers::Forward(grpc::CallbackServerContext* context,
                                                      const std::string& method,
                                                      const google::protobuf::Message& request,
                                                      google::protobuf::Message* response) {
  if (Forwarded(*context)) return std::nullopt;
  for (const auto& channel : Channels()) {
    grpc::ClientContext call;
    for (const auto& [key, value] : context->client_metadata()) {
      const std::string name(key.data(), key.size());
      // Transport and grpc-* keys are the channel's own; the rest is the caller's identity and
      // request headers, passed on as the replica received them.
      if (name.empty() || name.front() == ':' || absl::StartsWith(name, "grpc-") ||
          name == "content-type" || name == "te" || name == "user-agent" ||
          name == "authority" || name == "host") {
        continue;
      }
      call.AddMetadata(name, std::string(value.data(), value.size()));
    }
    call.AddMetadata(kPeerForwardedKey, "1");
    absl::Time deadline = absl::Now() + absl::Seconds(5);
    const auto incoming = absl::FromChrono(context->deadline());
    if (incoming < deadline) deadline = incoming;
    call.set_deadline(absl::ToChronoTime(deadline));

    MessageStub stub(channel);
    std::unique_ptr<google::protobuf::Message> answer(response->New());
    std::promise<grpc::Status> done;
    stub.UnaryCall(&call, method, grpc::StubOptions(), &request, answer.get(),
                   [&done](grpc::Status status) { done.set_value(std::move(status)); });
    grpc::Status status = done.get_future().get();
    if (PeerLacksIt(status)) continue;
    if (status.ok()) response->CopyFrom(*answer);
    for (const auto& [key, value] : call.GetServerInitialMetadata()) {
      const std::string name(key.data(), key.size());
      if (absl::StartsWith(name, "x-aurora-http-")) {
        context->AddInitialMetadata(name, std::string(value.data(), value.size()));
      }
    }
    return status;
  }
  return std::nullopt;
}

}  // namespace aurora::recommender
