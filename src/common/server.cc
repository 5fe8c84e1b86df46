#include "common/server.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>

#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/caller.h"
#include "common/tls.h"

namespace aurora {
namespace {

namespace pb = google::protobuf;

// gRPC 1.51's callback API answers a request it cannot parse with a bare UNIMPLEMENTED. For a
// method the server does implement, that is the caller's malformed input (usually a string that
// is not UTF-8: protobuf strings must be): rewrite it to INVALID_ARGUMENT naming the request type
// and the likely cause. The raw bytes are not available to interceptors, so the field cannot be
// named here; the gateway and in-process callers get the field path from validation.
class MalformedRequestInterceptor final : public grpc::experimental::Interceptor {
 public:
  MalformedRequestInterceptor(grpc::experimental::ServerRpcInfo* info,
                              const std::set<std::string>* served)
      : method_(info->method() != nullptr ? info->method() : ""), served_(served) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED &&
          status.error_message().empty()) {
        if (const pb::MethodDescriptor* method = FindMethod()) {
          methods->ModifySendStatus(grpc::Status(
              grpc::StatusCode::INVALID_ARGUMENT,
              absl::StrCat("request: not a valid ", method->input_type()->full_name(),
                           " (a string field is not valid UTF-8, or the bytes are not this "
                           "message)")));
        }
      }
    }
    methods->Proceed();
  }

 private:
  const pb::MethodDescriptor* FindMethod() const {
    // "/pkg.Service/Method" -> "pkg.Service.Method"
    if (method_.size() < 3 || method_[0] != '/') return nullptr;
    std::string name = method_.substr(1);
    const size_t slash = name.rfind('/');
    if (slash == std::string::npos) return nullptr;
    name[slash] = '.';
    const pb::MethodDescriptor* method =
        pb::DescriptorPool::generated_pool()->FindMethodByName(name);
    // A service compiled into the binary but not registered (a component this node does not
    // run) is really unimplemented here.
    if (method == nullptr || !served_->contains(method->service()->full_name())) return nullptr;
    return method;
  }

  std::string method_;
  const std::set<std::string>* served_;
};

class MalformedRequestInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MalformedRequestInterceptorFactory(std::set<std::string> served)
      : served_(std::move(served)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new MalformedRequestInterceptor(info, &served_);
  }

 private:
  const std::set<std::string> served_;  // full names of the registered services
};

// Calls of other organisations' nodes act for the organisation their certificate names, with the
// rights an API client of that organisation has through the gateway: the caller metadata
// (common/caller.h) they sent is removed, and x-aurora-organization-id is set to the certificate's
// organisation. They never carry x-aurora-client-id: a member node is not one of this node's API
// clients.
class CallerMetadataInterceptor final : public grpc::experimental::Interceptor {
 public:
  CallerMetadataInterceptor(grpc::experimental::ServerRpcInfo* info,
                            const std::string* own_organization)
      : info_(info), own_organization_(own_organization) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      const grpc::ServerContextBase* context = info_->server_context();
      const auto auth = context != nullptr ? context->auth_context() : nullptr;
      if (auth && auth->IsPeerAuthenticated()) {
        auto peer = PeerOrganization(*auth);
        if (peer != *own_organization_) {
          auto* metadata = methods->GetRecvInitialMetadata();
          for (const char* key : {kCallerOrganizationMetadata, kCallerClientMetadata}) {
            metadata->erase(grpc::string_ref(key));
          }
          // The value must outlive the call's handlers: this interceptor lives as long as the
          // call. A certificate without an organisation does not pass the handshake (PeerVerifier);
          // should one ever get here, "none" owns nothing, where an empty value would mean an
          // operator.
          peer_organization_ = peer.value_or("none");
          metadata->emplace(grpc::string_ref(kCallerOrganizationMetadata),
                            grpc::string_ref(peer_organization_));
        }
      }
    }
    methods->Proceed();
  }

 private:
  grpc::experimental::ServerRpcInfo* info_;
  const std::string* own_organization_;
  std::string peer_organization_;
};

class CallerMetadataInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CallerMetadataInterceptorFactory(std::string own_organization)
      : own_organization_(std::move(own_organization)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new CallerMetadataInterceptor(info, &own_organization_);
  }

 private:
  const std::string own_organization_;
};

}  // namespace

GrpcServer::GrpcServer(GrpcServerOptions options) : options_(options) {}

GrpcServer::~GrpcServer() { Shutdown(absl::ZeroDuration()); }

void GrpcServer::AddService(grpc::Service* service, const std::string& health_name) {
  services_.emplace_back(service, health_name);
}

absl::Status GrpcServer::Start(const std::string& address, Metrics* metrics) {
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(
      address, options_.credentials ? options_.credentials : grpc::InsecureServerCredentials(),
      &port_);
  builder.SetMaxReceiveMessageSize(options_.max_receive_message_bytes);
  builder.SetMaxSendMessageSize(options_.max_send_message_bytes);
  // Accept client keepalive pings every 10 s or more; close idle connections after 1 h.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, 3600 * 1000);
  builder.RegisterService(&health_);
  for (auto& [service, name] : services_) builder.RegisterService(service);
  if (generic_ != nullptr) builder.RegisterCallbackGenericService(generic_);
  // The status rewrite runs first so that metrics count the status the caller receives.
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  if (options_.credentials) {
    creators.push_back(
        std::make_unique<CallerMetadataInterceptorFactory>(options_.own_organization));
  }
  std::set<std::string> served;
  for (auto& [service, name] : services_) served.insert(name);
  creators.push_back(std::make_unique<MalformedRequestInterceptorFactory>(std::move(served)));
  if (metrics != nullptr) creators.push_back(metrics->NewInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(creators));
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) {
    server_.reset();
    return absl::UnavailableError(
        absl::StrCat("--grpc-listen: cannot listen on ", address, " (in use or not local?)"));
  }
  if (!options_.probe_address.empty()) {
    grpc::ServerBuilder probe;
    probe.AddListeningPort(options_.probe_address, grpc::InsecureServerCredentials(),
                           &probe_port_);
    probe.RegisterService(&probe_health_);
    probe_server_ = probe.BuildAndStart();
    if (!probe_server_ || probe_port_ == 0) {
      probe_server_.reset();
      server_->Shutdown();
      server_->Wait();
      server_.reset();
      return absl::UnavailableError(absl::StrCat("--probe-listen: cannot listen on ",
                                                 options_.probe_address,
                                                 " (in use or not local?)"));
    }
  }
  SetServing(false);
  return absl::OkStatus();
}

void GrpcServer::SetServing(bool serving) {
  if (!server_ || shut_down_) return;
  for (HealthService* health : {&health_, &probe_health_}) {
    health->SetStatus("", serving);
    for (auto& [service, name] : services_) health->SetStatus(name, serving);
  }
}

std::shared_ptr<grpc::Channel> GrpcServer::InProcessChannel() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options_.max_send_message_bytes);
  return server_->InProcessChannel(args);
}

void GrpcServer::Shutdown(absl::Duration grace) {
  if (!server_ || shut_down_) return;
  shut_down_ = true;
  health_.Shutdown();
  probe_health_.Shutdown();
  server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(grace));
  server_->Wait();
  if (probe_server_) {
    probe_server_->Shutdown(std::chrono::system_clock::now());
    probe_server_->Wait();
  }
}

}  // namespace aurora
