#include "network/access_policy.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/text.h"

namespace aurora::network {
namespace {

// google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;

absl::StatusOr<absl::Time> ToTime(const google::protobuf::Timestamp& t, std::string_view field) {
  if (t.seconds() < kMinTimestampSeconds || t.seconds() > kMaxTimestampSeconds || t.nanos() < 0 ||
      t.nanos() > 999999999) {
    return absl::InvalidArgumentError(absl::StrCat("registry snapshot: ", Sv(field), " (",
                                                   t.seconds(), "s ", t.nanos(),
                                                   "ns) is not a valid timestamp"));
  }
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

MethodRight RightOf(const v1::AccessRights& access, bool per_method) {
  MethodRight right;
  right.open_to_members = access.open_to_members();
  right.allowed_organizations.insert(access.allowed_organizations().begin(),
                                     access.allowed_organizations().end());
  right.per_method = per_method;
  return right;
}

std::string FormatUtc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

// "<id>" or "<id> (<name>)" with the member's name in the first language it has.
std::string OrgLabel(const RegistryView& view, std::string_view id) {
  const v1::Member* member = view.FindMember(id);
  if (member != nullptr) {
    const auto& name = member->name();
    const std::string& text = !name.fi().empty()   ? name.fi()
                              : !name.sv().empty() ? name.sv()
                                                   : name.en();
    if (!text.empty()) return absl::StrCat(Sv(id), " (", text, ")");
  }
  return std::string(id);
}

Decision Allow(std::string_view grant) { return Decision{absl::OkStatus(), std::string(grant)}; }

Decision Deny(std::string message) {
  return Decision{absl::PermissionDeniedError(std::move(message)), ""};
}

}  // namespace

absl::StatusOr<std::shared_ptr<const RegistryView>> RegistryView::Build(
    v1::RegistrySnapshot snapshot) {
  if (snapshot.version() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("registry snapshot: version ", snapshot.version(), " is negative"));
  }
  if (!snapshot.has_valid_until()) {
    return absl::InvalidArgumentError("registry snapshot: valid_until is not set");
  }
  std::shared_ptr<RegistryView> view(new RegistryView(std::move(snapshot)));
  v1::RegistrySnapshot& s = view->snapshot_;
  auto valid_until = ToTime(s.valid_until(), "valid_until");
  if (!valid_until.ok()) return valid_until.status();
  view->valid_until_ = *valid_until;
  auto issue_time = ToTime(s.issue_time(), "issue_time");
  if (!issue_time.ok()) return issue_time.status();
  view->issue_time_ = *issue_time;

  // The registry sends them sorted; sorting again costs little and makes every answer's order
  // a property of this code rather than of the sender.
  std::sort(s.mutable_members()->begin(), s.mutable_members()->end(),
            [](const v1::Member& a, const v1::Member& b) {
              return a.organization_id() < b.organization_id();
            });
  std::sort(
      s.mutable_services()->begin(), s.mutable_services()->end(),
      [](const v1::NetworkService& a, const v1::NetworkService& b) { return a.name() < b.name(); });

  for (const v1::Member& member : s.members()) {
    if (!IsCanonicalUuid(member.organization_id())) {
      return absl::InvalidArgumentError(absl::StrCat("registry snapshot: members.organization_id ",
                                                     QuoteForMessage(member.organization_id()),
                                                     " is not a canonical UUID"));
    }
    if (!view->members_.emplace(member.organization_id(), &member).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("registry snapshot: member ", member.organization_id(), " is listed twice"));
    }
  }
  view->services_.reserve(s.services_size());
  for (const v1::NetworkService& service : s.services()) {
    if (service.name().empty()) {
      return absl::InvalidArgumentError("registry snapshot: a service has no name");
    }
    if (!view->service_index_.emplace(service.name(), view->services_.size()).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "registry snapshot: service ", QuoteForMessage(service.name()), " is listed twice"));
    }
    ServiceEntry entry;
    entry.service = &service;
    entry.provider = view->FindMember(service.organization_id());
    for (const std::string& method : service.methods()) {
      entry.methods.emplace(method, RightOf(service.access(), /*per_method=*/false));
    }
    // An entry for a method the service does not have grants nothing: there is nothing to call.
    for (const v1::MethodAccess& override : service.method_access()) {
      auto it = entry.methods.find(override.method());
      if (it != entry.methods.end()) it->second = RightOf(override.access(), /*per_method=*/true);
    }
    view->services_.push_back(std::move(entry));
  }
  return std::shared_ptr<const RegistryView>(std::move(view));
}

