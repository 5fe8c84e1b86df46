#include "network/service_proxy.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <atomic>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/caller.h"
#include "common/text.h"

namespace aurora::network {
namespace {

constexpr const char* kCodeNames[17] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

std::string ToString(grpc::string_ref text) { return std::string(text.data(), text.size()); }

// Request metadata the upstream call sets itself, or that belongs to this hop only.
bool IsTransportHeader(std::string_view key) {
  return key.empty() || key[0] == ':' || absl::StartsWith(Sv(key), "grpc-") || key == "te" ||
         key == "content-type" || key == "user-agent";
}

// The service part of "/pkg.Service/Method"; empty if malformed.
std::string ServiceOf(const std::string& path) {
  if (path.size() < 4 || path[0] != '/') return "";
  const size_t slash = path.find('/', 1);
  if (slash == std::string::npos || slash == 1 || slash + 1 == path.size()) return "";
  return path.substr(1, slash - 1);
}

// One forwarded call: the caller's side (this server reactor) and the backend's side (Upstream,
// a client reactor), joined message by message. Deleted when both sides are done.
class ProxyCall final : public grpc::ServerGenericBidiReactor {
 public:
  ProxyCall(ServiceProxy* proxy, grpc::GenericCallbackServerContext* context,
            grpc::GenericStub* stub, std::string service)
      : proxy_(proxy), context_(context), service_(std::move(service)), upstream_(this) {
    for (const auto& [key, value] : context->client_metadata()) {
      const std::string name = ToString(key);
      if (!IsTransportHeader(name)) upstream_context_.AddMetadata(name, ToString(value));
    }
    upstream_context_.set_deadline(context->deadline());
    stub->PrepareBidiStreamingCall(&upstream_context_, context->method(), grpc::StubOptions(),
                                   &upstream_);
    // Two holds on the upstream call: the request direction (removed when the caller has no more
    // to send) and the response direction (removed when the backend has no more to send), so the
    // upstream call cannot end while this object still starts operations on it from the
    // caller's side.
    upstream_.AddMultipleHolds(2);
    upstream_.StartCall();
    StartRead(&request_);
  }

  // Caller -> backend.
  void OnReadDone(bool ok) override {
    if (ok) {
      upstream_.StartWrite(&request_);
    } else {
      // The caller has half-closed (or is gone): so is the request direction.
      upstream_.StartWritesDone();
      upstream_.RemoveHold();
    }
  }
  void OnUpstreamWriteDone(bool ok) {
    if (ok) {
      StartRead(&request_);
    } else {
      // The backend takes no more (it has ended the call; its status follows).
      upstream_.RemoveHold();
    }
  }

  // Backend -> caller.
  void OnUpstreamInitialMetadata(bool ok) {
    if (!ok) {
      upstream_.RemoveHold();  // the call failed before any response
      return;
    }
    for (const auto& [key, value] : upstream_context_.GetServerInitialMetadata()) {
      const std::string name = ToString(key);
      if (!IsTransportHeader(name)) context_->AddInitialMetadata(name, ToString(value));
    }
    upstream_.StartRead(&response_);
  }
  void OnUpstreamReadDone(bool ok) {
    if (ok) {
      StartWrite(&response_);
    } else {
      upstream_.RemoveHold();  // no more responses; the status follows in OnUpstreamDone
    }
  }
  void OnWriteDone(bool ok) override {
    if (ok) {
      upstream_.StartRead(&response_);
    } else {
      upstream_context_.TryCancel();  // the caller is gone
      upstream_.RemoveHold();
    }
  }

  void OnCancel() override { upstream_context_.TryCancel(); }

  // The backend's call has ended: every operation on it is done, so no write to the caller is in
  // flight. Its status and trailing metadata become the caller's.
  void OnUpstreamDone(const grpc::Status& status) {
    for (const auto& [key, value] : upstream_context_.GetServerTrailingMetadata()) {
      const std::string name = ToString(key);
      if (!IsTransportHeader(name)) context_->AddTrailingMetadata(name, ToString(value));
    }
    proxy_->Count(service_, status.error_code());
    Finish(status);
    Release();
  }
  void OnDone() override { Release(); }

