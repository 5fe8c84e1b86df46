#include "directory/directory_service.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <deque>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/caller.h"
#include "common/secret_hash.h"
#include "common/status.h"
#include "common/text.h"
#include "common/wire.h"
#include "directory/text_checker.h"
#include "directory/validation.h"

namespace aurora::directory {
namespace {

// Page tokens: base64url("1|<last key>|<filter fingerprint>"). The fingerprint (FNV-1a of the
// request's deterministic serialisation without its page) ties a token to its filter.
uint64_t Fingerprint(const google::protobuf::Message& request_without_page) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    request_without_page.SerializeToCodedStream(&coded);
  }
  uint64_t hash = 1469598103934665603ull;
  for (unsigned char c : bytes) hash = (hash ^ c) * 1099511628211ull;
  return hash;
}

std::string EncodePageToken(const std::string& last_key, uint64_t fingerprint) {
  return Base64UrlEncode(absl::StrCat("1|", last_key, "|", fingerprint));
}

// Returns the key to continue after ("" for the first page).
absl::StatusOr<std::string> DecodePageToken(const std::string& token, uint64_t fingerprint,
                                            std::string_view field) {
  if (token.empty()) return std::string();
  const auto invalid = absl::InvalidArgumentError(absl::StrCat(
      Sv(field), ": not a page token issued for this request: ", QuoteForMessage(token)));
  auto raw = Base64UrlDecode(token);
  if (!raw.ok()) return invalid;
  std::vector<std::string> parts = absl::StrSplit(*raw, '|');
  uint64_t issued = 0;
  if (parts.size() != 3 || parts[0] != "1" || !absl::SimpleAtoi(parts[2], &issued) ||
      issued != fingerprint || !IsCanonicalUuid(parts[1])) {
    return invalid;
  }
  return parts[1];
}

// organization_id and client_id of a call about one API client.
absl::Status ValidateClientRef(const std::string& organization_id, const std::string& client_id) {
  if (auto s = ValidateUuid(organization_id, "organization_id"); !s.ok()) return s;
  return ValidateUuid(client_id, "client_id");
}

template <typename Request>
uint64_t FingerprintWithoutPage(const Request& request) {
  Request copy = request;
  copy.clear_page();
  return Fingerprint(copy);
}

// Where a list call starts: its page size, the key to continue after ("" for the first page) and
// the fingerprint that ties its page tokens to the rest of the request.
struct PageStart {
  int size = 0;
  std::string after;
  uint64_t fingerprint = 0;

  // The next_page_token for a page that ended at `last_key`; empty on the last page.
  std::string NextToken(bool more, const std::string& last_key) const {
    return more ? EncodePageToken(last_key, fingerprint) : std::string();
  }
};

template <typename Request>
absl::StatusOr<PageStart> StartPage(const Request& request) {
  auto size = ValidatePageSize(request.page());
  if (!size.ok()) return size.status();
  PageStart start;
  start.size = *size;
  start.fingerprint = FingerprintWithoutPage(request);
  auto after = DecodePageToken(request.page().page_token(), start.fingerprint, "page.page_token");
  if (!after.ok()) return after.status();
  start.after = std::move(*after);
  return start;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Watch

class WatchReactor final : public grpc::ServerWriteReactor<v1::WatchResponse> {
 public:
  enum class State { kBusy, kWaiting, kFinished };

  WatchReactor(DirectoryService* service, int64_t cursor) : service_(service), cursor_(cursor) {}

  void OnWriteDone(bool ok) override {
    if (!ok) {
      FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "the watcher went away"));
      return;
    }
    service_->ScheduleFill(this);
  }

  void OnCancel() override {
    bool finish = false;
    {
      std::lock_guard lock(service_->watch_mu_);
      cancelled_ = true;
      if (state_ == State::kWaiting) {
        std::erase(service_->waiting_, this);
        state_ = State::kFinished;
        finish = true;
      }
    }
    if (finish) Finish(grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled"));
  }

  void OnDone() override {
    service_->WatchDone(this);
    delete this;
  }

  // Marks finished (under the lock) and finishes the call; touches nothing afterwards.
  void FinishOnce(grpc::Status status) {
    {
      std::lock_guard lock(service_->watch_mu_);
      if (state_ == State::kFinished) return;
      state_ = State::kFinished;
    }
    Finish(std::move(status));
  }

  DirectoryService* service_;
  int64_t cursor_;                                      // last revision sent
  std::unique_ptr<DirectoryStore::Snapshot> snapshot_;  // while sending the snapshot
  v1::WatchResponse response_;
  // Guarded by service_->watch_mu_.
  State state_ = State::kBusy;
  bool cancelled_ = false;
};

