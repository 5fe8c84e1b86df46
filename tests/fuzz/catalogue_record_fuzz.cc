// libFuzzer target for the catalogue import formats (directory/catalogue_format) and the
// directory's validation of what they produce (directory/validation): the records `aurora import`
// reads.
//
// Input: one byte, then the record text:
//   byte 0      bit 0 clear: the text is one services.ndjson line, read with ParseNdjsonRecord;
//               bit 0 set: the text is a PTV Open API services file (one JSON object per line or
//               one JSON array), written to a private temporary folder and read with
//               ReadCatalogueFile(kPtv), the only way in to the PTV record converter; with bit 1
//               set the folder also holds small servicechannels.ndjson and organizations.ndjson
//               lookup files (kPtvChannels and kPtvOrganizations below: real PTV records,
//               trimmed), which ReadCatalogueFile then reads and parses every time
//   the rest    the text
// The code lists are loaded once from $AURORA_DATA_DIR/codelists, or from the AURORA_DATA_DIR the
// build was configured with (tests/fuzz/CMakeLists.txt, as the tests do).
//
// Invariants (a broken one prints what broke and calls __builtin_trap()):
//   * ParseNdjsonRecord returns a record or INVALID_ARGUMENT with a message;
//   * ReadCatalogueFile succeeds (the file exists); every refused record is an error
//     "line N: <why>" with N > 0 and a reason; records come with increasing line numbers > 0;
//   * every id a record carries (service, organisation, general description, channels) is empty or
//     a canonical UUID (non-UUID source ids become name-based UUIDs); PTV records have
//     external_ref.source "ptv";
//   * ValidateService, with and without id_required, and ValidateOrganization (when the record
//     names one) return OK or INVALID_ARGUMENT whose message starts with the field path
//     ("service." / "organization."); the two ValidateService calls agree except that
//     id_required also refuses an empty id.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "common/codelists.h"
#include "common/text.h"
#include "directory/catalogue_format.h"
#include "directory/validation.h"
#include "fuzz_check.h"
#include "fuzz_codelists.h"

namespace aurora::directory {
namespace {

// The channels and the organisation of PTV service 0982b9a3-66ba-445b-81ed-6202f924c356 (seed
// ptv_linked_channels_org), trimmed to the fields the converter reads.
constexpr std::string_view kPtvChannels =
    R"({"id":"05edf711-da73-4d0e-9f6b-5b7f603b5112","serviceChannelType":"EChannel","serviceChannelNames":[{"language":"fi","value":"Varhaiskasvatuksen verkkoasiointi","type":"Name"}],"serviceChannelDescriptions":[{"language":"fi","value":"Hakemukset verkossa.","type":"Summary"}],"webPages":[{"url":"https://sote.easiointi.fi/fi/web/naantali-vaka"}]}
{"id":"3db7f436-300e-4fbf-8e88-fd3b6c903e12","serviceChannelType":"ServiceLocation","serviceChannelNames":[{"language":"fi","value":"Varhaiskasvatustoimisto","type":"Name"}],"phoneNumbers":[{"type":"Phone","prefixNumber":"+358","number":"503615352"},{"type":"Fax","number":"24345"}],"emails":[{"value":"vaka@naantali.fi"}],"addresses":[{"type":"Location","streetAddress":{"street":[{"value":"Tullikatu","language":"fi"}],"streetNumber":"11","postalCode":"21100","postOffice":[{"value":"NAANTALI","language":"fi"}],"municipality":{"code":"529"}}}],"deliveryAddresses":[{"postOfficeBoxAddress":{"postOfficeBox":"PL 43","postalCode":"21101","municipality":"529"}}]}
{"id":"6DC68BE3-CFC9-44B5-AFC4-ADC9FAE54763","serviceChannelType":"Phone","serviceChannelNames":[{"language":"fi","value":"Päivähoidon esimies","type":"Name"}],"supportPhones":[{"number":" 503615352 "}],"supportEmails":[{"value":"esimies@naantali.fi"}],"channelUrls":[{"value":"https://www.naantali.fi/lomake"}]}
)";
constexpr std::string_view kPtvOrganizations =
    R"({"id":"3d1759a2-e47a-4947-9a31-cab1c1e2512b","businessCode":"0135457-2","municipality":{"code":"529"},"organizationNames":[{"language":"fi","value":"Naantalin kaupunki","type":"Name"}]}
)";

struct Fixture {
  CodeLists codes;
  std::string folder;  // private temporary folder for the PTV files
  // services.ndjson in folder/alone and, next to the lookup files, in folder/with_lookups.
  std::string alone_path, with_lookups_path;
};

void WriteFile(const std::string& path, std::string_view text) {
  FILE* file = std::fopen(path.c_str(), "wb");
  FUZZ_CHECK(file != nullptr);
  FUZZ_CHECK(std::fwrite(text.data(), 1, text.size(), file) == text.size());
  FUZZ_CHECK(std::fclose(file) == 0);
}

