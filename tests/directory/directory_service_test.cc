// Service tests: the real Directory gRPC server in-process on 127.0.0.1:0, RocksDB in a temp dir,
// called through the generated stub over TCP.


#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/secret_hash.h"
#include "common/text.h"
#include "directory/validation.h"
#include "directory_test_support.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace aurora::testing {
namespace {

grpc::Status CreateService(v1::Directory::Stub& stub, const v1::Service& service,
                           v1::Service* out = nullptr) {
  grpc::ClientContext context;
  v1::CreateServiceRequest request;
  *request.mutable_service() = service;
  v1::Service response;
  grpc::Status status = stub.CreateService(&context, request, &response);
  if (out != nullptr) *out = response;
  return status;
}

grpc::Status GetService(v1::Directory::Stub& stub, const std::string& id, v1::Service* out) {
  grpc::ClientContext context;
  v1::GetServiceRequest request;
  request.set_id(id);
  return stub.GetService(&context, request, out);
}

grpc::Status UpdateService(v1::Directory::Stub& stub, const v1::Service& service, int64_t expected,
                           v1::Service* out = nullptr) {
  grpc::ClientContext context;
  v1::UpdateServiceRequest request;
  *request.mutable_service() = service;
  request.set_expected_revision(expected);
  v1::Service response;
  grpc::Status status = stub.UpdateService(&context, request, &response);
  if (out != nullptr) *out = response;
  return status;
}

// Every key/value of the directory column family, to prove a rejected request wrote nothing.
std::map<std::string, std::string> DumpStore(DirectoryServer& server) {
  std::map<std::string, std::string> out;
  std::unique_ptr<rocksdb::Iterator> it(server.database().db()->NewIterator(
      rocksdb::ReadOptions(), server.database().family(directory::kDirectoryColumnFamily)));
  for (it->SeekToFirst(); it->Valid(); it->Next())
    out[it->key().ToString()] = it->value().ToString();
  return out;
}

}  // namespace