void DirectoryService::ScheduleFill(WatchReactor* reactor) {
  if (!executor_.Submit([this, reactor] { Fill(reactor); })) {
    reactor->FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                     "the directory is shutting down or overloaded"));
  }
}

void DirectoryService::Fill(WatchReactor* reactor) {
  bool finish = false, cancelled = false;
  {
    std::lock_guard lock(watch_mu_);
    if (reactor->cancelled_ || shutting_down_) {
      reactor->state_ = WatchReactor::State::kFinished;
      finish = true;
      cancelled = reactor->cancelled_;
    }
  }
  if (finish) {  // outside the lock: OnDone may delete the reactor at once
    reactor->Finish(cancelled ? grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled")
                              : grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                             "the directory is shutting down; resume with "
                                             "after_revision"));
    return;
  }
  reactor->response_.Clear();
  if (reactor->snapshot_ != nullptr) {
    auto events = reactor->snapshot_->Next(options_.watch_batch);
    if (!events.ok()) {
      reactor->FinishOnce(ToGrpcStatus(events.status()));
      return;
    }
    if (events->empty()) {
      reactor->cursor_ = reactor->snapshot_->revision();
      reactor->snapshot_.reset();
      reactor->response_.set_snapshot_complete(true);
    } else {
      for (auto& event : *events) *reactor->response_.add_events() = std::move(event);
    }
    reactor->response_.set_revision(reactor->snapshot_ ? reactor->snapshot_->revision()
                                                       : reactor->cursor_);
    reactor->StartWrite(&reactor->response_);
    return;
  }
  auto events = store_->ReadChanges(reactor->cursor_, options_.watch_batch);
  if (!events.ok()) {
    reactor->FinishOnce(ToGrpcStatus(events.status()));
    return;
  }
  if (!events->empty()) {
    reactor->cursor_ = events->back().revision();
    for (auto& event : *events) *reactor->response_.add_events() = std::move(event);
    reactor->response_.set_revision(reactor->cursor_);
    reactor->StartWrite(&reactor->response_);
    return;
  }
  bool again = false;
  {
    std::lock_guard lock(watch_mu_);
    if (!reactor->cancelled_ && !shutting_down_ && store_->durable_revision() <= reactor->cursor_) {
      reactor->state_ = WatchReactor::State::kWaiting;
      waiting_.push_back(reactor);
      return;
    }
    again = true;  // a revision arrived meanwhile, or the stream must end
  }
  if (again) ScheduleFill(reactor);
}

void DirectoryService::OnRevision() {
  std::vector<WatchReactor*> ready;
  {
    std::lock_guard lock(watch_mu_);
    ready.swap(waiting_);
    for (WatchReactor* reactor : ready) reactor->state_ = WatchReactor::State::kBusy;
  }
  for (WatchReactor* reactor : ready) ScheduleFill(reactor);
}

void DirectoryService::WatchDone(WatchReactor* reactor) {
  std::lock_guard lock(watch_mu_);
  std::erase(waiting_, reactor);
  watchers_.erase(reactor);
  watch_cv_.notify_all();
}

