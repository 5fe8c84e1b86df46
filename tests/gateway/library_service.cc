#include "library_service.h"

#include <chrono>
#include <set>

#include "google/rpc/status.pb.h"

namespace aurora::testing {
namespace {

grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* context,
                               grpc::Status status = grpc::Status::OK) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

std::string Metadata(grpc::CallbackServerContext* context, const std::string& key) {
  auto range = context->client_metadata().equal_range(key);
  if (range.first == range.second) return "";
  return std::string(range.first->second.data(), range.first->second.size());
}

}  // namespace

grpc::ServerUnaryReactor* LibraryService::GetBook(grpc::CallbackServerContext* context,
                                                  const v1::GetBookRequest* request,
                                                  v1::Book* response) {
  if (request->name() == "shelves/s1/books/missing") {
    return Done(context, grpc::Status(grpc::StatusCode::NOT_FOUND, "no book \"missing\""));
  }
  response->set_name(request->name());
  response->set_title("Seitsemän veljestä");
  response->set_genre(v1::GENRE_FICTION);
  response->set_pages(1099511627776);
  response->add_authors("Aleksis Kivi");
  response->mutable_publish_time()->set_seconds(-3471292800);  // 1860-01-01
  return Done(context);
}

grpc::ServerUnaryReactor* LibraryService::ListBooks(grpc::CallbackServerContext* context,
                                                    const v1::ListBooksRequest* request,
                                                    v1::ListBooksResponse* response) {
  // Echo the request in the response: the test reads back what the gateway bound.
  v1::Book* book = response->add_books();
  book->set_name("shelves/" + request->shelf());
  book->set_title(request->filter().author());
  book->set_pages(request->filter().min_pages());
  for (int genre : request->genres()) book->add_authors(v1::Genre_Name(genre));
  response->set_next_page_token(
      std::to_string(request->page_size()) + "|" + request->page_token() + "|" +
      (request->has_include_drafts() ? (request->include_drafts() ? "drafts" : "no-drafts")
                                     : "unset"));
  return Done(context);
}

grpc::ServerUnaryReactor* LibraryService::CreateBook(grpc::CallbackServerContext* context,
                                                     const v1::CreateBookRequest* request,
                                                     v1::Book* response) {
  *response = request->book();
  response->set_name("shelves/" + request->shelf() + "/books/" + request->request_id());
  response->add_authors("org:" + Metadata(context, "x-aurora-organization-id"));
  response->add_authors("client:" + Metadata(context, "x-aurora-client-id"));
  return Done(context);
}

grpc::ServerUnaryReactor* LibraryService::UpdateBook(grpc::CallbackServerContext* context,
                                                     const v1::UpdateBookRequest* request,
                                                     v1::Book* response) {
  *response = request->book();
  for (const auto& path : request->update_mask().paths()) response->add_authors("mask:" + path);
  return Done(context);
}

grpc::ServerUnaryReactor* LibraryService::PublishBook(grpc::CallbackServerContext* context,
                                                      const v1::PublishBookRequest* request,
                                                      v1::Book* response) {
  response->set_name(request->name());
  response->set_title(request->notify() ? "published, notified" : "published");
  return Done(context);
}

grpc::ServerUnaryReactor* LibraryService::GetFile(grpc::CallbackServerContext* context,
                                                  const v1::GetFileRequest* request,
                                                  google::api::HttpBody* response) {
  response->set_content_type("text/plain; charset=utf-8");
  response->set_data("file:" + request->path());
  return Done(context);
}

grpc::ServerUnaryReactor* LibraryService::GetCover(grpc::CallbackServerContext* context,
                                                   const v1::GetBookRequest* request,
                                                   v1::Cover* response) {
  response->set_name(request->name());
  response->mutable_image()->set_content_type("image/png");
  response->mutable_image()->set_data(std::string("\x89PNG\r\n\x1a\n\0\xff", 10));
  return Done(context);
}

grpc::ServerUnaryReactor* LibraryService::GetTitles(grpc::CallbackServerContext* context,
                                                    const v1::ListBooksRequest* request,
                                                    v1::ListBooksResponse* response) {
  response->add_titles(request->shelf() + "-1");
  response->add_titles(request->shelf() + "-2");
  response->set_next_page_token("not in the response body");
  return Done(context);
}

grpc::ServerUnaryReactor* LibraryService::Echo(grpc::CallbackServerContext* context,
                                               const v1::Everything* request,
                                               v1::Everything* response) {
  *response = *request;
  return Done(context);
}

grpc::ServerUnaryReactor* LibraryService::EchoQuery(grpc::CallbackServerContext* context,
                                                    const v1::Everything* request,
                                                    v1::Everything* response) {
  *response = *request;
  return Done(context);
}

grpc::ServerUnaryReactor* LibraryService::EchoStrict(grpc::CallbackServerContext* context,
                                                     const v1::Everything* request,
                                                     v1::Everything* response) {
  *response = *request;
  return Done(context);
}