TEST_CASE("organisations: register, get, list with paging", "[directory][organizations]") {
  DirectoryServer server;
  auto& stub = server.stub();

  grpc::ClientContext c1;
  v1::RegisterOrganizationRequest request;
  request.mutable_organization()->mutable_name()->set_fi("Oulun kaupunki");
  request.mutable_organization()->set_business_id("0187690-1");
  request.mutable_organization()->set_municipality_code("564");
  v1::Organization oulu;
  REQUIRE(stub.RegisterOrganization(&c1, request, &oulu).ok());
  CHECK(IsCanonicalUuid(oulu.id()));
  CHECK(oulu.revision() == 1);
  CHECK(oulu.create_time().seconds() > 0);

  grpc::ClientContext c2;
  v1::GetOrganizationRequest get;
  get.set_id(oulu.id());
  v1::Organization fetched;
  REQUIRE(stub.GetOrganization(&c2, get, &fetched).ok());
  CHECK(fetched.name().fi() == "Oulun kaupunki");
  CHECK(fetched.business_id() == "0187690-1");

  SECTION("a given id is kept and cannot be registered twice") {
    const std::string id = "3d1759a2-e47a-4947-9a31-cab1c1e2512b";
    grpc::ClientContext c3;
    request.mutable_organization()->set_id(id);
    v1::Organization naantali;
    REQUIRE(stub.RegisterOrganization(&c3, request, &naantali).ok());
    CHECK(naantali.id() == id);
    CHECK(naantali.revision() == 2);
    grpc::ClientContext c4;
    grpc::Status again = stub.RegisterOrganization(&c4, request, &naantali);
    CHECK(again.error_code() == grpc::StatusCode::ALREADY_EXISTS);
    CHECK_THAT(again.error_message(), Catch::Contains(id));
  }

  SECTION("list pages through all organisations in id order") {
    std::set<std::string> registered = {oulu.id()};
    for (int i = 0; i < 11; ++i)
      registered.insert(RegisterOrganization(stub, absl::StrCat("Org ", i)));
    std::vector<std::string> listed;
    v1::ListOrganizationsRequest list;
    list.mutable_page()->set_page_size(5);
    int pages = 0;
    while (true) {
      grpc::ClientContext c;
      v1::ListOrganizationsResponse response;
      REQUIRE(stub.ListOrganizations(&c, list, &response).ok());
      ++pages;
      for (const auto& o : response.organizations()) listed.push_back(o.id());
      if (response.next_page_token().empty()) break;
      list.mutable_page()->set_page_token(response.next_page_token());
    }
    CHECK(pages == 3);
    CHECK(std::is_sorted(listed.begin(), listed.end()));
    CHECK(std::set<std::string>(listed.begin(), listed.end()) == registered);
    CHECK(listed.size() == registered.size());
  }

  SECTION("bad input names the field and the value and writes nothing") {
    const auto before = DumpStore(server);
    struct Case {
      std::function<void(v1::Organization*)> mutate;
      std::string field;
    };
    for (const Case& c : std::vector<Case>{
             {[](auto* o) { o->set_business_id("0187690-2"); }, "organization.business_id"},
             {[](auto* o) { o->set_id("NOT-A-UUID"); }, "organization.id"},
             {[](auto* o) { o->set_id("3D1759A2-E47A-4947-9A31-CAB1C1E2512B"); },
              "organization.id"},
             {[](auto* o) { o->clear_name(); }, "organization.name"},
             {[](auto* o) { o->mutable_name()->set_fi("   "); }, "organization.name"},
             {[](auto* o) { o->set_municipality_code("999"); }, "organization.municipality_code"},
         }) {
      v1::RegisterOrganizationRequest bad = request;
      bad.mutable_organization()->clear_id();
      c.mutate(bad.mutable_organization());
      grpc::ClientContext c5;
      v1::Organization ignored;
      grpc::Status status = stub.RegisterOrganization(&c5, bad, &ignored);
      INFO(status.error_message());
      CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
      CHECK_THAT(status.error_message(), Catch::StartsWith(c.field));
    }
    CHECK(DumpStore(server) == before);
    grpc::ClientContext c6;
    get.set_id("b5e2d1f0-0000-4000-8000-000000000000");
    CHECK(stub.GetOrganization(&c6, get, &fetched).error_code() == grpc::StatusCode::NOT_FOUND);
    grpc::ClientContext c7;
    get.set_id("nope");
    grpc::Status malformed = stub.GetOrganization(&c7, get, &fetched);
    CHECK(malformed.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK_THAT(malformed.error_message(), Catch::Contains("id") && Catch::Contains("\"nope\""));
  }
}

TEST_CASE("API clients: secrets are shown once, stored hashed, rotated and revoked",
          "[directory][clients]") {
  DirectoryServer server;
  auto& stub = server.stub();
  const std::string org = RegisterOrganization(stub);

  grpc::ClientContext c1;
  v1::RegisterApiClientRequest request;
  request.set_organization_id(org);
  request.set_display_name("Chatbot production");
  v1::ApiClientCredentials created;
  REQUIRE(stub.RegisterApiClient(&c1, request, &created).ok());
  const std::string client_id = created.client().client_id();
  const std::string secret = created.client_secret();
  CHECK(IsCanonicalUuid(client_id));
  CHECK(secret.size() == 43);
  CHECK(created.client().state() == v1::ApiClient::STATE_ACTIVE);
  CHECK(created.client().secret_version() == 1);
  CHECK(server.store().VerifyApiClient(client_id, secret).ok());
  CHECK(server.store().VerifyApiClient(client_id, secret + "x").status().code() ==
        absl::StatusCode::kUnauthenticated);

  // Only a salted PBKDF2 hash is stored: the secret appears nowhere in the database.
  bool hash_found = false;
  for (const auto& [key, value] : DumpStore(server)) {
    CHECK(value.find(secret) == std::string::npos);
    if (value.rfind("pbkdf2-sha256$", 0) == 0) hash_found = true;
  }
  CHECK(hash_found);

  SECTION("rotation replaces the secret at once") {
    grpc::ClientContext c2;
    v1::RotateApiClientSecretRequest rotate;
    rotate.set_organization_id(org);
    rotate.set_client_id(client_id);
    v1::ApiClientCredentials rotated;
    REQUIRE(stub.RotateApiClientSecret(&c2, rotate, &rotated).ok());
    CHECK(rotated.client_secret() != secret);
    CHECK(rotated.client().secret_version() == 2);
    CHECK_FALSE(server.store().VerifyApiClient(client_id, secret).ok());
    CHECK(server.store().VerifyApiClient(client_id, rotated.client_secret()).ok());
  }

  SECTION("a client's public description names it and its organisation, without secrets") {
    grpc::ClientContext c2;
    v1::DescribeApiClientRequest describe;
    describe.set_client_id(client_id);
    v1::ApiClientDescription description;
    REQUIRE(stub.DescribeApiClient(&c2, describe, &description).ok());
    CHECK(description.client().display_name() == "Chatbot production");
    CHECK(description.client().state() == v1::ApiClient::STATE_ACTIVE);
    CHECK(description.organization().id() == org);
    CHECK_FALSE(description.organization().name().fi().empty());
    CHECK(description.SerializeAsString().find(secret) == std::string::npos);
    grpc::ClientContext c3;
    describe.set_client_id("b5e2d1f0-0000-4000-8000-000000000000");
    grpc::Status unknown = stub.DescribeApiClient(&c3, describe, &description);
    CHECK(unknown.error_code() == grpc::StatusCode::NOT_FOUND);
    CHECK_THAT(unknown.error_message(), Catch::Contains("b5e2d1f0-0000-4000-8000-000000000000"));
    grpc::ClientContext c4;
    describe.set_client_id("nope");
    grpc::Status malformed = stub.DescribeApiClient(&c4, describe, &description);
    CHECK(malformed.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK_THAT(malformed.error_message(), Catch::Contains("client_id") && Catch::Contains("nope"));
  }

  SECTION("list shows the organisation's clients without secrets") {
    grpc::ClientContext c2;
    request.set_display_name("Web");
    v1::ApiClientCredentials second;
    REQUIRE(stub.RegisterApiClient(&c2, request, &second).ok());
    grpc::ClientContext c3;
    v1::ListApiClientsRequest list;
    list.set_organization_id(org);
    v1::ListApiClientsResponse response;
    REQUIRE(stub.ListApiClients(&c3, list, &response).ok());
    REQUIRE(response.clients_size() == 2);
    std::string bytes;
    response.SerializeToString(&bytes);
    CHECK(bytes.find(secret) == std::string::npos);
    CHECK(bytes.find(second.client_secret()) == std::string::npos);
    // Another organisation sees none of them.
    grpc::ClientContext c4;
    list.set_organization_id(RegisterOrganization(stub, "Muu"));
    v1::ListApiClientsResponse other;
    REQUIRE(stub.ListApiClients(&c4, list, &other).ok());
    CHECK(other.clients_size() == 0);
  }

  SECTION("revocation is final") {
    grpc::ClientContext c2;
    v1::RevokeApiClientRequest revoke;
    revoke.set_organization_id(org);
    revoke.set_client_id(client_id);
    v1::ApiClient revoked;
    REQUIRE(stub.RevokeApiClient(&c2, revoke, &revoked).ok());
    CHECK(revoked.state() == v1::ApiClient::STATE_REVOKED);
    CHECK(revoked.revoke_time().seconds() > 0);
    CHECK_FALSE(server.store().VerifyApiClient(client_id, secret).ok());
    grpc::ClientContext c3;
    v1::RotateApiClientSecretRequest rotate;
    rotate.set_organization_id(org);
    rotate.set_client_id(client_id);
    v1::ApiClientCredentials ignored;
    grpc::Status status = stub.RotateApiClientSecret(&c3, rotate, &ignored);
    CHECK(status.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
    CHECK_THAT(status.error_message(), Catch::Contains(client_id));
  }

  SECTION("a client belongs to its organisation only") {
    grpc::ClientContext c2;
    v1::RevokeApiClientRequest revoke;
    revoke.set_organization_id(RegisterOrganization(stub, "Toinen"));
    revoke.set_client_id(client_id);
    v1::ApiClient ignored;
    CHECK(stub.RevokeApiClient(&c2, revoke, &ignored).error_code() == grpc::StatusCode::NOT_FOUND);
    CHECK(server.store().VerifyApiClient(client_id, secret).ok());
  }

  SECTION("unknown organisation and bad input") {
    grpc::ClientContext c2;
    request.set_organization_id("b5e2d1f0-0000-4000-8000-000000000000");
    v1::ApiClientCredentials ignored;
    CHECK(stub.RegisterApiClient(&c2, request, &ignored).error_code() ==
          grpc::StatusCode::NOT_FOUND);
    grpc::ClientContext c3;
    request.set_organization_id(org);
    request.set_display_name("");
    grpc::Status status = stub.RegisterApiClient(&c3, request, &ignored);
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK_THAT(status.error_message(), Catch::StartsWith("display_name"));
  }
}

TEST_CASE("services: create, get, update with optimistic concurrency, delete with tombstone",
          "[directory][services]") {
  DirectoryServer server;
  auto& stub = server.stub();
  const std::string org = RegisterOrganization(stub);  // revision 1

  v1::Service created;
  REQUIRE(CreateService(stub, MakeService("", org), &created).ok());
  CHECK(IsCanonicalUuid(created.id()));
  CHECK(created.revision() == 2);
  CHECK(created.create_revision() == 2);

  v1::Service fetched;
  REQUIRE(GetService(stub, created.id(), &fetched).ok());
  CHECK(fetched.name().fi() == "Nuorten työpaja");
  CHECK(fetched.revision() == 2);

  v1::Service edited = fetched;
  edited.mutable_summary()->set_fi("Uusi tiivistelmä.");
  v1::Service updated;
  REQUIRE(UpdateService(stub, edited, 2, &updated).ok());
  CHECK(updated.revision() == 3);
  CHECK(updated.create_revision() == 2);

  // A stale revision is refused and names the current one.
  edited.mutable_summary()->set_fi("Kilpaileva muutos.");
  grpc::Status stale = UpdateService(stub, edited, 2);
  CHECK(stale.error_code() == grpc::StatusCode::ABORTED);
  CHECK_THAT(stale.error_message(), Catch::Contains("revision 3"));
  REQUIRE(GetService(stub, created.id(), &fetched).ok());
  CHECK(fetched.summary().fi() == "Uusi tiivistelmä.");

  CHECK(CreateService(stub, MakeService(created.id(), org)).error_code() ==
        grpc::StatusCode::ALREADY_EXISTS);
  CHECK(UpdateService(stub, MakeService(created.id(), org), 0).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(UpdateService(stub, MakeService("b5e2d1f0-0000-4000-8000-000000000000", org), 1)
            .error_code() == grpc::StatusCode::NOT_FOUND);

  // Delete with a wrong expected revision is refused; with the right one it leaves a tombstone.
  {
    grpc::ClientContext c;
    v1::DeleteServiceRequest del;
    del.set_id(created.id());
    del.set_expected_revision(2);
    v1::DeleteServiceResponse response;
    CHECK(stub.DeleteService(&c, del, &response).error_code() == grpc::StatusCode::ABORTED);
  }
  {
    grpc::ClientContext c;
    v1::DeleteServiceRequest del;
    del.set_id(created.id());
    del.set_expected_revision(3);
    v1::DeleteServiceResponse response;
    REQUIRE(stub.DeleteService(&c, del, &response).ok());
    CHECK(response.revision() == 4);
  }
  CHECK(GetService(stub, created.id(), &fetched).error_code() == grpc::StatusCode::NOT_FOUND);
  {
    grpc::ClientContext c;
    v1::DeleteServiceRequest del;
    del.set_id(created.id());
    v1::DeleteServiceResponse response;
    CHECK(stub.DeleteService(&c, del, &response).error_code() == grpc::StatusCode::NOT_FOUND);
  }
  CHECK(ListAllIds(stub, {}).empty());
  auto changes = server.store().ReadChanges(0, 100);
  REQUIRE(changes.ok());
  REQUIRE(changes->size() == 4);
  CHECK(changes->back().type() == v1::ChangeEvent::TYPE_SERVICE_DELETE);
  CHECK(changes->back().service_id() == created.id());

  // A deleted id can be created again.
  v1::Service again;
  REQUIRE(CreateService(stub, MakeService(created.id(), org), &again).ok());
  CHECK(again.revision() == 5);
  CHECK(again.create_revision() == 5);
}

TEST_CASE("services: bad input is rejected naming the field, and nothing is written",
          "[directory][services][validation]") {
  DirectoryServer server;
  auto& stub = server.stub();
  const std::string org = RegisterOrganization(stub);
  v1::Service existing;
  REQUIRE(CreateService(stub, MakeService("", org), &existing).ok());
  const auto before = DumpStore(server);
  const int64_t revision = server.store().durable_revision();

  struct Case {
    std::string what;
    std::function<void(v1::Service*)> mutate;
    std::string field;
    std::string value;  // must appear in the message
  };
  const std::vector<Case> cases = {
      {"unknown municipality", [](auto* s) { s->add_municipality_codes("999"); },
       "service.municipality_codes[1]", "\"999\""},
      {"unknown class", [](auto* s) { s->add_service_classes("P99.9"); },
       "service.service_classes[1]", "\"P99.9\""},
      {"unknown target group", [](auto* s) { s->add_target_groups("KR9"); },
       "service.target_groups[1]", "\"KR9\""},
      {"unknown life event", [](auto* s) { s->add_life_events("KE99"); }, "service.life_events[0]",
       "\"KE99\""},
      {"duplicate class", [](auto* s) { s->add_service_classes("P10.1"); },
       "service.service_classes[1]", "\"P10.1\""},
      {"malformed id", [](auto* s) { s->set_id("1234"); }, "service.id", "\"1234\""},
      {"uppercase id", [](auto* s) { s->set_id("B5E2D1F0-0000-4000-8000-000000000000"); },
       "service.id", "\"B5E2D1F0"},
      {"malformed organisation id", [](auto* s) { s->set_organization_id("org-1"); },
       "service.organization_id", "\"org-1\""},
      {"unknown organisation",
       [](auto* s) { s->set_organization_id("b5e2d1f0-0000-4000-8000-000000000000"); },
       "service.organization_id", "\"b5e2d1f0-0000-4000-8000-000000000000\""},
      {"empty name", [](auto* s) { s->clear_name(); }, "service.name", "at least one"},
      {"blank name", [](auto* s) { s->mutable_name()->set_sv("   "); }, "service.name.sv",
       "whitespace"},
      {"oversize name", [](auto* s) { s->mutable_name()->set_fi(std::string(201, 'a')); },
       "service.name.fi", "201"},
      {"oversize description",
       [](auto* s) { s->mutable_description()->set_en(std::string(10001, 'x')); },
       "service.description.en", "10001"},
      {"control character", [](auto* s) { s->mutable_name()->set_fi("Nimi\x01"); },
       "service.name.fi", "control"},
      {"no area type", [](auto* s) { s->set_area_type(v1::AREA_TYPE_UNSPECIFIED); },
       "service.area_type", "required"},
      {"limited without municipalities", [](auto* s) { s->clear_municipality_codes(); },
       "service.municipality_codes", "at least one"},
      {"nationwide with municipalities",
       [](auto* s) { s->set_area_type(v1::AREA_TYPE_NATIONWIDE); }, "service.municipality_codes",
       "\"091\""},
      {"bad language", [](auto* s) { s->add_languages("Finnish"); }, "service.languages[1]",
       "\"Finnish\""},
      {"bad life area",
       [](auto* s) { s->add_life_areas(aurora::common::v1::LIFE_AREA_UNSPECIFIED); },
       "service.life_areas[0]", "0"},
      {"bad channel id", [](auto* s) { s->add_channels()->set_id("channel"); },
       "service.channels[0].id", "\"channel\""},
      {"unknown address municipality",
       [](auto* s) { s->add_channels()->add_addresses()->set_municipality_code("000"); },
       "service.channels[0].addresses[0].municipality_code", "\"000\""},
      {"session transfer without a client",
       [](auto* s) {
         s->add_channels()->mutable_session_transfer()->add_accepted_attributes("age");
       },
       "service.channels[0].session_transfer.client_id", "required"},
      {"session transfer accepting nothing",
       [](auto* s) {
         s->add_channels()->mutable_session_transfer()->set_client_id(
             "b5e2d1f0-0000-4000-8000-000000000000");
       },
       "service.channels[0].session_transfer.accepted_attributes", "0"},
      {"session transfer of a malformed attribute name",
       [](auto* s) {
         auto* t = s->add_channels()->mutable_session_transfer();
         t->set_client_id("b5e2d1f0-0000-4000-8000-000000000000");
         t->add_accepted_attributes("Age!");
       },
       "service.channels[0].session_transfer.accepted_attributes[0]", "\"Age!\""},
      {"session transfer to a client of no organisation of the service",
       [](auto* s) {
         auto* t = s->add_channels()->mutable_session_transfer();
         t->set_client_id("b5e2d1f0-0000-4000-8000-000000000000");
         t->add_accepted_attributes("age");
       },
       "service.channels[0].session_transfer.client_id",
       "\"b5e2d1f0-0000-4000-8000-000000000000\""},
      {"too many keywords",
       [](auto* s) {
         for (int i = 0; i < 101; ++i) s->add_keywords(absl::StrCat("k", i));
       },
       "service.keywords", "101"},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION("create: " << c.what) {
      v1::Service service = MakeService("", org);
      c.mutate(&service);
      grpc::Status status = CreateService(stub, service);
      INFO(status.error_message());
      CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
      CHECK_THAT(status.error_message(), Catch::StartsWith(c.field + ":"));
      CHECK_THAT(status.error_message(), Catch::Contains(c.value));
    }
    DYNAMIC_SECTION("update: " << c.what) {
      v1::Service service = existing;
      c.mutate(&service);
      if (service.id().empty() || service.id() == existing.id() || c.field != "service.id") {
        grpc::Status status = UpdateService(stub, service, existing.revision());
        INFO(status.error_message());
        CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
        CHECK_THAT(status.error_message(), Catch::Contains(c.value));
      }
    }
  }
  CHECK(DumpStore(server) == before);
  CHECK(server.store().durable_revision() == revision);

  SECTION("text that is not UTF-8 is rejected and writes nothing") {
    v1::CreateServiceRequest request;
    *request.mutable_service() = MakeService("", org);
    request.mutable_service()->mutable_name()->set_fi("Nimi AB\xC3\xA4");
    // Replace the valid "ä" with an invalid sequence in the serialized bytes, as a client that
    // does not check UTF-8 would send it.
    std::string bytes = request.SerializeAsString();
    const size_t at = bytes.find("AB\xC3\xA4");
    REQUIRE(at != std::string::npos);
    bytes[at + 3] = '\x28';
    grpc::Status status =
        RawUnaryCall(server.channel(), "/aurora.directory.v1.Directory/CreateService", bytes);
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK_THAT(
        status.error_message(),
        Catch::Contains("aurora.directory.v1.CreateServiceRequest") && Catch::Contains("UTF-8"));
    // In-process callers get the field path from validation.
    v1::Service service = MakeService("", org);
    service.mutable_name()->set_fi("Nimi \xC3\x28");
    auto direct = directory::ValidateService(service, Codes(), false);
    CHECK(direct.code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(direct.message()),
               Catch::StartsWith("service.name.fi: not valid UTF-8"));
    CHECK(DumpStore(server) == before);
  }
}

TEST_CASE("import: all demo services with the expected counts, then idempotent",
          "[directory][import]") {
  DirectoryServer server;
  auto& stub = server.stub();
  const auto& demo = Demo();
  REQUIRE(demo.services.size() == 3088);

  const auto first = ImportAll(stub, demo.services);
  CHECK(first.received() == 3088);
  CHECK(first.created() + first.rejected() == 3088);
  CHECK(first.updated() == 0);
  // Every record of the real catalogue passes validation.
  CHECK(first.rejected() == 0);
  CHECK(first.results_size() == 3088);
  for (int i = 0; i < first.results_size(); ++i) CHECK(first.results(i).index() == i);
  const int64_t revision = server.store().durable_revision();
  CHECK(first.revision() == revision);
  // One revision per organisation and per created service, nothing else.
  CHECK(revision == static_cast<int64_t>(demo.organizations.size()) + first.created());
  CHECK(server.store().index().size() == static_cast<size_t>(first.created()));

  const auto second = ImportAll(stub, demo.services, /*report_rejected_only=*/true);
  CHECK(second.unchanged() == first.created());
  CHECK(second.created() == 0);
  CHECK(second.results_size() == static_cast<int>(second.rejected()));
  CHECK(server.store().durable_revision() == revision);

  SECTION("a changed record is updated, a bad one rejected with its index and field") {
    std::vector<v1::Service> batch = {demo.services[10], demo.services[20], MakeService()};
    batch[0].mutable_summary()->set_fi("Muutettu tiivistelmä.");
    batch[2].add_municipality_codes("999");
    const auto third = ImportAll(stub, batch);
    CHECK(third.updated() == 1);
    CHECK(third.unchanged() == 1);
    CHECK(third.rejected() == 1);
    REQUIRE(third.results_size() == 3);
    CHECK(third.results(0).outcome() == v1::ImportResult::OUTCOME_UPDATED);
    CHECK(third.results(0).revision() == revision + 1);
    CHECK(third.results(2).outcome() == v1::ImportResult::OUTCOME_REJECTED);
    CHECK(third.results(2).index() == 2);
    CHECK_THAT(third.results(2).error(), Catch::StartsWith("service.municipality_codes[1]"));
    CHECK(server.store().durable_revision() == revision + 1);
  }
}

TEST_CASE("list: every filter matches an independent evaluation over the demo catalogue",
          "[directory][list]") {
  DirectoryServer server;
  auto& stub = server.stub();
  const auto& demo = Demo();
  const auto imported = ImportAll(stub, demo.services, true);
  REQUIRE(imported.rejected() == 0);

  const auto& codes = Codes();
  // Reference semantics, written independently of the index.
  const auto available_in = [&](const v1::Service& s, const std::set<std::string>& municipalities,
                                bool include_national, bool wholly_aland) {
    if (s.area_type() == v1::AREA_TYPE_NATIONWIDE) return include_national;
    if (s.area_type() == v1::AREA_TYPE_NATIONWIDE_EXCEPT_ALAND_ISLANDS) {
      return include_national && !wholly_aland;
    }
    for (const auto& m : s.municipality_codes()) {
      if (municipalities.contains(m)) return true;
    }
    return false;
  };
  const auto has_code = [&](const auto& list, CodeKind kind, const std::string& want) {
    for (const auto& code : list) {
      for (const auto& ancestor : codes.WithAncestors(kind, code)) {
        if (ancestor == want) return true;
      }
    }
    return false;
  };
  const auto expect = [&](const std::function<bool(const v1::Service&)>& pred) {
    std::vector<std::string> ids;
    for (const auto& s : demo.services) {
      if (pred(s)) ids.push_back(s.id());
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return ids;
  };
  const auto municipalities_where = [&](auto pred) {
    std::set<std::string> out;
    for (const auto& [code, m] : codes.municipalities()) {
      if (pred(m)) out.insert(code);
    }
    return out;
  };

  struct Case {
    std::string name;
    v1::ListServicesRequest request;
    std::function<bool(const v1::Service&)> pred;
  };
  std::vector<Case> cases;
  {
    Case c{"municipality 091 (Helsinki) with national services", {}, nullptr};
    c.request.mutable_area()->add_municipality_codes("091");
    c.pred = [&](const v1::Service& s) { return available_in(s, {"091"}, true, false); };
    cases.push_back(c);
  }
  {
    Case c{"municipality 564 (Oulu) without national services", {}, nullptr};
    c.request.mutable_area()->add_municipality_codes("564");
    c.request.mutable_area()->set_include_national_services(false);
    c.pred = [&](const v1::Service& s) { return available_in(s, {"564"}, false, false); };
    cases.push_back(c);
  }
  {
    Case c{"region 14 (South Ostrobothnia) expanded through municipalities", {}, nullptr};
    c.request.mutable_area()->add_region_codes("15");
    c.request.mutable_area()->set_include_national_services(false);
    const auto in_region =
        municipalities_where([](const auto& m) { return m.region_code == "15"; });
    c.pred = [&, in_region](const v1::Service& s) {
      return available_in(s, in_region, false, false);
    };
    cases.push_back(c);
  }
  {
    Case c{"hospital district 25 (HUS)", {}, nullptr};
    c.request.mutable_area()->add_hospital_district_codes("25");
    const auto in_district =
        municipalities_where([](const auto& m) { return m.hospital_district_code == "25"; });
    c.pred = [&, in_district](const v1::Service& s) {
      return available_in(s, in_district, true, false);
    };
    cases.push_back(c);
  }
  {
    Case c{"wellbeing county 90 (Helsinki) or municipality 905 (Vaasa)", {}, nullptr};
    c.request.mutable_area()->add_wellbeing_service_county_codes("90");
    c.request.mutable_area()->add_municipality_codes("905");
    auto in_area =
        municipalities_where([](const auto& m) { return m.wellbeing_county_code == "90"; });
    in_area.insert("905");
    c.pred = [&, in_area](const v1::Service& s) { return available_in(s, in_area, true, false); };
    cases.push_back(c);
  }
  {
    Case c{"Åland (region 21): nationwide-except-Åland services excluded", {}, nullptr};
    c.request.mutable_area()->add_region_codes("21");
    const auto aland = municipalities_where([](const auto& m) { return m.region_code == "21"; });
    c.pred = [&, aland](const v1::Service& s) { return available_in(s, aland, true, true); };
    cases.push_back(c);
  }
  {
    Case c{"only national services", {}, nullptr};
    c.request.mutable_area()->set_only_national_services(true);
    c.pred = [](const v1::Service& s) { return s.area_type() != v1::AREA_TYPE_LIMITED; };
    cases.push_back(c);
  }
  {
    Case c{"parent class P5 matches its subclasses", {}, nullptr};
    c.request.add_service_classes("P5");
    c.pred = [&](const v1::Service& s) {
      return has_code(s.service_classes(), CodeKind::kServiceClass, "P5");
    };
    cases.push_back(c);
  }
  {
    Case c{"target group KR1 with its children, in Helsinki", {}, nullptr};
    c.request.add_target_groups("KR1");
    c.request.mutable_area()->add_municipality_codes("091");
    c.pred = [&](const v1::Service& s) {
      return has_code(s.target_groups(), CodeKind::kTargetGroup, "KR1") &&
             available_in(s, {"091"}, true, false);
    };
    cases.push_back(c);
  }
  {
    Case c{"life event KE8 or KE10", {}, nullptr};
    c.request.add_life_events("KE8");
    c.request.add_life_events("KE10");
    c.pred = [&](const v1::Service& s) {
      return has_code(s.life_events(), CodeKind::kLifeEvent, "KE8") ||
             has_code(s.life_events(), CodeKind::kLifeEvent, "KE10");
    };
    cases.push_back(c);
  }
  {
    Case c{"organisation and language", {}, nullptr};
    const std::string org = demo.services[2000].organization_id().empty()
                                ? demo.organizations.front().id()
                                : demo.services[2000].organization_id();
    c.request.add_organization_ids(org);
    c.request.add_languages("sv");
    c.pred = [org](const v1::Service& s) {
      return s.organization_id() == org &&
             std::find(s.languages().begin(), s.languages().end(), "sv") != s.languages().end();
    };
    cases.push_back(c);
  }
  {
    Case c{"class and municipality and target group", {}, nullptr};
    c.request.add_service_classes("P10");
    c.request.add_target_groups("KR1.3");
    c.request.mutable_area()->add_municipality_codes("853");
    c.pred = [&](const v1::Service& s) {
      return has_code(s.service_classes(), CodeKind::kServiceClass, "P10") &&
             has_code(s.target_groups(), CodeKind::kTargetGroup, "KR1.3") &&
             available_in(s, {"853"}, true, false);
    };
    cases.push_back(c);
  }
  {
    // Two channels of different services, and one that no service has.
    Case c{"channel ids", {}, nullptr};
    std::set<std::string> channels;
    for (const auto& s : demo.services) {
      if (!s.channels().empty() && !s.channels(0).id().empty() && channels.size() < 2 &&
          (channels.empty() ||
           !std::any_of(s.channels().begin(), s.channels().end(),
                        [&](const auto& ch) { return channels.contains(ch.id()); }))) {
        channels.insert(s.channels(0).id());
      }
    }
    REQUIRE(channels.size() == 2);
    for (const auto& id : channels) c.request.add_channel_ids(id);
    c.request.add_channel_ids("b5e2d1f0-0000-4000-8000-00000000c4a1");
    c.pred = [channels](const v1::Service& s) {
      return std::any_of(s.channels().begin(), s.channels().end(),
                         [&](const auto& ch) { return channels.contains(ch.id()); });
    };
    cases.push_back(c);
  }
  {
    Case c{"no filter", {}, [](const v1::Service&) { return true; }};
    cases.push_back(c);
  }

  for (auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      c.request.mutable_page()->set_page_size(97);
      const auto got = ListAllIds(stub, c.request);
      const auto want = expect(c.pred);
      CHECK(std::is_sorted(got.begin(), got.end()));
      CHECK(got == want);
      if (c.name != "life event KE8 or KE10") CHECK_FALSE(want.empty());
    }
  }

  SECTION("funding type filter") {
    // The demo data carries no funding type; give two services one.
    v1::Service a = demo.services[5], b = demo.services[6];
    a.set_funding_type(v1::FUNDING_TYPE_MARKET_FUNDED);
    b.set_funding_type(v1::FUNDING_TYPE_PUBLICLY_FUNDED);
    REQUIRE(ImportAll(stub, {a, b}).updated() == 2);
    v1::ListServicesRequest request;
    request.add_funding_types(v1::FUNDING_TYPE_MARKET_FUNDED);
    CHECK(ListAllIds(stub, request) == std::vector<std::string>{a.id()});
  }

  SECTION("bad filters name the field") {
    struct Bad {
      std::function<void(v1::ListServicesRequest*)> mutate;
      std::string field;
    };
    for (const Bad& bad : std::vector<Bad>{
             {[](auto* r) { r->mutable_area()->add_municipality_codes("1000"); },
              "area.municipality_codes[0]"},
             {[](auto* r) { r->mutable_area()->add_region_codes("03"); }, "area.region_codes[0]"},
             {[](auto* r) { r->mutable_area()->add_hospital_district_codes("99"); },
              "area.hospital_district_codes[0]"},
             {[](auto* r) { r->mutable_area()->add_wellbeing_service_county_codes("22"); },
              "area.wellbeing_service_county_codes[0]"},
             {[](auto* r) {
                r->mutable_area()->set_only_national_services(true);
                r->mutable_area()->add_municipality_codes("091");
              },
              "area.only_national_services"},
             {[](auto* r) { r->add_service_classes("P5.99"); }, "service_classes[0]"},
             {[](auto* r) { r->add_organization_ids("x"); }, "organization_ids[0]"},
             {[](auto* r) { r->add_channel_ids("channel-1"); }, "channel_ids[0]"},
             {[](auto* r) { r->add_funding_types(v1::FUNDING_TYPE_UNSPECIFIED); },
              "funding_types[0]"},
             {[](auto* r) { r->mutable_page()->set_page_size(1001); }, "page.page_size"},
             {[](auto* r) { r->mutable_page()->set_page_token("garbage"); }, "page.page_token"},
         }) {
      v1::ListServicesRequest request;
      bad.mutate(&request);
      grpc::ClientContext context;
      v1::ListServicesResponse response;
      grpc::Status status = stub.ListServices(&context, request, &response);
      INFO(status.error_message());
      CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
      CHECK_THAT(status.error_message(), Catch::StartsWith(bad.field + ":"));
    }
  }

  SECTION("a page token only works for the filter it was issued for") {
    v1::ListServicesRequest request;
    request.mutable_area()->add_municipality_codes("091");
    request.mutable_page()->set_page_size(10);
    grpc::ClientContext c1;
    v1::ListServicesResponse response;
    REQUIRE(stub.ListServices(&c1, request, &response).ok());
    REQUIRE_FALSE(response.next_page_token().empty());
    request.mutable_area()->set_municipality_codes(0, "564");
    request.mutable_page()->set_page_token(response.next_page_token());
    grpc::ClientContext c2;
    CHECK(stub.ListServices(&c2, request, &response).error_code() ==
          grpc::StatusCode::INVALID_ARGUMENT);
  }
}

TEST_CASE("list: paging is stable while services are added and removed", "[directory][list]") {
  DirectoryServer server;
  auto& stub = server.stub();
  const std::string org = RegisterOrganization(stub);
  std::vector<std::string> stable;
  for (int i = 0; i < 120; ++i) {
    v1::Service created;
    REQUIRE(CreateService(stub, MakeService("", org), &created).ok());
    stable.push_back(created.id());
  }
  std::sort(stable.begin(), stable.end());

  std::atomic<bool> stop{false};
  std::atomic<int> churn{0};
  std::thread writer([&] {
    auto own_stub = v1::Directory::NewStub(server.channel());
    while (!stop.load()) {
      v1::Service created;
      if (!CreateService(*own_stub, MakeService("", org), &created).ok()) continue;
      grpc::ClientContext context;
      v1::DeleteServiceRequest del;
      del.set_id(created.id());
      v1::DeleteServiceResponse response;
      own_stub->DeleteService(&context, del, &response);
      ++churn;
    }
  });
  v1::ListServicesRequest request;
  request.mutable_area()->add_municipality_codes("091");
  request.mutable_page()->set_page_size(7);
  // The listing overlaps the churn (a loaded machine may start the writer late).
  const auto churning_by = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (churn.load() == 0 && std::chrono::steady_clock::now() < churning_by) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  REQUIRE(churn.load() > 0);
  std::vector<std::string> seen;
  for (int round = 0; round < 3; ++round) {
    seen = ListAllIds(stub, request);
    // Every service that existed throughout appears exactly once.
    std::set<std::string> unique(seen.begin(), seen.end());
    CHECK(unique.size() == seen.size());
    CHECK(std::is_sorted(seen.begin(), seen.end()));
    for (const auto& id : stable) CHECK(unique.contains(id));
  }
  stop = true;
  writer.join();
  CHECK(churn.load() > 0);
}

TEST_CASE("concurrent updates: every success is a distinct revision, conflicts are ABORTED",
          "[directory][concurrency]") {
  DirectoryServer server;
  auto& stub = server.stub();
  const std::string org = RegisterOrganization(stub);
  v1::Service created;
  REQUIRE(CreateService(stub, MakeService("", org), &created).ok());

  constexpr int kThreads = 4, kAttempts = 25;
  std::atomic<int> successes{0}, conflicts{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto own = v1::Directory::NewStub(server.channel());
      for (int i = 0; i < kAttempts; ++i) {
        v1::Service current;
        if (!GetService(*own, created.id(), &current).ok()) {
          ++other;
          continue;
        }
        // Read-modify-write: append one keyword.
        current.add_keywords(absl::StrCat("t", t, "-", i));
        grpc::Status status = UpdateService(*own, current, current.revision());
        if (status.ok()) {
          ++successes;
        } else if (status.error_code() == grpc::StatusCode::ABORTED) {
          ++conflicts;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(other.load() == 0);
  CHECK(successes + conflicts == kThreads * kAttempts);
  v1::Service final_state;
  REQUIRE(GetService(stub, created.id(), &final_state).ok());
  // No lost update: each successful write added exactly one keyword on top of the previous one.
  CHECK(final_state.keywords_size() == successes.load());
  CHECK(final_state.revision() == created.revision() + successes.load());
}

TEST_CASE("watch: snapshot then live changes; resume after a revision", "[directory][watch]") {
  DirectoryServer server;
  auto& stub = server.stub();
  const std::string org = RegisterOrganization(stub);  // 1
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {  // 2..6
    v1::Service created;
    REQUIRE(CreateService(stub, MakeService("", org), &created).ok());
    ids.push_back(created.id());
  }
  {
    grpc::ClientContext c;
    v1::DeleteServiceRequest del;
    del.set_id(ids[0]);
    v1::DeleteServiceResponse response;
    REQUIRE(stub.DeleteService(&c, del, &response).ok());  // 7
  }

  SECTION("snapshot") {
    grpc::ClientContext context;
    v1::WatchRequest request;
    request.set_snapshot(true);
    auto reader = stub.Watch(&context, request);
    v1::WatchResponse response;
    std::set<std::string> services;
    int organizations = 0;
    while (reader->Read(&response)) {
      for (const auto& e : response.events()) {
        if (e.type() == v1::ChangeEvent::TYPE_SERVICE_PUT) services.insert(e.service().id());
        if (e.type() == v1::ChangeEvent::TYPE_ORGANIZATION_PUT) ++organizations;
      }
      if (response.snapshot_complete()) break;
    }
    REQUIRE(response.snapshot_complete());
    CHECK(response.revision() == 7);
    CHECK(organizations == 1);
    CHECK(services == std::set<std::string>(ids.begin() + 1, ids.end()));
    // Live: a change after the snapshot arrives with the next revision.
    v1::Service created;
    REQUIRE(CreateService(stub, MakeService("", org), &created).ok());
    REQUIRE(reader->Read(&response));
    REQUIRE(response.events_size() == 1);
    CHECK(response.events(0).revision() == 8);
    CHECK(response.events(0).service().id() == created.id());
    context.TryCancel();
    while (reader->Read(&response)) {
    }
    CHECK(reader->Finish().error_code() == grpc::StatusCode::CANCELLED);
  }

  SECTION("resume after a revision replays exactly the later changes, then live ones") {
    grpc::ClientContext context;
    v1::WatchRequest request;
    request.set_after_revision(3);
    auto reader = stub.Watch(&context, request);
    std::vector<int64_t> revisions;
    v1::WatchResponse response;
    while (revisions.size() < 4 && reader->Read(&response)) {
      for (const auto& e : response.events()) revisions.push_back(e.revision());
    }
    CHECK(revisions == std::vector<int64_t>{4, 5, 6, 7});
    // Concurrent writers: every revision arrives once, in order.
    std::vector<std::thread> writers;
    for (int t = 0; t < 3; ++t) {
      writers.emplace_back([&] {
        auto own = v1::Directory::NewStub(server.channel());
        for (int i = 0; i < 10; ++i) REQUIRE(CreateService(*own, MakeService("", org)).ok());
      });
    }
    while (revisions.size() < 34 && reader->Read(&response)) {
      for (const auto& e : response.events()) revisions.push_back(e.revision());
    }
    for (auto& w : writers) w.join();
    REQUIRE(revisions.size() == 34);
    for (size_t i = 0; i < revisions.size(); ++i)
      CHECK(revisions[i] == static_cast<int64_t>(i) + 4);
    context.TryCancel();
    while (reader->Read(&response)) {
    }
    reader->Finish();
  }

  SECTION("bad requests") {
    for (auto [snapshot, after, code] :
         {std::tuple{true, int64_t{3}, grpc::StatusCode::INVALID_ARGUMENT},
          std::tuple{false, int64_t{-1}, grpc::StatusCode::INVALID_ARGUMENT},
          std::tuple{false, int64_t{8}, grpc::StatusCode::OUT_OF_RANGE}}) {
      grpc::ClientContext context;
      v1::WatchRequest request;
      request.set_snapshot(snapshot);
      request.set_after_revision(after);
      auto reader = stub.Watch(&context, request);
      v1::WatchResponse response;
      CHECK_FALSE(reader->Read(&response));
      grpc::Status status = reader->Finish();
      CHECK(status.error_code() == code);
      CHECK_THAT(status.error_message(), Catch::Contains("after_revision"));
    }
  }

  SECTION("shutdown ends open watches with UNAVAILABLE") {
    grpc::ClientContext context;
    v1::WatchRequest request;
    request.set_after_revision(7);
    auto reader = stub.Watch(&context, request);
    // The stream is registered once the server answered its headers.
    context.set_wait_for_ready(false);
    std::thread stopper([&] {
      // Give the watch a moment to park: poll until the server has no queued work.
      server.Stop();
    });
    v1::WatchResponse response;
    while (reader->Read(&response)) {
    }
    grpc::Status status = reader->Finish();
    stopper.join();
    CHECK((status.error_code() == grpc::StatusCode::UNAVAILABLE ||
           status.error_code() == grpc::StatusCode::CANCELLED));
  }
}

TEST_CASE("restart: data and revisions survive closing and reopening the store",
          "[directory][durability]") {
  TempDir dir;
  std::string id;
  int64_t revision;
  {
    DirectoryServer server(&dir.path());
    const std::string org = RegisterOrganization(server.stub());
    v1::Service created;
    REQUIRE(CreateService(server.stub(), MakeService("", org), &created).ok());
    id = created.id();
    revision = server.store().durable_revision();
  }
  DirectoryServer server(&dir.path());
  CHECK(server.store().durable_revision() == revision);
  v1::Service fetched;
  REQUIRE(GetService(server.stub(), id, &fetched).ok());
  CHECK(fetched.revision() == revision);
  CHECK(ListAllIds(server.stub(), {}) == std::vector<std::string>{id});
  v1::Service next;
  REQUIRE(CreateService(server.stub(), MakeService(), &next).ok());
  CHECK(next.revision() == revision + 1);
}

TEST_CASE("check service text over gRPC", "[directory][text]") {
  DirectoryServer server;
  auto& stub = server.stub();
  const std::string org = RegisterOrganization(stub);
  v1::Service service = MakeService("", org);
  service.mutable_summary()->set_fi(std::string(151, 'a'));
  v1::Service created;
  REQUIRE(CreateService(stub, service, &created).ok());

  grpc::ClientContext c1;
  v1::CheckServiceTextRequest by_id;
  by_id.set_service_id(created.id());
  v1::CheckServiceTextResponse response;
  REQUIRE(stub.CheckServiceText(&c1, by_id, &response).ok());
  std::set<std::string> codes;
  for (const auto& f : response.findings()) codes.insert(f.code());
  CHECK(codes.contains("summary_too_long"));
  CHECK(codes.contains("no_channels"));

  grpc::ClientContext c2;
  v1::CheckServiceTextRequest draft;
  *draft.mutable_service() = MakeService();
  draft.mutable_service()->add_channels()->add_urls("htp:/broken");
  v1::CheckServiceTextResponse draft_response;
  REQUIRE(stub.CheckServiceText(&c2, draft, &draft_response).ok());
  bool malformed = false;
  for (const auto& f : draft_response.findings()) {
    if (f.code() == "malformed_url") {
      malformed = true;
      CHECK(f.field() == "channels[0].urls[0]");
      CHECK(f.severity() == v1::TextFinding::SEVERITY_ERROR);
    }
  }
  CHECK(malformed);

  grpc::ClientContext c3;
  v1::CheckServiceTextRequest both = by_id;
  *both.mutable_service() = MakeService();
  CHECK(stub.CheckServiceText(&c3, both, &response).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
  grpc::ClientContext c4;
  CHECK(stub.CheckServiceText(&c4, {}, &response).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_CASE("health per component and per-RPC metrics", "[directory][ops]") {
  DirectoryServer server;
  auto health = grpc::health::v1::Health::NewStub(server.channel());
  for (const std::string name : {"", "aurora.directory.v1.Directory"}) {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(name);
    grpc::health::v1::HealthCheckResponse response;
    REQUIRE(health->Check(&context, request, &response).ok());
    CHECK(response.status() == grpc::health::v1::HealthCheckResponse::SERVING);
  }
  // Two OK calls and one NOT_FOUND of GetService.
  v1::Service ignored;
  const std::string org = RegisterOrganization(server.stub());
  v1::Service created;
  REQUIRE(CreateService(server.stub(), MakeService("", org), &created).ok());
  REQUIRE(GetService(server.stub(), created.id(), &ignored).ok());
  REQUIRE(GetService(server.stub(), created.id(), &ignored).ok());
  CHECK(GetService(server.stub(), "b5e2d1f0-0000-4000-8000-000000000000", &ignored).error_code() ==
        grpc::StatusCode::NOT_FOUND);
  std::map<std::string, double> handled;
  double histogram_count = 0;
  for (const auto& family : server.metrics().registry().Collect()) {
    for (const auto& metric : family.metric) {
      std::map<std::string, std::string> labels;
      for (const auto& l : metric.label) labels[l.name] = l.value;
      if (labels["grpc_method"] != "GetService") continue;
      if (family.name == "grpc_server_handled_total") {
        handled[labels["grpc_code"]] = metric.counter.value;
      } else if (family.name == "grpc_server_handling_seconds") {
        histogram_count = static_cast<double>(metric.histogram.sample_count);
      }
    }
  }
  CHECK(handled["OK"] == 2);
  CHECK(handled["NotFound"] == 1);
  CHECK(handled["InvalidArgument"] == 0);
  CHECK(histogram_count == 3);

  // A method name the server does not know is counted as "unknown", never as its own series.
  for (const char* name : {"/aurora.directory.v1.Directory/NoSuchMethod", "/x.Y/random123"}) {
    const grpc::Status status = RawUnaryCall(server.channel(), name, "");
    CHECK(status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
  }
  double unknown = 0;
  for (const auto& family : server.metrics().registry().Collect()) {
    for (const auto& metric : family.metric) {
      for (const auto& l : metric.label) {
        CHECK(l.value.find("random123") == std::string::npos);
        CHECK(l.value.find("NoSuchMethod") == std::string::npos);
        if (family.name == "grpc_server_handled_total" && l.name == "grpc_method" &&
            l.value == "unknown") {
          for (const auto& l2 : metric.label) {
            if (l2.name == "grpc_code" && l2.value == "Unimplemented")
              unknown = metric.counter.value;
          }
        }
      }
    }
  }
  CHECK(unknown == 2);
}

}  // namespace aurora::testing

namespace aurora::testing {

TEST_CASE("health: unknown names, and Watch streams are told NOT_SERVING and ended at shutdown",
          "[directory][ops][health]") {
  DirectoryServer server;
  auto health = grpc::health::v1::Health::NewStub(server.channel());
  {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service("no.such.Service");
    grpc::health::v1::HealthCheckResponse response;
    CHECK(health->Check(&context, request, &response).error_code() == grpc::StatusCode::NOT_FOUND);
  }
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckRequest request;  // "" = the node as a whole
  auto reader = health->Watch(&context, request);
  grpc::health::v1::HealthCheckResponse response;
  REQUIRE(reader->Read(&response));
  CHECK(response.status() == grpc::health::v1::HealthCheckResponse::SERVING);

  std::thread stopper([&] { server.Stop(); });
  std::vector<int> statuses;
  while (reader->Read(&response)) statuses.push_back(response.status());
  grpc::Status status = reader->Finish();
  stopper.join();
  CHECK(statuses == std::vector<int>{grpc::health::v1::HealthCheckResponse::NOT_SERVING});
  // Ended by the server (OK), not cancelled at the shutdown deadline.
  CHECK(status.ok());
}

}  // namespace aurora::testing