grpc::ServerWriteReactor<v1::WatchResponse>* DirectoryService::Watch(
    grpc::CallbackServerContext* /*context*/, const v1::WatchRequest* request) {
  auto* reactor = new WatchReactor(this, request->after_revision());
  {
    std::lock_guard lock(watch_mu_);
    watchers_.insert(reactor);
  }
  absl::Status invalid;
  if (request->snapshot() && request->after_revision() != 0) {
    invalid = absl::InvalidArgumentError(absl::StrCat(
        "after_revision: must be 0 with snapshot = true, got ", request->after_revision()));
  } else if (request->after_revision() < 0) {
    invalid = absl::InvalidArgumentError(
        absl::StrCat("after_revision: must not be negative, got ", request->after_revision()));
  } else if (request->after_revision() > store_->durable_revision()) {
    invalid = absl::OutOfRangeError(absl::StrCat("after_revision: ", request->after_revision(),
                                                 " is ahead of the directory's revision ",
                                                 store_->durable_revision()));
  }
  if (!invalid.ok()) {
    reactor->FinishOnce(ToGrpcStatus(invalid));
    return reactor;
  }
  if (request->snapshot()) {
    // Taking the snapshot may sync; do it on the executor.
    if (!executor_.Submit([this, reactor] {
          auto snapshot = store_->StartSnapshot();
          if (!snapshot.ok()) {
            reactor->FinishOnce(ToGrpcStatus(snapshot.status()));
            return;
          }
          reactor->snapshot_ = std::move(*snapshot);
          Fill(reactor);
        })) {
      reactor->FinishOnce(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                       "the directory is overloaded; retry later"));
    }
    return reactor;
  }
  ScheduleFill(reactor);
  return reactor;
}

// ---------------------------------------------------------------------------------------------
// Import

// Reads the next message while the previous batch is being stored (at most kMaxQueued messages
// wait, so a fast client is held back by flow control, not by memory), and stores batches one at a
// time, in stream order, on the executor.
class ImportReactor final : public grpc::ServerReadReactor<v1::ImportServicesRequest> {
 public:
  ImportReactor(DirectoryService* service, std::string caller, v1::ImportServicesResponse* response)
      : service_(service), caller_(std::move(caller)), response_(response) {
    reading_ = true;
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    // Validation happens here, on the reading side, so that it overlaps with the storing of the
    // previous batch on the executor.
    std::optional<Batch> batch;
    absl::Status invalid;
    if (ok && request_.services_size() > 1000) {
      invalid = absl::InvalidArgumentError(absl::StrCat(
          "services: at most 1000 services per message, got ", request_.services_size()));
    } else if (ok) {
      if (first_) {
        report_rejected_only_ = request_.report_rejected_only();
        first_ = false;
      }
      batch.emplace(Validate(&request_));
      request_.Clear();
    }
    {
      std::lock_guard lock(mu_);
      reading_ = false;
      if (!ok) {
        read_done_ = true;  // the client half-closed (or went away)
      } else if (!invalid.ok()) {
        FailLocked(std::move(invalid));
      } else {
        queue_.push_back(std::move(*batch));
      }
    }
    Advance();
  }

  void OnDone() override { delete this; }

 private:
  static constexpr size_t kMaxQueued = 2;

  void FailLocked(absl::Status status) {
    if (failure_.ok()) failure_ = std::move(status);
    queue_.clear();
  }