const v1::Member* RegistryView::FindMember(std::string_view organization_id) const {
  auto it = members_.find(Sv(organization_id));
  return it == members_.end() ? nullptr : it->second;
}

const ServiceEntry* RegistryView::FindService(std::string_view name) const {
  auto it = service_index_.find(Sv(name));
  return it == service_index_.end() ? nullptr : &services_[it->second];
}

std::vector<const ServiceEntry*> RegistryView::ServicesOf(std::string_view organization_id) const {
  std::vector<const ServiceEntry*> out;
  for (const ServiceEntry& entry : services_) {
    if (entry.service->organization_id() == organization_id) out.push_back(&entry);
  }
  return out;
}

std::string_view Decision::label() const {
  if (status.ok()) return "allowed";
  if (status.code() == absl::StatusCode::kUnavailable) return "unavailable";
  return "denied";
}

bool IsNetworkService(std::string_view service_name) {
  return absl::StartsWith(Sv(service_name), "aurora.") ||
         absl::StartsWith(Sv(service_name), "grpc.health.v1.") ||
         absl::StartsWith(Sv(service_name), "grpc.reflection.");
}

bool SplitMethodPath(std::string_view path, std::string_view* service, std::string_view* method) {
  if (path.size() < 4 || path.front() != '/') return false;
  const size_t slash = path.find('/', 1);
  if (slash == std::string_view::npos || slash == 1 || slash + 1 == path.size()) return false;
  if (path.find('/', slash + 1) != std::string_view::npos) return false;
  *service = path.substr(1, slash - 1);
  *method = path.substr(slash + 1);
  return true;
}

std::string NoValidCopyReason(const RegistryView* view, absl::Time now) {
  if (view == nullptr) {
    return "this node has no copy of the network registry yet (the directory has not been "
           "reached)";
  }
  if (view->expired(now)) {
    return absl::StrCat("this node's copy of the network registry (version ", view->version(),
                        ") expired at ", FormatUtc(view->valid_until()),
                        " and the directory has not sent a newer one");
  }
  return "";
}

absl::StatusOr<std::string> NodeAddressOf(const RegistryView* view, absl::Time now,
                                          std::string_view organization_id) {
  if (std::string reason = NoValidCopyReason(view, now); !reason.empty()) {
    return absl::UnavailableError(absl::StrCat(
        reason, ", so it does not know where organisation ", std::string(organization_id),
        "'s node is; try again when it has followed the directory"));
  }
  const v1::Member* member = view->FindMember(organization_id);
  if (member == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("organisation ", QuoteForMessage(organization_id),
                     " is not a member of the network (registry version ", view->version(), ")"));
  }
  if (member->node_address().empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("organisation ", std::string(organization_id),
                     " has not registered its node's address in the network registry"));
  }
  return member->node_address();
}

