#pragma once
// The access rights a node enforces on calls from other organisations (network.proto, header
// comment), as plain logic over one copy of the registry:
//   * RegistryView indexes a RegistrySnapshot: members by id, services by name, each service's
//     methods and the rights of each method (its method_access entry, else the service's access);
//   * Decide answers one call: may organisation X call /pkg.Service/Method on this node?
//   * AllowedMethods lists what an organisation may call on the other members' nodes (Discovery).
//
// Decide, in this order:
//   1. the node's own organisation: allowed ("own organisation"), with or without a registry;
//   2. a path that is not /<service>/<method>: PERMISSION_DENIED;
//   3. no registry copy, or one past its valid_until: UNAVAILABLE naming the expiry, never a
//      guess;
//   4. a caller that is not a member: PERMISSION_DENIED;
//   5. the network's own services (aurora.*, grpc.health.v1.*, grpc.reflection.*): allowed for
//      members ("network service"); each service checks what a member may do itself;
//   6. a service this node's organisation publishes: the method must be one of the service's
//      methods, else PERMISSION_DENIED (not UNIMPLEMENTED: the registry grants rights per
//      published method, and a method it does not list is one nobody holds a right to, whether
//      or not the backend happens to implement it); then the method's right: allowed when it is
//      open to members ("open to members") or names the caller ("allow-list"), else
//      PERMISSION_DENIED naming the caller, the method and the missing right;
//   7. any other service: PERMISSION_DENIED, saying this node's organisation does not offer it
//      and, when another member does, which member and node.
//
// Example:
//   auto view = RegistryView::Build(snapshot);
//   Decision d = Decide(view->get(), absl::Now(), own_org, caller_org, "/fi.x.v1.Benefits/Get");
//   if (!d.allowed()) return d.status;
//
// RegistryView is immutable after Build and safe to read from any thread; the functions are pure.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aurora/network/v1/network.pb.h"

namespace aurora::network {

// Why a call was allowed (Decision::grant, AllowedMethod.grant).
inline constexpr char kGrantOwnOrganization[] = "own organisation";
inline constexpr char kGrantNetworkService[] = "network service";
inline constexpr char kGrantOpenToMembers[] = "open to members";
inline constexpr char kGrantAllowList[] = "allow-list";

// Who may call one method: AccessRights with its allow-list as a set.
struct MethodRight {
  bool open_to_members = false;
  absl::flat_hash_set<std::string> allowed_organizations;
  bool per_method = false;  // from the method's own method_access entry, not the service's access
};

// A published service with its methods' rights.
struct ServiceEntry {
  const v1::NetworkService* service = nullptr;  // into the view's snapshot
  const v1::Member* provider = nullptr;         // null if the provider is not a member
  // Every method of the service (NetworkService.methods) with its right.
  absl::flat_hash_map<std::string, MethodRight> methods;
};

class RegistryView {
 public:
  // Indexes `snapshot` (members and services are sorted by id and name, whatever the order they
  // came in). INVALID_ARGUMENT, naming the field and value, for a snapshot no registry should
  // produce: no valid_until, a negative version, a member or service listed twice, a member
  // without a canonical UUID, a service without a name.
  static absl::StatusOr<std::shared_ptr<const RegistryView>> Build(v1::RegistrySnapshot snapshot);

  RegistryView(const RegistryView&) = delete;
  RegistryView& operator=(const RegistryView&) = delete;

  const v1::RegistrySnapshot& snapshot() const { return snapshot_; }
  int64_t version() const { return snapshot_.version(); }
  absl::Time issue_time() const { return issue_time_; }
  absl::Time valid_until() const { return valid_until_; }
  // Past valid_until: the copy no longer answers for anything.
  bool expired(absl::Time now) const { return now > valid_until_; }

  // Null if there is no such member / service.
  const v1::Member* FindMember(std::string_view organization_id) const;
  const ServiceEntry* FindService(std::string_view name) const;
  // The services `organization_id` publishes, ordered by name.
  std::vector<const ServiceEntry*> ServicesOf(std::string_view organization_id) const;
  // Every service, ordered by name.
  const std::vector<ServiceEntry>& services() const { return services_; }

 private:
  explicit RegistryView(v1::RegistrySnapshot snapshot) : snapshot_(std::move(snapshot)) {}

  v1::RegistrySnapshot snapshot_;
  absl::Time issue_time_;
  absl::Time valid_until_;
  absl::flat_hash_map<std::string, const v1::Member*> members_;
  std::vector<ServiceEntry> services_;
  absl::flat_hash_map<std::string, size_t> service_index_;  // name -> index in services_
};

// The outcome of Decide.
struct Decision {
  // OK: allowed; UNAVAILABLE: no valid registry copy; PERMISSION_DENIED: refused. The message
  // is what the caller receives.
  absl::Status status;
  // When allowed: why (one of the kGrant* constants).
  std::string grant;

  bool allowed() const { return status.ok(); }
  // "allowed", "denied" or "unavailable": the decision label of metrics and logs.
  std::string_view label() const;
};

// True for the network's own services: aurora.*, grpc.health.v1.*, grpc.reflection.*.
bool IsNetworkService(std::string_view service_name);

// Splits "/<service>/<method>" into its two names; false if `path` is not of that form.
bool SplitMethodPath(std::string_view path, std::string_view* service, std::string_view* method);

// Whether `caller_org` may call `path` ("/pkg.Service/Method") on the node of `own_org`; see the
// header comment. `view` null means the node has no copy of the registry.
Decision Decide(const RegistryView* view, absl::Time now, std::string_view own_org,
                std::string_view caller_org, std::string_view path);

// Empty when `view` is a copy valid at `now`; otherwise why not (no copy, or expired when),
// as a sentence to put in an error message.
std::string NoValidCopyReason(const RegistryView* view, absl::Time now);

// Where `organization_id`'s node answers, from a copy valid at `now`: UNAVAILABLE without one
// (NoValidCopyReason: no address is guessed), FAILED_PRECONDITION when the organisation is not a
// member or has not set its node's address.
absl::StatusOr<std::string> NodeAddressOf(const RegistryView* view, absl::Time now,
                                          std::string_view organization_id);

// The methods of other members' services that `organization_id` may call, ordered by path, with
// the provider's node address and the grant. Empty if it is not a member.
std::vector<v1::AllowedMethod> AllowedMethods(const RegistryView& view,
                                              std::string_view organization_id);

}  // namespace aurora::network
