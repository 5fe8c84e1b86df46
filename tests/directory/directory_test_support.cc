#include "directory_test_support.h"

#include <grpcpp/generic/generic_stub.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <map>
#include <random>

#include "common/text.h"
#include "directory/catalogue_format.h"

namespace aurora::testing {

const CodeLists& Codes() {
  static const CodeLists* codes = [] {
    auto loaded = CodeLists::LoadFromDirectory(AURORA_DATA_DIR "/codelists");
    if (!loaded.ok()) throw std::runtime_error(std::string(loaded.status().message()));
    return new CodeLists(std::move(*loaded));
  }();
  return *codes;
}

const DemoCatalogue& Demo() {
  static const DemoCatalogue* demo = [] {
    auto read = directory::ReadCatalogueFile(AURORA_DATA_DIR "/services.ndjson",
                                             directory::CatalogueFormat::kNdjson, Codes());
    if (!read.ok()) throw std::runtime_error(std::string(read.status().message()));
    auto* catalogue = new DemoCatalogue();
    std::map<std::string, v1::Organization> organizations;
    for (auto& record : read->records) {
      if (!record.organization.id().empty()) {
        organizations.try_emplace(record.organization.id(), record.organization);
      }
      catalogue->services.push_back(std::move(record.service));
    }
    for (auto& [id, organization] : organizations) catalogue->organizations.push_back(organization);
    return catalogue;
  }();
  return *demo;
}

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  std::random_device random;
  path_ = (std::filesystem::temp_directory_path() /
           ("aurora-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
            std::to_string(random())))
              .string();
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

DirectoryServer::DirectoryServer(const std::string* dir,
                                 directory::RegistryServiceOptions registry) {
  if (dir == nullptr) {
    temp_ = std::make_unique<TempDir>();
    data_dir_ = temp_->path();
  } else {
    data_dir_ = *dir;
  }
  auto database = Database::Open(data_dir_ + "/rocksdb", {directory::kDirectoryColumnFamily});
  REQUIRE(database.ok());
  database_ = std::move(*database);
  directory::DirectoryStoreOptions options;
  options.secret_hash_iterations = 1000;  // fast for tests; production uses 600000
  auto store = directory::DirectoryStore::Open(database_.get(), &Codes(), options);
  REQUIRE(store.ok());
  store_ = std::move(*store);
  service_ = std::make_unique<directory::DirectoryService>(store_.get(), &Codes());
  server_ = std::make_unique<GrpcServer>();
  server_->AddService(service_.get(), v1::Directory::service_full_name());
  registry_service_ = std::make_unique<directory::RegistryService>(store_.get(), registry);
  server_->AddService(registry_service_.get(),
                      network::v1::NetworkRegistry::service_full_name());
  REQUIRE(server_->Start("127.0.0.1:0", &metrics_).ok());
  server_->SetServing(true);
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  channel_ = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server_->port()),
                                       grpc::InsecureChannelCredentials(), args);
  stub_ = v1::Directory::NewStub(channel_);
  registry_stub_ = network::v1::NetworkRegistry::NewStub(channel_);
}

void DirectoryServer::Stop() {
  if (!server_) return;
  service_->Shutdown();
  registry_service_->Shutdown();
  server_->Shutdown(absl::Seconds(5));
  server_.reset();
  registry_service_.reset();
  service_.reset();
  store_.reset();
  REQUIRE(database_->Close().ok());
  database_.reset();
}

DirectoryServer::~DirectoryServer() { Stop(); }

v1::Service MakeService(const std::string& id, const std::string& organization_id) {
  v1::Service service;
  service.set_id(id);
  service.set_organization_id(organization_id);
  service.set_kind(v1::SERVICE_KIND_SERVICE);
  service.mutable_name()->set_fi("Nuorten työpaja");
  service.mutable_name()->set_sv("Ungdomsverkstad");
  service.mutable_summary()->set_fi("Työpaja tarjoaa nuorille tukea opiskeluun ja työhön.");
  service.add_service_classes("P10.1");
  service.add_target_groups("KR1.3");
  service.set_area_type(v1::AREA_TYPE_LIMITED);
  service.add_municipality_codes("091");
  service.add_languages("fi");
  return service;
}

std::string RegisterOrganization(v1::Directory::Stub& stub, const std::string& name) {
  grpc::ClientContext context;
  v1::RegisterOrganizationRequest request;
  request.mutable_organization()->mutable_name()->set_fi(name);
  v1::Organization organization;
  grpc::Status status = stub.RegisterOrganization(&context, request, &organization);
  REQUIRE(status.ok());
  return organization.id();
}

v1::ImportServicesResponse ImportAll(v1::Directory::Stub& stub,
                                     const std::vector<v1::Service>& services,
                                     bool report_rejected_only) {
  // Register the organisations the services name first.
  std::set<std::string> organizations;
  for (const auto& service : services) {
    if (!service.organization_id().empty()) organizations.insert(service.organization_id());
  }
  for (const auto& id : organizations) {
    grpc::ClientContext context;
    v1::RegisterOrganizationRequest request;
    request.mutable_organization()->set_id(id);
    request.mutable_organization()->mutable_name()->set_fi("Organisaatio " + id.substr(0, 8));
    v1::Organization organization;
    grpc::Status status = stub.RegisterOrganization(&context, request, &organization);
    REQUIRE((status.ok() || status.error_code() == grpc::StatusCode::ALREADY_EXISTS));
  }
  grpc::ClientContext context;
  v1::ImportServicesResponse response;
  auto writer = stub.ImportServices(&context, &response);
  v1::ImportServicesRequest request;
  request.set_report_rejected_only(report_rejected_only);
  for (const auto& service : services) {
    *request.add_services() = service;
    if (request.services_size() == 500) {
      REQUIRE(writer->Write(request));
      request.Clear();
    }
  }
  if (request.services_size() > 0) REQUIRE(writer->Write(request));
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  INFO(status.error_message());
  REQUIRE(status.ok());
  return response;
}

grpc::Status RawUnaryCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                          const std::string& request_bytes) {
  grpc::GenericStub generic(channel);
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1), reply;
  grpc::ClientContext context;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  generic.UnaryCall(&context, method, grpc::StubOptions(), &request, &reply, [&](grpc::Status s) {
    std::lock_guard lock(mu);
    status = std::move(s);
    done = true;
    cv.notify_all();
  });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return done; });
  return status;
}

std::vector<std::string> ListAllIds(v1::Directory::Stub& stub, v1::ListServicesRequest request) {
  std::vector<std::string> ids;
  for (int pages = 0; pages < 10000; ++pages) {
    grpc::ClientContext context;
    v1::ListServicesResponse response;
    grpc::Status status = stub.ListServices(&context, request, &response);
    INFO(status.error_message());
    REQUIRE(status.ok());
    for (const auto& service : response.services()) ids.push_back(service.id());
    if (response.next_page_token().empty()) break;
    request.mutable_page()->set_page_token(response.next_page_token());
  }
  return ids;
}

}  // namespace aurora::testing
