#pragma once
// Test support: a real directory gRPC server in-process on 127.0.0.1:0 with RocksDB in a fresh
// temporary folder, reached through a real TCP channel and the generated stub.

#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "aurora/directory/v1/directory.grpc.pb.h"
#include "common/database.h"
#include "common/metrics.h"
#include "common/server.h"
#include "common/codelists.h"
#include "aurora/network/v1/network.grpc.pb.h"
#include "directory/directory_service.h"
#include "directory/registry_service.h"
#include "directory/store.h"

namespace aurora::testing {

namespace v1 = aurora::directory::v1;

// The real code lists, loaded once.
const CodeLists& Codes();

// The demo catalogue converted to Services (and the organisations they name), read once.
struct DemoCatalogue {
  std::vector<v1::Service> services;
  std::vector<v1::Organization> organizations;
};
const DemoCatalogue& Demo();

// A unique empty folder under the system temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class DirectoryServer {
 public:
  // Starts a server over the data in `dir` (a fresh TempDir when null), with the Directory and
  // the NetworkRegistry services.
  explicit DirectoryServer(const std::string* dir = nullptr,
                           directory::RegistryServiceOptions registry = {});
  ~DirectoryServer();

  // Stops the server and closes RocksDB (as on shutdown); the object can't be used afterwards.
  void Stop();

  v1::Directory::Stub& stub() { return *stub_; }
  network::v1::NetworkRegistry::Stub& registry_stub() { return *registry_stub_; }
  directory::RegistryService& registry_service() { return *registry_service_; }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  directory::DirectoryStore& store() { return *store_; }
  Database& database() { return *database_; }
  Metrics& metrics() { return metrics_; }
  int port() const { return server_->port(); }
  const std::string& data_dir() const { return data_dir_; }

 private:
  std::unique_ptr<TempDir> temp_;
  std::string data_dir_;
  Metrics metrics_;
  std::unique_ptr<Database> database_;
  std::unique_ptr<directory::DirectoryStore> store_;
  std::unique_ptr<directory::DirectoryService> service_;
  std::unique_ptr<directory::RegistryService> registry_service_;
  std::unique_ptr<GrpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Directory::Stub> stub_;
  std::unique_ptr<network::v1::NetworkRegistry::Stub> registry_stub_;
};

// A valid minimal service (Helsinki, one class) with the given id and organisation (may be empty).
v1::Service MakeService(const std::string& id = "", const std::string& organization_id = "");

// Registers an organisation with a random id; returns its id.
std::string RegisterOrganization(v1::Directory::Stub& stub, const std::string& name = "Testi Oy");

// Imports services through the client-streaming RPC.
v1::ImportServicesResponse ImportAll(v1::Directory::Stub& stub,
                                     const std::vector<v1::Service>& services,
                                     bool report_rejected_only = false);

// Calls `method` ("/pkg.Service/Method") with raw request bytes through grpc::GenericStub, as a
// client that does not check what it sends would; returns the status.
grpc::Status RawUnaryCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                          const std::string& request_bytes);

// All ids matching `request` by following next_page_token; fails the test on a call error.
std::vector<std::string> ListAllIds(v1::Directory::Stub& stub, v1::ListServicesRequest request);

}  // namespace aurora::testing
