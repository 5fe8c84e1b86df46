#pragma once
// An in-memory aurora.testing.v1.Library for the gateway tests: echoes what it receives so that
// tests can see exactly what the gateway sent upstream (fields, metadata, deadline).

#include <grpcpp/grpcpp.h>

#include <mutex>
#include <string>

#include "aurora/testing/v1/library.grpc.pb.h"

namespace aurora::testing {

class LibraryService final : public aurora::testing::v1::Library::CallbackService {
 public:
  grpc::ServerUnaryReactor* GetBook(grpc::CallbackServerContext* context,
                                    const v1::GetBookRequest* request, v1::Book* response) override;
  grpc::ServerUnaryReactor* ListBooks(grpc::CallbackServerContext* context,
                                      const v1::ListBooksRequest* request,
                                      v1::ListBooksResponse* response) override;
  grpc::ServerUnaryReactor* CreateBook(grpc::CallbackServerContext* context,
                                       const v1::CreateBookRequest* request,
                                       v1::Book* response) override;
  grpc::ServerUnaryReactor* UpdateBook(grpc::CallbackServerContext* context,
                                       const v1::UpdateBookRequest* request,
                                       v1::Book* response) override;
  grpc::ServerUnaryReactor* PublishBook(grpc::CallbackServerContext* context,
                                        const v1::PublishBookRequest* request,
                                        v1::Book* response) override;
  grpc::ServerUnaryReactor* GetFile(grpc::CallbackServerContext* context,
                                    const v1::GetFileRequest* request,
                                    google::api::HttpBody* response) override;
  grpc::ServerUnaryReactor* GetCover(grpc::CallbackServerContext* context,
                                     const v1::GetBookRequest* request,
                                     v1::Cover* response) override;
  grpc::ServerUnaryReactor* GetTitles(grpc::CallbackServerContext* context,
                                      const v1::ListBooksRequest* request,
                                      v1::ListBooksResponse* response) override;
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context,
                                 const v1::Everything* request, v1::Everything* response) override;
  grpc::ServerUnaryReactor* EchoQuery(grpc::CallbackServerContext* context,
                                      const v1::Everything* request,
                                      v1::Everything* response) override;
  grpc::ServerUnaryReactor* EchoStrict(grpc::CallbackServerContext* context,
                                       const v1::Everything* request,
                                       v1::Everything* response) override;
  grpc::ServerUnaryReactor* OpenBook(grpc::CallbackServerContext* context,
                                     const v1::OpenBookRequest* request,
                                     google::api::HttpBody* response) override;
  grpc::ServerUnaryReactor* Report(grpc::CallbackServerContext* context,
                                   const v1::ReportRequest* request,
                                   v1::ReportResponse* response) override;
  grpc::ServerWriteReactor<v1::Book>* WatchShelf(grpc::CallbackServerContext* context,
                                                 const v1::WatchShelfRequest* request) override;
  grpc::ServerReadReactor<v1::Book>* UploadBooks(grpc::CallbackServerContext* context,
                                                 v1::UploadBooksResponse* response) override;
  grpc::ServerUnaryReactor* WhoAmI(grpc::CallbackServerContext* context,
                                   const google::protobuf::Empty* request,
                                   v1::WhoAmIResponse* response) override;
  grpc::ServerUnaryReactor* Fail(grpc::CallbackServerContext* context,
                                 const v1::FailRequest* request,
                                 google::protobuf::Empty* response) override;

  // Calls of WatchShelf started, and cancelled by their client, so far.
  int started_watches() const;
  int cancelled_watches() const;

 private:
  mutable std::mutex mu_;
  int started_watches_ = 0;
  int cancelled_watches_ = 0;
  friend class WatchWriter;
};

}  // namespace aurora::testing
