#include "network/access_guard.h"

#include <prometheus/counter.h>

#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "common/tls.h"

namespace aurora::network {
namespace {

constexpr char kComponent[] = "network";

}  // namespace

AccessGuard::AccessGuard(const RegistryCopy* copy, std::string own_organization, Metrics* metrics)
    : copy_(copy), own_organization_(std::move(own_organization)) {
  if (metrics != nullptr) {
    auto& decisions = prometheus::BuildCounter()
                          .Name("aurora_network_access_decisions_total")
                          .Help(
                              "Access decisions on other organisations' calls to this node, by "
                              "decision: allowed, denied, or unavailable (no valid registry "
                              "copy)")
                          .Register(metrics->registry());
    allowed_ = &decisions.Add({{"decision", "allowed"}});
    denied_ = &decisions.Add({{"decision", "denied"}});
    unavailable_ = &decisions.Add({{"decision", "unavailable"}});
  }
}

grpc::Status AccessGuard::Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                                  OutputMetadata* /*consumed_auth_metadata*/,
                                  OutputMetadata* /*response_metadata*/) {
  // The handshake has verified the peer's chain and that its certificate names an
  // organisation; a context without one would be a call that bypassed that, so it is refused.
  const std::optional<std::string> caller =
      context != nullptr ? PeerOrganization(*context) : std::nullopt;
  if (caller.has_value() && *caller == own_organization_) return grpc::Status::OK;

  std::string_view path;
  if (auto it = auth_metadata.find(":path"); it != auth_metadata.end()) {
    path = std::string_view(it->second.data(), it->second.size());
  }
  // A real path is at most ~400 bytes (two proto names); a longer one is the caller's invention
  // and is logged cut short.
  const std::string logged_path(path.substr(0, 512));
  const std::shared_ptr<const RegistryView> view = copy_->Current();
  const Decision decision =
      Decide(view.get(), absl::Now(), own_organization_, caller.value_or(""), path);

  prometheus::Counter* counter = decision.allowed() ? allowed_
                                 : decision.status.code() == absl::StatusCode::kUnavailable
                                     ? unavailable_
                                     : denied_;
  if (counter != nullptr) counter->Increment();
  const std::string version = view != nullptr ? absl::StrCat(view->version()) : "none";
  if (decision.allowed()) {
    // Calls to organisations' published services are what the rights protect: each is logged.
    // The network's own services are open to every member and carry most of the traffic
    // (recommendations, the directory's feed); their admissions are counted, and logged only at
    // debug level.
    Log(decision.grant == kGrantNetworkService ? LogLevel::kDebug : LogLevel::kInfo, kComponent,
        "access allowed",
        {{"caller_organization", caller.value_or("")},
         {"path", logged_path},
         {"decision", std::string(decision.label())},
         {"grant", decision.grant},
         {"registry_version", version}});
  } else {
    LogWarning(kComponent, "access refused",
               {{"caller_organization", caller.value_or("")},
                {"path", logged_path},
                {"decision", std::string(decision.label())},
                {"reason", std::string(decision.status.message())},
                {"registry_version", version}});
  }
  return ToGrpcStatus(decision.status);
}

}  // namespace aurora::network