const Fixture& GetFixture() {
  static const Fixture* const fixture = [] {
    auto* f = new Fixture;
    f->codes = LoadFuzzCodeLists();

    const char* shm = "/dev/shm";
    const char* tmp = std::getenv("TMPDIR");
    std::string base = std::filesystem::is_directory(shm) && access(shm, W_OK) == 0 ? shm
                       : tmp != nullptr && *tmp != '\0'                             ? tmp
                                                                                    : "/tmp";
    std::string pattern = base + "/aurora-catalogue-fuzz.XXXXXX";
    FUZZ_CHECK(mkdtemp(pattern.data()) != nullptr);
    f->folder = pattern;
    std::filesystem::create_directory(f->folder + "/alone");
    std::filesystem::create_directory(f->folder + "/with_lookups");
    f->alone_path = f->folder + "/alone/services.ndjson";
    f->with_lookups_path = f->folder + "/with_lookups/services.ndjson";
    WriteFile(f->folder + "/with_lookups/servicechannels.ndjson", kPtvChannels);
    WriteFile(f->folder + "/with_lookups/organizations.ndjson", kPtvOrganizations);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(GetFixture().folder, ignored);
    });
    return f;
  }();
  return *fixture;
}

void CheckId(std::string_view id, const char* what) {
  if (!id.empty() && !IsCanonicalUuid(id)) {
    std::fprintf(stderr, "%s %s is neither empty nor a canonical UUID\n", what,
                 QuoteForMessage(id).c_str());
  }
  FUZZ_CHECK(id.empty() || IsCanonicalUuid(id));
}

void CheckError(const absl::Status& status, std::string_view prefix, const char* what) {
  if (status.ok()) return;
  if (status.code() != absl::StatusCode::kInvalidArgument ||
      !absl::StartsWith(status.message(), Sv(prefix)) || status.message().size() <= prefix.size()) {
    std::fprintf(stderr, "%s: %s\n", what, status.ToString().c_str());
  }
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  FUZZ_CHECK(absl::StartsWith(status.message(), Sv(prefix)));
  FUZZ_CHECK(status.message().size() > prefix.size());
}

void CheckRecord(const Fixture& f, const CatalogueRecord& record, bool ptv) {
  const v1::Service& service = record.service;
  CheckId(service.id(), "service.id");
  CheckId(service.organization_id(), "service.organization_id");
  CheckId(service.general_description_id(), "service.general_description_id");
  CheckId(record.organization.id(), "organization.id");
  FUZZ_CHECK(record.organization.id() == service.organization_id());
  for (const v1::ServiceChannel& channel : service.channels()) CheckId(channel.id(), "channel.id");
  if (ptv) FUZZ_CHECK(service.external_ref().source() == "ptv");

  const absl::Status optional_id = ValidateService(service, f.codes, /*id_required=*/false);
  const absl::Status required_id = ValidateService(service, f.codes, /*id_required=*/true);
  CheckError(optional_id, "service.", "ValidateService");
  CheckError(required_id, "service.", "ValidateService (id required)");
  if (required_id.ok()) FUZZ_CHECK(optional_id.ok());
  if (optional_id.ok() && !service.id().empty()) FUZZ_CHECK(required_id.ok());
  if (optional_id.ok() && service.id().empty()) {
    FUZZ_CHECK(absl::StartsWith(required_id.message(), "service.id"));
  }
  if (!record.organization.id().empty()) {
    CheckError(ValidateOrganization(record.organization, f.codes), "organization.",
               "ValidateOrganization");
  }
}

void RunNdjson(const Fixture& f, std::string_view line) {
  absl::StatusOr<CatalogueRecord> record = ParseNdjsonRecord(line, f.codes);
  if (!record.ok()) {
    CheckError(record.status(), "", "ParseNdjsonRecord");
    return;
  }
  CheckRecord(f, *record, /*ptv=*/false);
}

void RunPtv(const Fixture& f, std::string_view text, bool with_lookups) {
  const std::string& path = with_lookups ? f.with_lookups_path : f.alone_path;
  WriteFile(path, text);
  absl::StatusOr<CatalogueReadResult> read =
      ReadCatalogueFile(path, CatalogueFormat::kPtv, f.codes);
  if (!read.ok()) std::fprintf(stderr, "ReadCatalogueFile: %s\n", read.status().ToString().c_str());
  FUZZ_CHECK(read.ok());
  for (const std::string& error : read->errors) {
    // "line N: why"
    FUZZ_CHECK(absl::StartsWith(error, "line "));
    const size_t colon = error.find(": ");
    FUZZ_CHECK(colon != std::string::npos && colon + 2 < error.size());
    int64_t number = 0;
    FUZZ_CHECK(absl::SimpleAtoi(Sv(std::string_view(error).substr(5, colon - 5)), &number));
    FUZZ_CHECK(number > 0);
  }
  int64_t previous = 0;
  for (const CatalogueRecord& record : read->records) {
    FUZZ_CHECK(record.line > previous);
    previous = record.line;
    CheckRecord(f, record, /*ptv=*/true);
  }
}

void RunOne(const uint8_t* data, size_t size) {
  if (size < 1) return;
  const Fixture& f = GetFixture();
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  if ((data[0] & 1) == 0) {
    RunNdjson(f, text);
  } else {
    RunPtv(f, text, (data[0] & 2) != 0);
  }
}

}  // namespace
}  // namespace aurora::directory

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  aurora::directory::RunOne(data, size);
  return 0;
}