grpc::ServerUnaryReactor* LibraryService::OpenBook(grpc::CallbackServerContext* context,
                                                   const v1::OpenBookRequest* request,
                                                   google::api::HttpBody* response) {
  auto add = [&](const std::string& key, const std::string& value) {
    if (value.empty()) return;
    request->trailing() ? context->AddTrailingMetadata(key, value)
                        : context->AddInitialMetadata(key, value);
  };
  add("x-aurora-http-status", request->status());
  add("x-aurora-http-location", request->location());
  response->set_data(request->content());
  response->set_content_type(request->content_type());
  return Done(context);
}

grpc::ServerUnaryReactor* LibraryService::Report(grpc::CallbackServerContext* context,
                                                 const v1::ReportRequest* request,
                                                 v1::ReportResponse* response) {
  response->set_report_id(request->report_id());
  response->set_format(request->format());
  return Done(context);
}

// Writes `count` books, one at a time; fails after `fail_after` when asked; otherwise, with
// count 0, waits until the client cancels.
class WatchWriter final : public grpc::ServerWriteReactor<v1::Book> {
 public:
  WatchWriter(LibraryService* service, const v1::WatchShelfRequest& request)
      : service_(service), request_(request) {
    {
      std::lock_guard lock(service_->mu_);
      ++service_->started_watches_;
    }
    Next();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::CANCELLED);
      return;
    }
    Next();
  }
  void OnCancel() override {
    {
      std::lock_guard lock(service_->mu_);
      ++service_->cancelled_watches_;
    }
    if (request_.count() == 0) Finish(grpc::Status::CANCELLED);  // nothing else would end it
  }
  void OnDone() override { delete this; }

 private:
  void Next() {
    if (request_.fail_code() != 0 && sent_ == request_.fail_after()) {
      Finish(grpc::Status(static_cast<grpc::StatusCode>(request_.fail_code()),
                          "the shelf burned down"));
      return;
    }
    if (request_.count() == 0) return;  // hold the stream open until cancelled
    if (sent_ == request_.count()) {
      Finish(grpc::Status::OK);
      return;
    }
    book_.Clear();
    book_.set_name("shelves/" + request_.shelf() + "/books/" + std::to_string(sent_));
    book_.set_title("line\nbreak " + std::to_string(sent_));
    ++sent_;
    StartWrite(&book_);
  }

  LibraryService* service_;
  v1::WatchShelfRequest request_;
  v1::Book book_;
  int sent_ = 0;
};

grpc::ServerWriteReactor<v1::Book>* LibraryService::WatchShelf(
    grpc::CallbackServerContext* /*context*/, const v1::WatchShelfRequest* request) {
  return new WatchWriter(this, *request);
}

int LibraryService::started_watches() const {
  std::lock_guard lock(mu_);
  return started_watches_;
}

int LibraryService::cancelled_watches() const {
  std::lock_guard lock(mu_);
  return cancelled_watches_;
}

grpc::ServerReadReactor<v1::Book>* LibraryService::UploadBooks(
    grpc::CallbackServerContext* /*context*/, v1::UploadBooksResponse* response) {
  class Reader final : public grpc::ServerReadReactor<v1::Book> {
   public:
    explicit Reader(v1::UploadBooksResponse* response) : response_(response) { StartRead(&book_); }
    void OnReadDone(bool ok) override {
      if (!ok) {
        Finish(grpc::Status::OK);
        return;
      }
      response_->set_count(response_->count() + 1);
      response_->add_titles(book_.title() + "@" + book_.name());
      StartRead(&book_);
    }
    void OnDone() override { delete this; }

   private:
    v1::UploadBooksResponse* response_;
    v1::Book book_;
  };
  return new Reader(response);
}

grpc::ServerUnaryReactor* LibraryService::WhoAmI(grpc::CallbackServerContext* context,
                                                 const google::protobuf::Empty* /*request*/,
                                                 v1::WhoAmIResponse* response) {
  response->set_organization_id(Metadata(context, "x-aurora-organization-id"));
  response->set_client_id(Metadata(context, "x-aurora-client-id"));
  response->set_authorization(Metadata(context, "authorization"));
  response->set_request_id(Metadata(context, "x-request-id"));
  auto left = context->deadline() - std::chrono::system_clock::now();
  response->set_deadline_ms(std::chrono::duration_cast<std::chrono::milliseconds>(left).count());
  std::set<std::string> keys;
  for (const auto& [key, value] : context->client_metadata()) keys.emplace(key.data(), key.size());
  for (const std::string& key : keys) response->add_metadata_keys(key);
  if (response->authorization() == "Bearer expired") {
    return Done(context, grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "the token expired"));
  }
  return Done(context);
}

grpc::ServerUnaryReactor* LibraryService::Fail(grpc::CallbackServerContext* context,
                                               const v1::FailRequest* request,
                                               google::protobuf::Empty* /*response*/) {
  auto code = static_cast<grpc::StatusCode>(request->code());
  if (!request->retry_after().empty()) {
    context->AddTrailingMetadata("retry-after", request->retry_after());
  }
  if (!request->with_details()) return Done(context, grpc::Status(code, request->message()));
  google::rpc::Status status;
  status.set_code(request->code());
  status.set_message(request->message());
  v1::Book detail;
  detail.set_name("shelves/s1/books/detail");
  status.add_details()->PackFrom(detail);
  return Done(context, grpc::Status(code, request->message(), status.SerializeAsString()));
}

}  // namespace aurora::testing