  // Starts the next read, the next batch, or the finish, whichever is due. Runs gRPC operations
  // outside the lock: Finish may lead to OnDone deleting this object.
  void Advance() {
    bool read = false, process = false, finish = false;
    grpc::Status status;
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      if (!failure_.ok()) {
        if (!processing_ && !reading_) {
          finished_ = finish = true;
          status = ToGrpcStatus(failure_);
        }
      } else {
        if (!read_done_ && !reading_ && queue_.size() < kMaxQueued) reading_ = read = true;
        if (!processing_ && !queue_.empty()) processing_ = process = true;
        if (read_done_ && queue_.empty() && !processing_ && !reading_) {
          finished_ = finish = true;
          response_->set_revision(service_->store_->durable_revision());
        }
      }
    }
    if (read) StartRead(&request_);
    if (process && !service_->executor_.Submit([this] { ProcessBatch(); })) {
      {
        std::lock_guard lock(mu_);
        processing_ = false;
        FailLocked(
            absl::ResourceExhaustedError("the directory is overloaded; retry the import later"));
      }
      Advance();
      return;
    }
    if (finish) Finish(status);
  }

  void ProcessBatch() {
    Batch batch;
    {
      std::lock_guard lock(mu_);
      batch = std::move(queue_.front());
      queue_.pop_front();
    }
    absl::Status status = Store(std::move(batch));
    {
      std::lock_guard lock(mu_);
      processing_ = false;
      if (!status.ok()) FailLocked(std::move(status));
    }
    Advance();
  }

  // One message's services: the valid ones to store, the others' results.
  struct Batch {
    std::vector<ImportRecord> accepted;
    std::vector<v1::ImportResult> rejected;
  };

  // Runs on the reading side (one read at a time, so next_index_ needs no lock).
  Batch Validate(v1::ImportServicesRequest* request) {
    Batch batch;
    for (auto& service : *request->mutable_services()) {
      const int64_t index = next_index_++;
      absl::Status s = ValidateService(service, *service_->codes_, /*id_required=*/false);
      if (s.ok()) s = CheckCallerOwns(caller_, service.organization_id(), "organization_id");
      if (s.ok() && !service.id().empty())
        s = service_->CheckCallerOwnsService(caller_, service.id());
      if (!s.ok()) {
        v1::ImportResult& result = batch.rejected.emplace_back();
        result.set_index(index);
        result.set_service_id(service.id());
        result.set_outcome(v1::ImportResult::OUTCOME_REJECTED);
        result.set_error(std::string(s.message()));
        continue;
      }
      batch.accepted.push_back(ImportRecord{index, std::move(service)});
    }
    return batch;
  }

  // Stores one batch and adds its results to the response (one batch at a time, in order).
  absl::Status Store(Batch batch) {
    std::vector<ImportRecord> accepted = std::move(batch.accepted);
    std::vector<v1::ImportResult> rejected = std::move(batch.rejected);
    auto results = service_->store_->ImportBatch(std::move(accepted));
    if (!results.ok()) return results.status();
    // Merge in stream order.
    std::vector<v1::ImportResult> all = std::move(*results);
    all.insert(all.end(), std::make_move_iterator(rejected.begin()),
               std::make_move_iterator(rejected.end()));
    std::sort(all.begin(), all.end(),
              [](const auto& a, const auto& b) { return a.index() < b.index(); });
    for (auto& result : all) {
      response_->set_received(response_->received() + 1);
      switch (result.outcome()) {
        case v1::ImportResult::OUTCOME_CREATED:
          response_->set_created(response_->created() + 1);
          break;
        case v1::ImportResult::OUTCOME_UPDATED:
          response_->set_updated(response_->updated() + 1);
          break;
        case v1::ImportResult::OUTCOME_UNCHANGED:
          response_->set_unchanged(response_->unchanged() + 1);
          break;
        default:
          response_->set_rejected(response_->rejected() + 1);
          break;
      }
      if (!report_rejected_only_ || result.outcome() == v1::ImportResult::OUTCOME_REJECTED) {
        *response_->add_results() = std::move(result);
      }
    }
    return absl::OkStatus();
  }

  DirectoryService* service_;
  const std::string caller_;              // the HTTP caller's organisation, or empty
  v1::ImportServicesResponse* response_;  // written by one batch at a time
  v1::ImportServicesRequest request_;     // the read in flight
  int64_t next_index_ = 0;                // used by the reading side only
  bool report_rejected_only_ = false;     // set by the first read, before any batch runs

  std::mutex mu_;
  std::deque<Batch> queue_;
  bool first_ = true;  // used by the reading side only
  bool reading_ = false, read_done_ = false, processing_ = false, finished_ = false;
  absl::Status failure_;
};

grpc::ServerReadReactor<v1::ImportServicesRequest>* DirectoryService::ImportServices(
    grpc::CallbackServerContext* context, v1::ImportServicesResponse* response) {
  return new ImportReactor(this, CallerOrganization(*context), response);
}

// ---------------------------------------------------------------------------------------------
// Unary calls

DirectoryService::DirectoryService(DirectoryStore* store, const CodeLists* codes,
                                   DirectoryServiceOptions options)
    : store_(store),
      codes_(codes),
      options_(options),
      executor_("directory", options.worker_threads, options.max_queued_calls) {
  listener_id_ = store_->AddRevisionListener([this](int64_t) { OnRevision(); });
}

DirectoryService::~DirectoryService() {
  Shutdown();
  store_->RemoveRevisionListener(listener_id_);
  {
    std::unique_lock lock(watch_mu_);
    watch_cv_.wait(lock, [this] { return watchers_.empty(); });
  }
  executor_.Shutdown();
}

void DirectoryService::Shutdown() {
  std::vector<WatchReactor*> waiting;
  {
    std::lock_guard lock(watch_mu_);
    if (shutting_down_) return;
    shutting_down_ = true;
    waiting.swap(waiting_);
    for (WatchReactor* reactor : waiting) reactor->state_ = WatchReactor::State::kFinished;
  }
  for (WatchReactor* reactor : waiting) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 "the directory is shutting down; resume with after_revision"));
  }
}