 private:
  class Upstream final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
   public:
    explicit Upstream(ProxyCall* call) : call_(call) {}
    void OnReadInitialMetadataDone(bool ok) override { call_->OnUpstreamInitialMetadata(ok); }
    void OnReadDone(bool ok) override { call_->OnUpstreamReadDone(ok); }
    void OnWriteDone(bool ok) override { call_->OnUpstreamWriteDone(ok); }
    void OnWritesDoneDone(bool) override {}
    void OnDone(const grpc::Status& status) override { call_->OnUpstreamDone(status); }

   private:
    ProxyCall* call_;
  };

  // Both sides hold a reference; the last one deletes.
  void Release() {
    if (references_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  ServiceProxy* proxy_;
  grpc::GenericCallbackServerContext* context_;
  const std::string service_;
  grpc::ClientContext upstream_context_;
  Upstream upstream_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  std::atomic<int> references_{2};
};

// A call for a service this node does not offer.
class Refusal final : public grpc::ServerGenericBidiReactor {
 public:
  explicit Refusal(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

absl::StatusOr<ServiceBackend> ParseServiceBackend(std::string_view flag_value) {
  const size_t equals = flag_value.find('=');
  const auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("--service-backends ", QuoteForMessage(flag_value), ": ", Sv(why)));
  };
  if (equals == std::string_view::npos || equals == 0 || equals + 1 == flag_value.size()) {
    return bad("give NAME=HOST:PORT, e.g. fi.example.benefits.v1.Benefits=127.0.0.1:7001");
  }
  ServiceBackend backend;
  backend.service = std::string(flag_value.substr(0, equals));
  backend.target = std::string(flag_value.substr(equals + 1));
  if (backend.service.find('.') == std::string::npos ||
      backend.service.find_first_of("/ ") != std::string::npos) {
    return bad("the name must be a full gRPC service name (package.Service)");
  }
  if (absl::StartsWith(backend.service, "aurora.") || absl::StartsWith(backend.service, "grpc.")) {
    return bad("the network's own services are not forwarded");
  }
  if (backend.target.find(':') == std::string::npos) return bad("the backend needs HOST:PORT");
  return backend;
}

ServiceProxy::ServiceProxy(const std::vector<ServiceBackend>& backends,
                           std::shared_ptr<grpc::ChannelCredentials> credentials,
                           Metrics* metrics) {
  if (credentials == nullptr) credentials = grpc::InsecureChannelCredentials();
  if (metrics != nullptr) {
    calls_ = &prometheus::BuildCounter()
                  .Name("aurora_network_proxied_calls_total")
                  .Help(
                      "Calls forwarded to this organisation's own backends, by service and "
                      "the backend's status code")
                  .Register(metrics->registry());
  }
  for (const auto& backend : backends) {
    Route& route = routes_[backend.service];
    route.stub =
        std::make_unique<grpc::GenericStub>(grpc::CreateChannel(backend.target, credentials));
    if (calls_ != nullptr) {
      for (const char* code : kCodeNames) {
        route.by_code.push_back(&calls_->Add({{"service", backend.service}, {"grpc_code", code}}));
      }
    }
  }
}

ServiceProxy::~ServiceProxy() = default;

std::vector<std::string> ServiceProxy::services() const {
  std::vector<std::string> out;
  for (const auto& [name, route] : routes_) out.push_back(name);
  return out;
}

void ServiceProxy::Count(const std::string& service, grpc::StatusCode code) {
  auto found = routes_.find(service);
  const int index = static_cast<int>(code);
  if (found == routes_.end() || index < 0 ||
      index >= static_cast<int>(found->second.by_code.size())) {
    return;
  }
  found->second.by_code[static_cast<size_t>(index)]->Increment();
}

grpc::ServerGenericBidiReactor* ServiceProxy::CreateReactor(
    grpc::GenericCallbackServerContext* context) {
  const std::string service = ServiceOf(context->method());
  auto found = routes_.find(service);
  if (found == routes_.end()) {
    return new Refusal(
        grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                     absl::StrCat("this node offers no service ",
                                  QuoteForMessage(service.empty() ? context->method() : service))));
  }
  return new ProxyCall(this, context, found->second.stub.get(), service);
}

}  // namespace aurora::network
