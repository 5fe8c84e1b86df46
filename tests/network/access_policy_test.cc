// Tests of the access rights a node enforces on other organisations' calls (src/network/
// access_policy.*): every branch of Decide in its order (own organisation, malformed path, no or
// expired registry copy, non-members, the network's own services, published services with
// service-wide and per-method rights, the allow-list, unknown methods, services offered by
// another member or by nobody, a withdrawn service), the denial messages, RegistryView's checks
// of a snapshot, and AllowedMethods.

#include "network/access_policy.h"

#include <catch2/catch.hpp>
#include <string>

namespace aurora::network {
namespace {

using Catch::Matchers::Contains;

constexpr char kOwn[] = "aaaaaaaa-0000-4000-8000-00000000000a";       // this node's organisation
constexpr char kB[] = "bbbbbbbb-0000-4000-8000-00000000000b";         // on Benefits' allow-list
constexpr char kC[] = "cccccccc-0000-4000-8000-00000000000c";         // on Apply's allow-list
constexpr char kD[] = "dddddddd-0000-4000-8000-00000000000d";         // offers Maps
constexpr char kStranger[] = "eeeeeeee-0000-4000-8000-00000000000e";  // not a member

const absl::Time kNow = absl::FromUnixSeconds(1'750'000'000);

void SetTime(google::protobuf::Timestamp* out, absl::Time t) {
  out->set_seconds(absl::ToUnixSeconds(t));
}

v1::Member* AddMember(v1::RegistrySnapshot* s, const std::string& id, const std::string& name,
                      const std::string& address = "") {
  v1::Member* m = s->add_members();
  m->set_organization_id(id);
  m->mutable_name()->set_fi(name);
  m->set_node_address(address);
  return m;
}

v1::NetworkService* AddService(v1::RegistrySnapshot* s, const std::string& name,
                               const std::string& org, std::initializer_list<const char*> methods,
                               int64_t revision = 3) {
  v1::NetworkService* service = s->add_services();
  service->set_name(name);
  service->set_organization_id(org);
  for (const char* m : methods) service->add_methods(m);
  service->set_revision(revision);
  return service;
}

// The registry the tests decide against (members deliberately out of order).
v1::RegistrySnapshot Snapshot() {
  v1::RegistrySnapshot s;
  s.set_version(7);
  SetTime(s.mutable_issue_time(), kNow - absl::Hours(1));
  SetTime(s.mutable_valid_until(), kNow + absl::Hours(1));
  AddMember(&s, kD, "Karttalaitos", "d.example:443");
  AddMember(&s, kOwn, "Kela", "a.example:443");
  AddMember(&s, kB, "Verohallinto");
  AddMember(&s, kC, "");

  // Service-wide: B only; GetDecision: every member; Apply: C only.
  v1::NetworkService* benefits =
      AddService(&s, "fi.example.v1.Benefits", kOwn, {"GetDecision", "ListDecisions", "Apply"});
  benefits->mutable_access()->add_allowed_organizations(kB);
  v1::MethodAccess* get = benefits->add_method_access();
  get->set_method("GetDecision");
  get->mutable_access()->set_open_to_members(true);
  v1::MethodAccess* apply = benefits->add_method_access();
  apply->set_method("Apply");
  apply->mutable_access()->add_allowed_organizations(kC);
  apply->mutable_access()->add_allowed_organizations(kOwn);

  AddService(&s, "fi.example.v1.Open", kOwn, {"Ping"})->mutable_access()->set_open_to_members(true);
  AddService(&s, "fi.example.v1.Private", kOwn, {"Read"});
  AddService(&s, "fi.other.v1.Maps", kD, {"Find", "Route"})
      ->mutable_access()
      ->set_open_to_members(true);
  return s;
}

std::shared_ptr<const RegistryView> View(v1::RegistrySnapshot s = Snapshot()) {
  auto view = RegistryView::Build(std::move(s));
  INFO(view.status().ToString());
  REQUIRE(view.ok());
  return *view;
}

Decision DecideAt(const RegistryView* view, const std::string& caller, const std::string& path,
                  absl::Time now = kNow) {
  return Decide(view, now, kOwn, caller, path);
}

void CheckAllowed(const Decision& d, const char* grant) {
  INFO(d.status.ToString());
  CHECK(d.allowed());
  CHECK(d.grant == grant);
  CHECK(d.label() == "allowed");
}

void CheckDenied(const Decision& d) {
  INFO(d.status.ToString());
  CHECK(d.status.code() == absl::StatusCode::kPermissionDenied);
  CHECK(d.grant.empty());
  CHECK(d.label() == "denied");
}

std::string Message(const Decision& d) { return std::string(d.status.message()); }

TEST_CASE("the node's own organisation is never restricted", "[network][access]") {
  auto view = View();
  CheckAllowed(DecideAt(view.get(), kOwn, "/fi.example.v1.Private/Read"), kGrantOwnOrganization);
  CheckAllowed(DecideAt(view.get(), kOwn, "/fi.nowhere.v1.X/Y"), kGrantOwnOrganization);
  // Without a registry copy, or with an expired one, too: its gateway and tools keep working.
  CheckAllowed(DecideAt(nullptr, kOwn, "/fi.example.v1.Private/Read"), kGrantOwnOrganization);
  CheckAllowed(DecideAt(view.get(), kOwn, "/fi.example.v1.Private/Read", kNow + absl::Hours(2)),
               kGrantOwnOrganization);
  // An empty own organisation does not make callers without one "own".
  CheckDenied(Decide(view.get(), kNow, "", "", "/fi.example.v1.Open/Ping"));
}

TEST_CASE("malformed paths are refused", "[network][access]") {
  auto view = View();
  for (const char* path : {"", "/", "noslash", "/fi.example.v1.Open", "/fi.example.v1.Open/",
                           "//Ping", "/fi.example.v1.Open/Ping/extra", "fi.example.v1.Open/Ping"}) {
    INFO(path);
    const Decision d = DecideAt(view.get(), kB, path);
    CheckDenied(d);
    CHECK_THAT(Message(d), Contains("not a gRPC method path"));
    // Also without a copy: a malformed path needs no registry to be refused.
    CheckDenied(DecideAt(nullptr, kB, path));
  }
  std::string_view service, method;
  REQUIRE(SplitMethodPath("/a.B/C", &service, &method));
  CHECK(service == "a.B");
  CHECK(method == "C");
}

TEST_CASE("without a valid registry copy other organisations get UNAVAILABLE",
          "[network][access]") {
  const Decision none = DecideAt(nullptr, kB, "/fi.example.v1.Open/Ping");
  CHECK(none.status.code() == absl::StatusCode::kUnavailable);
  CHECK(none.label() == "unavailable");
  CHECK_THAT(Message(none), Contains("no copy of the network registry"));

  auto view = View();
  CHECK_FALSE(view->expired(kNow + absl::Hours(1)));  // valid up to and including valid_until
  CheckAllowed(DecideAt(view.get(), kB, "/fi.example.v1.Open/Ping", kNow + absl::Hours(1)),
               kGrantOpenToMembers);
  const Decision expired = DecideAt(view.get(), kB, "/fi.example.v1.Open/Ping",
                                    kNow + absl::Hours(1) + absl::Seconds(1));
  CHECK(expired.status.code() == absl::StatusCode::kUnavailable);
  CHECK_THAT(Message(expired),
             Contains("version 7") && Contains("expired at ") &&
                 Contains(absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", kNow + absl::Hours(1),
                                           absl::UTCTimeZone())));
  // Even the network's own services: membership cannot be known without a copy.
  CHECK(DecideAt(nullptr, kB, "/grpc.health.v1.Health/Check").status.code() ==
        absl::StatusCode::kUnavailable);
  CHECK(NoValidCopyReason(view.get(), kNow).empty());
}

TEST_CASE("NodeAddressOf answers from a valid copy only, for members with an address",
          "[network][access]") {
  auto view = View();
  auto d = NodeAddressOf(view.get(), kNow, kD);
  REQUIRE(d.ok());
  CHECK(*d == "d.example:443");
  auto stranger = NodeAddressOf(view.get(), kNow, kStranger);
  CHECK(stranger.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(stranger.status().message()),
             Contains(kStranger) && Contains("not a member") && Contains("version 7"));
  auto without = NodeAddressOf(view.get(), kNow, kB);
  CHECK(without.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(without.status().message()), Contains(kB) && Contains("address"));
  // No copy, or an expired one: no address is guessed.
  CHECK(NodeAddressOf(nullptr, kNow, kD).status().code() == absl::StatusCode::kUnavailable);
  auto expired = NodeAddressOf(view.get(), kNow + absl::Hours(2), kD);
  CHECK(expired.status().code() == absl::StatusCode::kUnavailable);
  CHECK_THAT(std::string(expired.status().message()), Contains("expired at") && Contains(kD));
}

TEST_CASE("organisations that are not members are refused", "[network][access]") {
  auto view = View();
  const Decision d = DecideAt(view.get(), kStranger, "/fi.example.v1.Open/Ping");
  CheckDenied(d);
  CHECK_THAT(Message(d), Contains(kStranger) && Contains("not a member") && Contains("version 7"));
  CheckDenied(DecideAt(view.get(), kStranger, "/aurora.directory.v1.Directory/GetOrganization"));
  const Decision nameless = DecideAt(view.get(), "", "/fi.example.v1.Open/Ping");
  CheckDenied(nameless);
  CHECK_THAT(Message(nameless), Contains("names no organisation"));
}

TEST_CASE("the network's own services are open to members", "[network][access]") {
  auto view = View();
  for (const char* path :
       {"/aurora.directory.v1.Directory/GetOrganization",
        "/aurora.network.v1.Discovery/ListMembers", "/grpc.health.v1.Health/Check",
        "/grpc.reflection.v1alpha.ServerReflection/Info"}) {
    INFO(path);
    CheckAllowed(DecideAt(view.get(), kC, path), kGrantNetworkService);
  }
  CHECK(IsNetworkService("aurora.profile.v1.Profile"));
  CHECK_FALSE(IsNetworkService("grpc.other.v1.Thing"));
  CHECK_FALSE(IsNetworkService("auroraextra.v1.Thing"));
}

TEST_CASE("a service open to members admits every member", "[network][access]") {
  auto view = View();
  for (const char* caller : {kB, kC, kD}) {
    CheckAllowed(DecideAt(view.get(), caller, "/fi.example.v1.Open/Ping"), kGrantOpenToMembers);
  }
}

TEST_CASE("the service's allow-list admits only the organisations it names", "[network][access]") {
  auto view = View();
  CheckAllowed(DecideAt(view.get(), kB, "/fi.example.v1.Benefits/ListDecisions"), kGrantAllowList);
  const Decision d = DecideAt(view.get(), kC, "/fi.example.v1.Benefits/ListDecisions");
  CheckDenied(d);
  CHECK(Message(d) == std::string("organisation ") + kC +
                          " may not call /fi.example.v1.Benefits/ListDecisions: the right to call "
                          "it is granted by " +
                          kOwn + " (Kela) to 1 organisation, not to " + kC +
                          " (the service's access rights)");
  // Empty and not open: only the provider itself.
  const Decision closed = DecideAt(view.get(), kB, "/fi.example.v1.Private/Read");
  CheckDenied(closed);
  CHECK_THAT(Message(closed), Contains("granted by " + std::string(kOwn) +
                                       " (Kela) to no other organisation, not to " + kB));
}

TEST_CASE("a method's own rights replace the service's", "[network][access]") {
  auto view = View();
  // GetDecision is open although the service is allow-listed.
  CheckAllowed(DecideAt(view.get(), kC, "/fi.example.v1.Benefits/GetDecision"),
               kGrantOpenToMembers);
  CheckAllowed(DecideAt(view.get(), kD, "/fi.example.v1.Benefits/GetDecision"),
               kGrantOpenToMembers);
  // Apply names C only: B, on the service's list, does not get it.
  CheckAllowed(DecideAt(view.get(), kC, "/fi.example.v1.Benefits/Apply"), kGrantAllowList);
  const Decision d = DecideAt(view.get(), kB, "/fi.example.v1.Benefits/Apply");
  CheckDenied(d);
  // The provider on its own list is not counted among the others.
  CHECK_THAT(Message(d), Contains("to 1 organisation, not to " + std::string(kB)) &&
                             Contains("the method's own access rights"));
}

TEST_CASE("a method the published service does not have is refused", "[network][access]") {
  auto view = View();
  const Decision d = DecideAt(view.get(), kB, "/fi.example.v1.Benefits/DeleteEverything");
  CheckDenied(d);
  CHECK_THAT(Message(d), Contains("DeleteEverything is not a method of the published service "
                                  "fi.example.v1.Benefits (revision 3)"));
}

TEST_CASE("a service this node's organisation does not offer is refused", "[network][access]") {
  auto view = View();
  const Decision other = DecideAt(view.get(), kB, "/fi.other.v1.Maps/Find");
  CheckDenied(other);
  CHECK_THAT(Message(other), Contains("this node's organisation " + std::string(kOwn) +
                                      " (Kela) does not offer fi.other.v1.Maps") &&
                                 Contains("offered by organisation " + std::string(kD) +
                                          " (Karttalaitos) from its node d.example:443"));
  const Decision nobody = DecideAt(view.get(), kB, "/fi.nowhere.v1.Thing/Do");
  CheckDenied(nobody);
  CHECK_THAT(Message(nobody), Contains("does not offer fi.nowhere.v1.Thing") &&
                                  Contains("no member of the network offers it"));

  SECTION("a withdrawn service is refused from the version that no longer lists it") {
    CheckAllowed(DecideAt(view.get(), kB, "/fi.example.v1.Open/Ping"), kGrantOpenToMembers);
    v1::RegistrySnapshot next = Snapshot();
    next.set_version(8);
    auto* services = next.mutable_services();
    for (int i = 0; i < services->size(); ++i) {
      if (services->Get(i).name() == "fi.example.v1.Open") services->DeleteSubrange(i, 1);
    }
    auto withdrawn = View(next);
    const Decision d = DecideAt(withdrawn.get(), kB, "/fi.example.v1.Open/Ping");
    CheckDenied(d);
    CHECK_THAT(Message(d), Contains("no member of the network offers it (registry version 8)"));
  }
  SECTION("a provider without a node address is named as such") {
    v1::RegistrySnapshot s = Snapshot();
    for (auto& member : *s.mutable_members()) {
      if (member.organization_id() == kD) member.clear_node_address();
    }
    auto changed = View(s);
    CHECK_THAT(Message(DecideAt(changed.get(), kB, "/fi.other.v1.Maps/Find")),
               Contains("whose node address is not set"));
  }
}

TEST_CASE("RegistryView indexes a snapshot and refuses a broken one", "[network][access]") {
  auto view = View();
  CHECK(view->version() == 7);
  CHECK(view->valid_until() == kNow + absl::Hours(1));
  CHECK(view->issue_time() == kNow - absl::Hours(1));
  REQUIRE(view->snapshot().members_size() == 4);
  CHECK(view->snapshot().members(0).organization_id() == kOwn);  // sorted by id
  CHECK(view->snapshot().members(3).organization_id() == kD);
  REQUIRE(view->FindMember(kD) != nullptr);
  CHECK(view->FindMember(kStranger) == nullptr);
  const ServiceEntry* maps = view->FindService("fi.other.v1.Maps");
  REQUIRE(maps != nullptr);
  CHECK(maps->provider == view->FindMember(kD));
  CHECK(maps->methods.size() == 2);
  CHECK(view->ServicesOf(kOwn).size() == 3);
  CHECK(view->ServicesOf(kOwn).front()->service->name() == "fi.example.v1.Benefits");
  CHECK(view->ServicesOf(kStranger).empty());

  const auto refused = [](v1::RegistrySnapshot s) {
    auto built = RegistryView::Build(std::move(s));
    REQUIRE_FALSE(built.ok());
    CHECK(built.status().code() == absl::StatusCode::kInvalidArgument);
    return std::string(built.status().message());
  };
  v1::RegistrySnapshot s = Snapshot();
  s.clear_valid_until();
  CHECK_THAT(refused(s), Contains("valid_until is not set"));
  s = Snapshot();
  s.set_version(-1);
  CHECK_THAT(refused(s), Contains("version -1"));
  s = Snapshot();
  AddMember(&s, kB, "again");
  CHECK_THAT(refused(s), Contains("member " + std::string(kB) + " is listed twice"));
  s = Snapshot();
  AddMember(&s, "Not-A-UUID", "x");
  CHECK_THAT(refused(s), Contains("\"Not-A-UUID\" is not a canonical UUID"));
  s = Snapshot();
  AddService(&s, "fi.other.v1.Maps", kD, {});
  CHECK_THAT(refused(s), Contains("service \"fi.other.v1.Maps\" is listed twice"));
  s = Snapshot();
  AddService(&s, "", kD, {});
  CHECK_THAT(refused(s), Contains("a service has no name"));
  s = Snapshot();
  s.mutable_valid_until()->set_nanos(-5);
  CHECK_THAT(refused(s), Contains("valid_until") && Contains("not a valid timestamp"));
}

TEST_CASE("AllowedMethods lists what an organisation may call on other members' nodes",
          "[network][access]") {
  auto view = View();
  const auto paths = [&](const std::string& org) {
    std::vector<std::string> out;
    for (const v1::AllowedMethod& m : AllowedMethods(*view, org)) {
      out.push_back(m.path() + " " + m.grant());
    }
    return out;
  };
  CHECK(paths(kB) == std::vector<std::string>{
                         "/fi.example.v1.Benefits/GetDecision open to members",
                         "/fi.example.v1.Benefits/ListDecisions allow-list",
                         "/fi.example.v1.Open/Ping open to members",
                         "/fi.other.v1.Maps/Find open to members",
                         "/fi.other.v1.Maps/Route open to members",
                     });
  CHECK(paths(kC) == std::vector<std::string>{
                         "/fi.example.v1.Benefits/Apply allow-list",
                         "/fi.example.v1.Benefits/GetDecision open to members",
                         "/fi.example.v1.Open/Ping open to members",
                         "/fi.other.v1.Maps/Find open to members",
                         "/fi.other.v1.Maps/Route open to members",
                     });
  // Its own services are not granted to it: only other members' are listed.
  CHECK(paths(kOwn) == std::vector<std::string>{"/fi.other.v1.Maps/Find open to members",
                                                "/fi.other.v1.Maps/Route open to members"});
  CHECK(paths(kStranger).empty());

  const std::vector<v1::AllowedMethod> b = AllowedMethods(*view, kB);
  REQUIRE_FALSE(b.empty());
  CHECK(b.back().service() == "fi.other.v1.Maps");
  CHECK(b.back().method() == "Route");
  CHECK(b.back().organization_id() == kD);
  CHECK(b.back().node_address() == "d.example:443");
  CHECK(b.front().node_address() == "a.example:443");
  // AllowedMethods agrees with Decide for every listed method.
  for (const v1::AllowedMethod& m : b) {
    Decision d = Decide(view.get(), kNow, m.organization_id(), kB, m.path());
    CHECK(d.allowed());
    CHECK(d.grant == m.grant());
  }
}

}  // namespace
}  // namespace aurora::network