grpc::ServerUnaryReactor* DirectoryService::RunBlocking(grpc::CallbackServerContext* context,
                                                        std::function<absl::Status()> work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!executor_.Submit(
          [reactor, work = std::move(work)] { reactor->Finish(ToGrpcStatus(work())); })) {
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "the directory is overloaded; retry later"));
  }
  return reactor;
}

namespace {
grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* context,
                                    const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}
}  // namespace

absl::Status DirectoryService::CheckCallerOwnsService(const std::string& caller,
                                                      const std::string& service_id) const {
  if (caller.empty()) return absl::OkStatus();
  auto existing = store_->GetService(service_id);
  if (!existing.ok()) {
    return existing.status().code() == absl::StatusCode::kNotFound ? absl::OkStatus()
                                                                   : existing.status();
  }
  return CheckCallerOwns(caller, existing->organization_id(), "id (the stored service)");
}

grpc::ServerUnaryReactor* DirectoryService::RegisterOrganization(
    grpc::CallbackServerContext* context, const v1::RegisterOrganizationRequest* request,
    v1::Organization* response) {
  if (!CallerOrganization(*context).empty()) {
    return FinishNow(context, absl::PermissionDeniedError(
                                  "organisations are registered by the network operator on the "
                                  "node's gRPC port, not by an API client or another "
                                  "organisation's node"));
  }
  if (auto s = ValidateOrganization(request->organization(), *codes_); !s.ok()) {
    return FinishNow(context, s);
  }
  return RunBlockingInto(context, response, [this, request] {
    return store_->RegisterOrganization(request->organization());
  });
}

grpc::ServerUnaryReactor* DirectoryService::GetOrganization(
    grpc::CallbackServerContext* context, const v1::GetOrganizationRequest* request,
    v1::Organization* response) {
  if (auto s = ValidateUuid(request->id(), "id"); !s.ok()) return FinishNow(context, s);
  auto organization = store_->GetOrganization(request->id());
  if (organization.ok()) *response = std::move(*organization);
  return FinishNow(context, organization.status());
}

