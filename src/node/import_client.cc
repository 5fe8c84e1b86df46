#include "node/import_client.h"

#include <grpcpp/grpcpp.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/status.h"

namespace aurora::node {

namespace v1 = aurora::directory::v1;

std::string ProgressBar(int64_t done, int64_t total, int width) {
  const double fraction = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 1;
  const int filled = static_cast<int>(fraction * width);
  std::string bar(static_cast<size_t>(width), ' ');
  for (int i = 0; i < filled && i < width; ++i) bar[static_cast<size_t>(i)] = '=';
  if (filled < width) bar[static_cast<size_t>(filled)] = '>';
  return absl::StrFormat("\r[%s] %d/%d services", bar, done, total);
}

absl::StatusOr<ImportSummary> ImportCatalogueFiles(v1::Directory::StubInterface* stub,
                                                   const std::vector<std::string>& files,
                                                   const CodeLists& codes,
                                                   const ImportOptions& options) {
  ImportSummary summary;
  struct Source {
    std::string file;
    int64_t line;
  };
  std::vector<v1::Service> services;
  std::vector<Source> sources;
  std::map<std::string, v1::Organization> organizations;
  for (const auto& file : files) {
    auto read = directory::ReadCatalogueFile(file, options.format, codes);
    if (!read.ok()) return read.status();
    summary.unreadable += static_cast<int64_t>(read->errors.size());
    for (const auto& error : read->errors) {
      // "line N: why" -> "file:N: why", the form rejected records are reported in too.
      absl::string_view rest(error);
      absl::ConsumePrefix(&rest, "line ");
      summary.problems.push_back(absl::StrCat(file, ":", rest));
    }
    for (auto& record : read->records) {
      if (!record.organization.id().empty()) {
        organizations.try_emplace(record.organization.id(), record.organization);
      }
      sources.push_back({file, record.line});
      services.push_back(std::move(record.service));
    }
  }
  summary.records = static_cast<int64_t>(services.size());
  const auto deadline = std::chrono::system_clock::now() + options.timeout;

  for (const auto& [id, organization] : organizations) {
    grpc::ClientContext context;
    context.set_deadline(
        std::min(deadline, std::chrono::system_clock::now() + std::chrono::seconds(30)));
    v1::RegisterOrganizationRequest request;
    *request.mutable_organization() = organization;
    v1::Organization response;
    grpc::Status status = stub->RegisterOrganization(&context, request, &response);
    if (status.ok()) {
      ++summary.organizations_registered;
    } else if (status.error_code() != grpc::StatusCode::ALREADY_EXISTS) {
      summary.problems.push_back(absl::StrCat("organisation ", id, ": ", status.error_message()));
    }
  }

  grpc::ClientContext context;
  context.set_deadline(deadline);
  v1::ImportServicesResponse response;
  std::unique_ptr<grpc::ClientWriterInterface<v1::ImportServicesRequest>> writer(
      stub->ImportServices(&context, &response));
  const size_t batch = static_cast<size_t>(std::max(1, std::min(options.batch_size, 1000)));
  for (size_t start = 0; start < services.size(); start += batch) {
    v1::ImportServicesRequest request;
    request.set_report_rejected_only(true);
    const size_t end = std::min(services.size(), start + batch);
    for (size_t i = start; i < end; ++i) *request.add_services() = std::move(services[i]);
    if (!writer->Write(request)) break;  // the server ended the call; Finish() says why
    if (options.progress) options.progress(static_cast<int64_t>(end), summary.records);
  }
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  if (!status.ok()) return FromGrpcStatus(status);
  summary.created = response.created();
  summary.updated = response.updated();
  summary.unchanged = response.unchanged();
  summary.rejected = response.rejected();
  summary.revision = response.revision();
  for (const auto& result : response.results()) {
    if (result.outcome() != v1::ImportResult::OUTCOME_REJECTED) continue;
    const auto index = static_cast<size_t>(result.index());
    const std::string where = index < sources.size()
                                  ? absl::StrCat(sources[index].file, ":", sources[index].line)
                                  : absl::StrCat("record ", index);
    summary.problems.push_back(absl::StrCat(where, ": ", result.error()));
  }
  return summary;
}

}  // namespace aurora::node