Decision Decide(const RegistryView* view, absl::Time now, std::string_view own_org,
                std::string_view caller_org, std::string_view path) {
  // The node's own gateway and tools are trusted as its operators are; they need no registry.
  if (!own_org.empty() && caller_org == own_org) return Allow(kGrantOwnOrganization);
  std::string_view service_name;
  std::string_view method_name;
  if (!SplitMethodPath(path, &service_name, &method_name)) {
    return Deny(absl::StrCat("not a gRPC method path: ", QuoteForMessage(path)));
  }
  if (std::string reason = NoValidCopyReason(view, now); !reason.empty()) {
    return Decision{
        absl::UnavailableError(absl::StrCat(
            reason, "; calls from other organisations are refused until it has a valid copy")),
        ""};
  }
  if (caller_org.empty()) {
    return Deny(absl::StrCat("the caller's certificate names no organisation; ", Sv(path),
                             " is only for members of the network"));
  }
  if (view->FindMember(caller_org) == nullptr) {
    return Deny(absl::StrCat("organisation ", QuoteForMessage(caller_org),
                             " is not a member of the network (registry version ", view->version(),
                             ") and may not call ", Sv(path)));
  }
  if (IsNetworkService(service_name)) return Allow(kGrantNetworkService);

  const ServiceEntry* entry = view->FindService(service_name);
  if (entry == nullptr || entry->service->organization_id() != own_org) {
    std::string message = absl::StrCat("organisation ", Sv(caller_org), " may not call ", Sv(path),
                                       ": this node's organisation ", OrgLabel(*view, own_org),
                                       " does not offer ", Sv(service_name));
    if (entry == nullptr) {
      absl::StrAppend(&message, ", and no member of the network offers it (registry version ",
                      view->version(), ")");
    } else {
      const v1::NetworkService& other = *entry->service;
      absl::StrAppend(&message, "; it is offered by organisation ",
                      OrgLabel(*view, other.organization_id()));
      if (entry->provider != nullptr && !entry->provider->node_address().empty()) {
        absl::StrAppend(&message, " from its node ", entry->provider->node_address());
      } else {
        absl::StrAppend(&message, ", whose node address is not set");
      }
    }
    return Deny(std::move(message));
  }
  auto method = entry->methods.find(Sv(method_name));
  if (method == entry->methods.end()) {
    return Deny(absl::StrCat("organisation ", Sv(caller_org), " may not call ", Sv(path), ": ",
                             Sv(method_name), " is not a method of the published service ",
                             Sv(service_name), " (revision ", entry->service->revision(), ")"));
  }
  const MethodRight& right = method->second;
  if (right.open_to_members) return Allow(kGrantOpenToMembers);
  if (right.allowed_organizations.contains(Sv(caller_org))) return Allow(kGrantAllowList);
  // Whom else it is granted to is the provider's business: the count tells the caller that the
  // allow-list exists without naming the organisations on it.
  std::string others;
  const size_t n = right.allowed_organizations.size() -
                   (right.allowed_organizations.contains(Sv(own_org)) ? 1 : 0);
  if (n == 0) {
    others = "no other organisation";
  } else {
    others = absl::StrCat(n, n == 1 ? " organisation" : " organisations");
  }
  return Deny(absl::StrCat(
      "organisation ", Sv(caller_org), " may not call ", Sv(path),
      ": the right to call it is granted by ", OrgLabel(*view, own_org), " to ", others,
      ", not to ", Sv(caller_org), " (",
      right.per_method ? "the method's own access rights" : "the service's access rights", ")"));
}

std::vector<v1::AllowedMethod> AllowedMethods(const RegistryView& view,
                                              std::string_view organization_id) {
  std::vector<v1::AllowedMethod> out;
  if (view.FindMember(organization_id) == nullptr) return out;
  for (const ServiceEntry& entry : view.services()) {
    const v1::NetworkService& service = *entry.service;
    // Its own services it calls as their owner, not through a grant.
    if (service.organization_id() == organization_id) continue;
    for (const std::string& method : service.methods()) {
      auto right = entry.methods.find(method);
      if (right == entry.methods.end()) continue;
      const char* grant = nullptr;
      if (right->second.open_to_members) {
        grant = kGrantOpenToMembers;
      } else if (right->second.allowed_organizations.contains(Sv(organization_id))) {
        grant = kGrantAllowList;
      } else {
        continue;
      }
      v1::AllowedMethod& allowed = out.emplace_back();
      allowed.set_path(absl::StrCat("/", service.name(), "/", method));
      allowed.set_service(service.name());
      allowed.set_method(method);
      allowed.set_organization_id(service.organization_id());
      if (entry.provider != nullptr) allowed.set_node_address(entry.provider->node_address());
      allowed.set_grant(grant);
    }
  }
  std::sort(out.begin(), out.end(), [](const v1::AllowedMethod& a, const v1::AllowedMethod& b) {
    return a.path() < b.path();
  });
  // A method listed twice in `methods` would appear twice.
  out.erase(std::unique(out.begin(), out.end(),
                        [](const v1::AllowedMethod& a, const v1::AllowedMethod& b) {
                          return a.path() == b.path();
                        }),
            out.end());
  return out;
}

}  // namespace aurora::network