grpc::ServerUnaryReactor* DirectoryService::ListOrganizations(
    grpc::CallbackServerContext* context, const v1::ListOrganizationsRequest* request,
    v1::ListOrganizationsResponse* response) {
  auto page = StartPage(*request);
  if (!page.ok()) return FinishNow(context, page.status());
  bool more = false;
  auto organizations = store_->ListOrganizations(page->after, page->size, &more);
  if (!organizations.ok()) return FinishNow(context, organizations.status());
  for (auto& organization : *organizations)
    *response->add_organizations() = std::move(organization);
  if (response->organizations_size() > 0) {
    response->set_next_page_token(
        page->NextToken(more, response->organizations(response->organizations_size() - 1).id()));
  }
  return FinishNow(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* DirectoryService::RegisterApiClient(
    grpc::CallbackServerContext* context, const v1::RegisterApiClientRequest* request,
    v1::ApiClientCredentials* response) {
  absl::Status s = ValidateUuid(request->organization_id(), "organization_id");
  if (s.ok()) s = ValidateDisplayName(request->display_name(), "display_name");
  if (s.ok()) {
    s = CheckCallerOwns(CallerOrganization(*context), request->organization_id(),
                        "organization_id");
  }
  if (!s.ok()) return FinishNow(context, s);
  return RunBlockingInto(context, response, [this, request] {
    return store_->RegisterApiClient(request->organization_id(), request->display_name());
  });
}

grpc::ServerUnaryReactor* DirectoryService::RotateApiClientSecret(
    grpc::CallbackServerContext* context, const v1::RotateApiClientSecretRequest* request,
    v1::ApiClientCredentials* response) {
  absl::Status s = ValidateClientRef(request->organization_id(), request->client_id());
  if (s.ok()) {
    s = CheckCallerOwns(CallerOrganization(*context), request->organization_id(),
                        "organization_id");
  }
  if (!s.ok()) return FinishNow(context, s);
  return RunBlockingInto(context, response, [this, request] {
    return store_->RotateApiClientSecret(request->organization_id(), request->client_id());
  });
}

grpc::ServerUnaryReactor* DirectoryService::ListApiClients(grpc::CallbackServerContext* context,
                                                           const v1::ListApiClientsRequest* request,
                                                           v1::ListApiClientsResponse* response) {
  absl::Status s = ValidateUuid(request->organization_id(), "organization_id");
  if (s.ok()) {
    s = CheckCallerOwns(CallerOrganization(*context), request->organization_id(),
                        "organization_id");
  }
  if (!s.ok()) return FinishNow(context, s);
  auto page = StartPage(*request);
  if (!page.ok()) return FinishNow(context, page.status());
  bool more = false;
  auto clients = store_->ListApiClients(request->organization_id(), page->after, page->size, &more);
  if (!clients.ok()) return FinishNow(context, clients.status());
  for (auto& client : *clients) *response->add_clients() = std::move(client);
  if (response->clients_size() > 0) {
    response->set_next_page_token(
        page->NextToken(more, response->clients(response->clients_size() - 1).client_id()));
  }
  return FinishNow(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* DirectoryService::RevokeApiClient(
    grpc::CallbackServerContext* context, const v1::RevokeApiClientRequest* request,
    v1::ApiClient* response) {
  absl::Status s = ValidateClientRef(request->organization_id(), request->client_id());
  if (s.ok()) {
    s = CheckCallerOwns(CallerOrganization(*context), request->organization_id(),
                        "organization_id");
  }
  if (!s.ok()) return FinishNow(context, s);
  return RunBlockingInto(context, response, [this, request] {
    return store_->RevokeApiClient(request->organization_id(), request->client_id());
  });
}

grpc::ServerUnaryReactor* DirectoryService::VerifyApiClient(
    grpc::CallbackServerContext* context, const v1::VerifyApiClientRequest* request,
    v1::ApiClient* response) {
  // Bounded inputs before the (deliberately slow) hash.
  if (request->client_id().size() > 64 || request->client_secret().size() > 256) {
    return FinishNow(context, absl::UnauthenticatedError("invalid API client credentials"));
  }
  return RunBlockingInto(context, response, [this, request] {
    return store_->VerifyApiClient(request->client_id(), request->client_secret());
  });
}

grpc::ServerUnaryReactor* DirectoryService::DescribeApiClient(
    grpc::CallbackServerContext* context, const v1::DescribeApiClientRequest* request,
    v1::ApiClientDescription* response) {
  if (!IsCanonicalUuid(request->client_id())) {
    return FinishNow(
        context, absl::InvalidArgumentError(absl::StrCat("client_id: not a canonical UUID: ",
                                                         QuoteForMessage(request->client_id()))));
  }
  return RunBlockingInto(context, response, [this, request] {
    return store_->DescribeApiClient(request->client_id());
  });
}

grpc::ServerUnaryReactor* DirectoryService::CreateService(grpc::CallbackServerContext* context,
                                                          const v1::CreateServiceRequest* request,
                                                          v1::Service* response) {
  absl::Status s = ValidateService(request->service(), *codes_, /*id_required=*/false);
  if (s.ok()) {
    s = CheckCallerOwns(CallerOrganization(*context), request->service().organization_id(),
                        "service.organization_id");
  }
  if (!s.ok()) return FinishNow(context, s);
  return RunBlockingInto(context, response,
                         [this, request] { return store_->CreateService(request->service()); });
}

grpc::ServerUnaryReactor* DirectoryService::UpdateService(grpc::CallbackServerContext* context,
                                                          const v1::UpdateServiceRequest* request,
                                                          v1::Service* response) {
  absl::Status s = ValidateService(request->service(), *codes_, /*id_required=*/true);
  if (s.ok() && request->expected_revision() < 1) {
    s = absl::InvalidArgumentError(absl::StrCat(
        "expected_revision: required (the revision you read), got ", request->expected_revision()));
  }
  std::string caller = CallerOrganization(*context);
  if (s.ok()) {
    s = CheckCallerOwns(caller, request->service().organization_id(), "service.organization_id");
  }
  if (s.ok()) s = CheckCallerOwnsService(caller, request->service().id());
  if (!s.ok()) return FinishNow(context, s);
  return RunBlockingInto(context, response, [this, request] {
    return store_->UpdateService(request->service(), request->expected_revision());
  });
}

grpc::ServerUnaryReactor* DirectoryService::GetService(grpc::CallbackServerContext* context,
                                                       const v1::GetServiceRequest* request,
                                                       v1::Service* response) {
  if (auto s = ValidateUuid(request->id(), "id"); !s.ok()) return FinishNow(context, s);
  auto service = store_->GetService(request->id());
  if (service.ok()) *response = std::move(*service);
  return FinishNow(context, service.status());
}

grpc::ServerUnaryReactor* DirectoryService::DeleteService(grpc::CallbackServerContext* context,
                                                          const v1::DeleteServiceRequest* request,
                                                          v1::DeleteServiceResponse* response) {
  absl::Status s = ValidateUuid(request->id(), "id");
  if (s.ok() && request->expected_revision() < 0) {
    s = absl::InvalidArgumentError(absl::StrCat("expected_revision: must not be negative, got ",
                                                request->expected_revision()));
  }
  if (s.ok()) s = CheckCallerOwnsService(CallerOrganization(*context), request->id());
  if (!s.ok()) return FinishNow(context, s);
  return RunBlocking(context, [this, request, response]() -> absl::Status {
    auto revision = store_->DeleteService(request->id(), request->expected_revision());
    if (!revision.ok()) return revision.status();
    response->set_revision(*revision);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* DirectoryService::ListServices(grpc::CallbackServerContext* context,
                                                         const grpc::ByteBuffer* request_bytes,
                                                         grpc::ByteBuffer* response) {
  v1::ListServicesRequest request;
  {
    std::vector<grpc::Slice> slices;
    std::string raw;
    if (request_bytes->Dump(&slices).ok()) {
      for (const auto& slice : slices) {
        raw.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
      }
    }
    if (!request.ParseFromString(raw)) {
      return FinishNow(context, absl::InvalidArgumentError(
                                    "request: not a valid aurora.directory.v1.ListServicesRequest "
                                    "(a string field is not valid UTF-8, or the bytes are not this "
                                    "message)"));
    }
  }
  if (auto s = ValidateListServicesRequest(request, *codes_); !s.ok()) {
    return FinishNow(context, s);
  }
  auto start = StartPage(request);
  if (!start.ok()) return FinishNow(context, start.status());
  const ServiceIndex::Query query = store_->index().Compile(request);
  const DirectoryStore::ServicePage page = store_->ListServices(query, start->after, start->size);

  // ListServicesResponse in wire format: services (1), next_page_token (2), revision (3).
  size_t total = 32;
  for (const auto& hit : page.hits) total += hit.bytes->size() + 8;
  std::string out;
  out.reserve(total);
  for (const auto& hit : page.hits) {
    wire::AppendLengthDelimitedField(&out, v1::ListServicesResponse::kServicesFieldNumber,
                                     *hit.bytes);
  }
  if (page.more && !page.hits.empty()) {
    wire::AppendLengthDelimitedField(
        &out, v1::ListServicesResponse::kNextPageTokenFieldNumber,
        start->NextToken(true, FormatServiceKey(page.hits.back().key)));
  }
  if (page.revision != 0) {
    wire::AppendVarintField(&out, v1::ListServicesResponse::kRevisionFieldNumber,
                            static_cast<uint64_t>(page.revision));
  }
  grpc::Slice slice(std::move(out));
  *response = grpc::ByteBuffer(&slice, 1);
  return FinishNow(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* DirectoryService::CheckServiceText(
    grpc::CallbackServerContext* context, const v1::CheckServiceTextRequest* request,
    v1::CheckServiceTextResponse* response) {
  const bool by_id = !request->service_id().empty();
  if (by_id == request->has_service()) {
    return FinishNow(
        context, absl::InvalidArgumentError("service_id, service: give exactly one of the two"));
  }
  v1::Service service;
  if (by_id) {
    if (auto s = ValidateUuid(request->service_id(), "service_id"); !s.ok()) {
      return FinishNow(context, s);
    }
    auto stored = store_->GetService(request->service_id());
    if (!stored.ok()) return FinishNow(context, stored.status());
    service = std::move(*stored);
  } else {
    // A draft only needs to be well-formed text; the checker reports the rest.
    service = request->service();
  }
  for (auto& finding : directory::CheckServiceText(service)) {
    *response->add_findings() = std::move(finding);
  }
  return FinishNow(context, absl::OkStatus());
}

}  // namespace aurora::directory
