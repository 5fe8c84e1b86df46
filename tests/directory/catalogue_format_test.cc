#include "directory/catalogue_format.h"

#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/text.h"
#include "common/codelists.h"

namespace aurora::directory {
namespace {

namespace v1 = aurora::directory::v1;
using aurora::common::v1::LifeArea;

const std::string kDataDir = AURORA_DATA_DIR;
const std::string kServicesFile = kDataDir + "/services.ndjson";
const std::string kRawPtvFile = kDataDir + "/raw/ptv_api_kunta_api/services.ndjson";

const CodeLists& Codes() {
  static const CodeLists* codes = [] {
    auto loaded = CodeLists::LoadFromDirectory(kDataDir + "/codelists");
    if (!loaded.ok()) FAIL("code lists: " << loaded.status().ToString());
    return new CodeLists(*std::move(loaded));
  }();
  return *codes;
}

// services.ndjson and the raw PTV file are read once and shared by the tests that only look.
const CatalogueReadResult& Catalogue() {
  static const CatalogueReadResult* result = [] {
    auto read = ReadCatalogueFile(kServicesFile, CatalogueFormat::kNdjson, Codes());
    if (!read.ok()) FAIL(read.status().ToString());
    return new CatalogueReadResult(*std::move(read));
  }();
  return *result;
}

const CatalogueReadResult& RawPtv() {
  static const CatalogueReadResult* result = [] {
    auto read = ReadCatalogueFile(kRawPtvFile, CatalogueFormat::kPtv, Codes());
    if (!read.ok()) FAIL(read.status().ToString());
    return new CatalogueReadResult(*std::move(read));
  }();
  return *result;
}

const CatalogueRecord& FindByExternalId(const CatalogueReadResult& result,
                                        const std::string& external_id) {
  for (const CatalogueRecord& record : result.records) {
    if (record.service.external_ref().external_id() == external_id) return record;
  }
  FAIL("no record with external id " << external_id);
  throw std::logic_error("unreachable");
}

const v1::ServiceChannel& ChannelById(const v1::Service& service, const std::string& id) {
  for (const v1::ServiceChannel& channel : service.channels()) {
    if (channel.id() == id) return channel;
  }
  FAIL("service " << service.id() << " has no channel " << id);
  throw std::logic_error("unreachable");
}

std::vector<std::string> Strings(const google::protobuf::RepeatedPtrField<std::string>& field) {
  return {field.begin(), field.end()};
}

// A folder under the system temp directory, removed with everything in it at the end of a test.
class TempFolder {
 public:
  TempFolder() {
    static int counter = 0;
    path_ =
        std::filesystem::temp_directory_path() /
        ("catalogue_format_test_" + std::to_string(::getpid()) + "_" + std::to_string(++counter));
    std::filesystem::create_directories(path_);
  }
  ~TempFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string Write(const std::string& name, const std::string& content) const {
    const std::string file = (path_ / name).string();
    std::ofstream(file, std::ios::binary) << content;
    return file;
  }

 private:
  std::filesystem::path path_;
};

CatalogueReadResult ReadPtvText(const std::string& services, const std::string& channels = "") {
  TempFolder folder;
  if (!channels.empty()) folder.Write("servicechannels.ndjson", channels);
  const std::string path = folder.Write("services.ndjson", services);
  auto result = ReadCatalogueFile(path, CatalogueFormat::kPtv, Codes());
  REQUIRE(result.ok());
  return *std::move(result);
}

// --------------------------------------------------------------------------------------------
// kNdjson: the shared services.ndjson

TEST_CASE("every services.ndjson record converts, with the documented count per source") {
  const CatalogueReadResult& result = Catalogue();
  INFO((result.errors.empty() ? std::string() : result.errors.front()));
  CHECK(result.errors.empty());
  REQUIRE(result.records.size() == 3088);

  std::map<std::string, int> per_source;
  int general_descriptions = 0;
  for (const CatalogueRecord& record : result.records) {
    const v1::Service& service = record.service;
    ++per_source[service.external_ref().source()];
    CHECK(IsCanonicalUuid(service.id()));
    CHECK_FALSE(service.external_ref().external_id().empty());
    CHECK(service.area_type() != v1::AREA_TYPE_UNSPECIFIED);
    if (service.kind() == v1::SERVICE_KIND_GENERAL_DESCRIPTION) {
      ++general_descriptions;
      CHECK(service.external_ref().source() == "ptv-general-description");
    } else {
      CHECK(service.kind() == v1::SERVICE_KIND_SERVICE);
    }
  }
  CHECK(per_source == std::map<std::string, int>{{"auroraai-3x10d-xlsx", 1798},
                                                 {"auroraai-test-data", 1},
                                                 {"helsinki-tpr", 593},
                                                 {"kunta-api-ptv", 446},
                                                 {"ptv-general-description", 250}});
  CHECK(general_descriptions == 250);
  // Records are numbered by their line in the file.
  CHECK(result.records.front().line == 1);
  CHECK(result.records.back().line == 3088);
}

TEST_CASE("a kunta-api-ptv record keeps its names, codes, area and channels") {
  const CatalogueRecord& record =
      FindByExternalId(Catalogue(), "0c9e0160-6c37-46ab-8911-4c93087b87e2");
  const v1::Service& service = record.service;
  CHECK(service.id() == "0c9e0160-6c37-46ab-8911-4c93087b87e2");
  CHECK(service.external_ref().source() == "kunta-api-ptv");
  CHECK(service.name().fi() == "Potilasasiamies");
  CHECK(service.name().sv() == "Patientombudsman");
  CHECK(service.name().en().empty());
  CHECK(service.type() == v1::SERVICE_TYPE_SERVICE);
  CHECK(service.kind() == v1::SERVICE_KIND_SERVICE);
  CHECK(Strings(service.service_classes()) == std::vector<std::string>{"P5.17"});
  CHECK(Strings(service.target_groups()) == std::vector<std::string>{"KR1"});
  CHECK(service.area_type() == v1::AREA_TYPE_LIMITED);
  CHECK(Strings(service.municipality_codes()) == std::vector<std::string>{"905"});
  CHECK(service.organization_id() == "7fdd7f84-e52a-4c17-a59a-d7c2a3095ed5");
  CHECK(record.organization.id() == "7fdd7f84-e52a-4c17-a59a-d7c2a3095ed5");
  CHECK(record.organization.name().fi() == "Vaasan kaupunki");

  REQUIRE(service.channels_size() == 4);
  std::vector<v1::ChannelType> types;
  for (const auto& channel : service.channels()) types.push_back(channel.type());
  CHECK(types == std::vector<v1::ChannelType>{v1::CHANNEL_TYPE_ELECTRONIC,
                                              v1::CHANNEL_TYPE_WEB_PAGE, v1::CHANNEL_TYPE_PHONE,
                                              v1::CHANNEL_TYPE_SERVICE_LOCATION});
  const v1::ServiceChannel& phone = ChannelById(service, "825b24af-288f-419f-aedf-0eaa41405e03");
  CHECK(Strings(phone.phones()) == std::vector<std::string>{"+358 401351982"});
  CHECK(Strings(phone.emails()) == std::vector<std::string>{"potilasasiamies@vaasa.fi"});
  const v1::ServiceChannel& web = ChannelById(service, "615e2b90-64fb-4297-a4e4-664ace761f8b");
  CHECK(Strings(web.urls()) == std::vector<std::string>{"https://www.vaasa.fi/node/15561",
                                                        "https://www.vaasa.fi/sv/node/15561"});
  CHECK(web.name().sv() == "Patientombudsman");
  const v1::ServiceChannel& place = ChannelById(service, "ce522805-5246-4dd4-a595-6ca949d6bc30");
  REQUIRE(place.addresses_size() == 1);
  CHECK(place.addresses(0).type() == "Location");
  CHECK(place.addresses(0).street() == "Tammikaivontie");
  CHECK(place.addresses(0).street_number() == "4");
  CHECK(place.addresses(0).postal_code() == "65100");
  CHECK(place.addresses(0).post_office() == "VAASA");
  CHECK(place.addresses(0).municipality_code() == "905");
}

TEST_CASE("Helsinki ids become stable name-based UUIDs and keep the original id") {
  const CatalogueRecord& first = FindByExternalId(Catalogue(), "hel-tpr:10001");
  const CatalogueRecord& second = FindByExternalId(Catalogue(), "hel-tpr:10002");
  CHECK(IsCanonicalUuid(first.service.id()));
  CHECK(first.service.id() == NameBasedUuid(kCatalogueIdNamespace, "helsinki-tpr:hel-tpr:10001"));
  CHECK(first.service.id() != second.service.id());
  CHECK(first.service.external_ref().source() == "helsinki-tpr");
  CHECK(first.service.external_ref().external_id() == "hel-tpr:10001");
  // Organisation ids that are UUIDs stay as they are; channel ids are hashed like service ids.
  CHECK(first.service.organization_id() == "55ed20a5-6a3a-447c-958c-2b537b9e6ee2");
  REQUIRE(first.service.channels_size() == 1);
  CHECK(first.service.channels(0).id() ==
        NameBasedUuid(kCatalogueIdNamespace, "helsinki-tpr:hel-tpr-ch:4363"));
  CHECK(first.service.channels(0).type() == v1::CHANNEL_TYPE_WEB_PAGE);

  // A second, independent read of the same line gives the same ids.
  std::ifstream in(kServicesFile);
  std::string line;
  while (std::getline(in, line) && line.find("\"hel-tpr:10001\"") == std::string::npos) {
  }
  auto again = ParseNdjsonRecord(line, Codes());
  REQUIRE(again.ok());
  CHECK(again->service.id() == first.service.id());
  CHECK(again->service.channels(0).id() == first.service.channels(0).id());
}

TEST_CASE("3X10D meter labels become life areas in enum order") {
  // {"health": 1, "resilience": 1, ..., "life_satisfaction": 1}, not excluded.
  const CatalogueRecord& labelled =
      FindByExternalId(Catalogue(), "01a571b5-3eb9-4b49-a27e-ec8427737c5b");
  CHECK(std::vector<int>(labelled.service.life_areas().begin(),
                         labelled.service.life_areas().end()) ==
        std::vector<int>{aurora::common::v1::LIFE_AREA_HEALTH,
                         aurora::common::v1::LIFE_AREA_RESILIENCE,
                         aurora::common::v1::LIFE_AREA_LIFE_SATISFACTION});
  CHECK_FALSE(labelled.service.life_situation_excluded());

  // All meters 0 and marked "EI MUKAAN".
  const CatalogueRecord& excluded =
      FindByExternalId(Catalogue(), "003dca0e-9ae9-4362-ba93-78a9d5f127d7");
  CHECK(excluded.service.life_areas().empty());
  CHECK(excluded.service.life_situation_excluded());

  int with_life_areas = 0, excluded_count = 0;
  for (const CatalogueRecord& record : Catalogue().records) {
    if (!record.service.life_areas().empty()) ++with_life_areas;
    if (record.service.life_situation_excluded()) ++excluded_count;
    const auto& areas = record.service.life_areas();
    CHECK(std::is_sorted(areas.begin(), areas.end()));
  }
  // SOURCES.md: 357 spreadsheet rows and the one AuroraAI test record have a meter labelled 1.
  CHECK(with_life_areas == 358);
  CHECK(excluded_count == 1093);
}

TEST_CASE("general descriptions are read as GENERAL_DESCRIPTION without organisation") {
  int count = 0;
  for (const CatalogueRecord& record : Catalogue().records) {
    if (record.service.external_ref().source() != "ptv-general-description") continue;
    ++count;
    CHECK(record.service.kind() == v1::SERVICE_KIND_GENERAL_DESCRIPTION);
    CHECK(record.service.organization_id().empty());
    CHECK(record.service.channels().empty());
    CHECK_FALSE(record.service.service_classes().empty());
  }
  CHECK(count == 250);
}

TEST_CASE("ndjson: ids are lowercased or hashed, enums mapped, nulls left empty") {
  const std::string line = R"({"id": "0C9E0160-6C37-46AB-8911-4C93087B87E2", "source": "test",
    "kind": "service", "type": "PermissionAndObligation",
    "organization_id": "7FDD7F84-E52A-4C17-A59A-D7C2A3095ED5", "organization_name": "Org",
    "names": {"fi": "Nimi", "sv": null}, "summary": null, "keywords": ["a", null, "b"],
    "service_classes": ["P5.17", "http://urn.fi/URN:NBN:fi:au:ptvl:v1008"],
    "area_type": "NationwideExceptAlandIslands", "general_description_id": "gd-7",
    "channels": [{"id": null, "type": null, "urls": ["https://x.fi"]},
                 {"id": "ch-1", "type": "PrintableForm"}],
    "life_situation_meters": null, "aurora_3x10d_excluded": null})";
  auto record = ParseNdjsonRecord(line, Codes());
  REQUIRE(record.ok());
  const v1::Service& service = record->service;
  CHECK(service.id() == "0c9e0160-6c37-46ab-8911-4c93087b87e2");
  CHECK(service.external_ref().external_id() == "0C9E0160-6C37-46AB-8911-4C93087B87E2");
  CHECK(service.organization_id() == "7fdd7f84-e52a-4c17-a59a-d7c2a3095ed5");
  CHECK(record->organization.name().fi() == "Org");
  CHECK(service.type() == v1::SERVICE_TYPE_PERMIT_OR_OBLIGATION);
  CHECK(service.area_type() == v1::AREA_TYPE_NATIONWIDE_EXCEPT_ALAND_ISLANDS);
  CHECK(service.general_description_id() == NameBasedUuid(kCatalogueIdNamespace, "test:gd-7"));
  CHECK(service.name().fi() == "Nimi");
  CHECK(service.name().sv().empty());
  CHECK(service.summary().fi().empty());
  CHECK(Strings(service.keywords()) == std::vector<std::string>{"a", "b"});
  // An old PTV URI in the code field is mapped through the code lists.
  CHECK(Strings(service.service_classes()) == std::vector<std::string>{"P5.17", "P2.1"});
  REQUIRE(service.channels_size() == 2);
  CHECK(service.channels(0).id().empty());
  CHECK(service.channels(0).type() == v1::CHANNEL_TYPE_UNSPECIFIED);
  CHECK(service.channels(1).id() == NameBasedUuid(kCatalogueIdNamespace, "test:ch-1"));
  CHECK(service.channels(1).type() == v1::CHANNEL_TYPE_PRINTABLE_FORM);
  CHECK(service.life_areas().empty());

  auto minimal = ParseNdjsonRecord(R"({"names": {"fi": "Vain nimi"}})", Codes());
  REQUIRE(minimal.ok());
  CHECK(minimal->service.id().empty());
  CHECK(minimal->service.area_type() == v1::AREA_TYPE_UNSPECIFIED);
  CHECK(minimal->service.kind() == v1::SERVICE_KIND_UNSPECIFIED);
  CHECK(minimal->organization.id().empty());
}

TEST_CASE("ndjson: a bad field is an error naming the field and the value") {
  auto area = ParseNdjsonRecord(R"({"id": "x", "area_type": "Everywhere"})", Codes());
  REQUIRE(area.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(area.status().message()), Catch::Contains("area_type") &&
                                                       Catch::Contains("\"Everywhere\"") &&
                                                       Catch::Contains("LimitedType"));

  auto names = ParseNdjsonRecord(R"({"names": ["Nimi"]})", Codes());
  REQUIRE(names.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(names.status().message()),
             Catch::Contains("names") && Catch::Contains("expected an object"));

  auto channel = ParseNdjsonRecord(R"({"channels": [{"type": "Fax"}]})", Codes());
  REQUIRE(channel.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(channel.status().message()),
             Catch::Contains("channels[0].type") && Catch::Contains("\"Fax\""));

  auto meter = ParseNdjsonRecord(R"({"life_situation_meters": {"health": 5}})", Codes());
  REQUIRE(meter.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(meter.status().message()),
             Catch::Contains("life_situation_meters.health") && Catch::Contains("5"));

  auto not_object = ParseNdjsonRecord("[1, 2]", Codes());
  REQUIRE(not_object.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(not_object.status().message()), Catch::Contains("JSON object"));
}

TEST_CASE("ReadCatalogueFile reports malformed lines by number and skips blank lines") {
  TempFolder folder;
  const std::string path =
      folder.Write("catalogue.ndjson",
                   "{\"id\": \"a1\", \"source\": \"t\", \"names\": {\"fi\": \"Yksi\"}}\n"
                   "\n"
                   "{\"id\": \"a2\", \"names\": {\"fi\": \n"
                   "[\"not\", \"an\", \"object\"]\r\n"
                   "   \n"
                   "{\"id\": \"a3\", \"source\": \"t\", \"type\": \"Sometimes\"}\n"
                   "{\"id\": \"a4\", \"source\": \"t\", \"names\": {\"fi\": \"Nelj\\u00e4\"}}\r\n");
  auto result = ReadCatalogueFile(path, CatalogueFormat::kNdjson, Codes());
  REQUIRE(result.ok());
  REQUIRE(result->records.size() == 2);
  CHECK(result->records[0].line == 1);
  CHECK(result->records[0].service.name().fi() == "Yksi");
  CHECK(result->records[1].line == 7);
  CHECK(result->records[1].service.name().fi() == "Neljä");
  REQUIRE(result->errors.size() == 3);
  CHECK_THAT(result->errors[0], Catch::StartsWith("line 3: not valid JSON"));
  CHECK_THAT(result->errors[1], Catch::StartsWith("line 4: ") && Catch::Contains("JSON object"));
  CHECK_THAT(result->errors[2],
             Catch::StartsWith("line 6: type: ") && Catch::Contains("\"Sometimes\""));
}

TEST_CASE("ReadCatalogueFile fails with NOT_FOUND naming a missing file") {
  const std::string path = kDataDir + "/no-such-catalogue.ndjson";
  for (CatalogueFormat format : {CatalogueFormat::kNdjson, CatalogueFormat::kPtv}) {
    auto result = ReadCatalogueFile(path, format, Codes());
    REQUIRE(result.status().code() == absl::StatusCode::kNotFound);
    CHECK_THAT(std::string(result.status().message()), Catch::Contains(path));
  }
}

TEST_CASE("ParseCatalogueFormat accepts ndjson and ptv only") {
  CHECK(*ParseCatalogueFormat("ndjson") == CatalogueFormat::kNdjson);
  CHECK(*ParseCatalogueFormat("ptv") == CatalogueFormat::kPtv);
  for (const char* bad : {"csv", "", "NDJSON"}) {
    auto format = ParseCatalogueFormat(bad);
    REQUIRE(format.status().code() == absl::StatusCode::kInvalidArgument);
    const std::string message(format.status().message());
    CHECK_THAT(message, Catch::Contains(std::string("\"") + bad + "\"") &&
                            Catch::Contains("ndjson") && Catch::Contains("ptv"));
  }
}

// --------------------------------------------------------------------------------------------
// kPtv: the raw PTV Open API records

TEST_CASE("every raw PTV record converts and every channel link resolves") {
  const CatalogueReadResult& result = RawPtv();
  INFO((result.errors.empty() ? std::string() : result.errors.front()));
  CHECK(result.errors.empty());
  // `wc -l` and a Python count of raw/ptv_api_kunta_api/services.ndjson: 455 records, linking
  // 1,931 channels, all present in servicechannels.ndjson.
  REQUIRE(result.records.size() == 455);
  size_t channels = 0;
  std::set<std::string> ids;
  for (const CatalogueRecord& record : result.records) {
    const v1::Service& service = record.service;
    ids.insert(service.id());
    CHECK(IsCanonicalUuid(service.id()));
    CHECK(service.external_ref().source() == "ptv");
    CHECK(service.external_ref().external_id() == service.id());
    CHECK(service.kind() == v1::SERVICE_KIND_SERVICE);
    CHECK(service.area_type() != v1::AREA_TYPE_UNSPECIFIED);
    CHECK_FALSE(service.organization_id().empty());
    for (const auto& channel : service.channels()) {
      ++channels;
      CHECK(channel.type() != v1::CHANNEL_TYPE_UNSPECIFIED);
    }
  }
  CHECK(ids.size() == 455);
  CHECK(channels == 1931);
}

TEST_CASE("a raw PTV record: names, codes, municipalities, channels and organisation") {
  const CatalogueRecord& record =
      FindByExternalId(RawPtv(), "0c9e0160-6c37-46ab-8911-4c93087b87e2");
  const v1::Service& service = record.service;
  CHECK(record.line == 28);
  CHECK(service.name().fi() == "Potilasasiamies");
  CHECK(service.name().sv() == "Patientombudsman");
  CHECK(Strings(service.service_classes()) == std::vector<std::string>{"P5.17"});
  CHECK(Strings(service.target_groups()) == std::vector<std::string>{"KR1"});
  CHECK(service.area_type() == v1::AREA_TYPE_LIMITED);
  CHECK(Strings(service.municipality_codes()) == std::vector<std::string>{"905"});
  CHECK(service.funding_type() == v1::FUNDING_TYPE_PUBLICLY_FUNDED);
  CHECK(service.organization_id() == "7fdd7f84-e52a-4c17-a59a-d7c2a3095ed5");
  // The organisation's names come from organizations.ndjson.
  CHECK(record.organization.name().fi() == "Vaasan kaupunki");
  CHECK(record.organization.name().sv() == "Vasa stad");
  CHECK(record.organization.business_id() == "0209602-6");
  CHECK(record.organization.municipality_code() == "905");

  REQUIRE(service.channels_size() == 4);
  const v1::ServiceChannel& phone = ChannelById(service, "825b24af-288f-419f-aedf-0eaa41405e03");
  CHECK(phone.type() == v1::CHANNEL_TYPE_PHONE);
  CHECK(Strings(phone.phones()) == std::vector<std::string>{"+358 401351982"});
  CHECK(Strings(phone.emails()) == std::vector<std::string>{"potilasasiamies@vaasa.fi"});
  const v1::ServiceChannel& place = ChannelById(service, "ce522805-5246-4dd4-a595-6ca949d6bc30");
  CHECK(place.type() == v1::CHANNEL_TYPE_SERVICE_LOCATION);
  CHECK(place.name().fi() == "Potilasasiamiehen toimisto");
  REQUIRE(place.addresses_size() >= 1);
  CHECK(place.addresses(0).type() == "Location");
  CHECK(place.addresses(0).street() == "Tammikaivontie");
  CHECK(place.addresses(0).street_number() == "4");
  CHECK(place.addresses(0).postal_code() == "65100");
  CHECK(place.addresses(0).post_office() == "VAASA");
  CHECK(place.addresses(0).municipality_code() == "905");
  const v1::ServiceChannel& web = ChannelById(service, "615e2b90-64fb-4297-a4e4-664ace761f8b");
  CHECK(web.type() == v1::CHANNEL_TYPE_WEB_PAGE);
  CHECK(Strings(web.urls()) == std::vector<std::string>{"https://www.vaasa.fi/node/15561",
                                                        "https://www.vaasa.fi/sv/node/15561"});
}

TEST_CASE("raw PTV records agree with their services.ndjson versions") {
  std::map<std::string, const CatalogueRecord*> converted;
  for (const CatalogueRecord& record : Catalogue().records) {
    if (record.service.external_ref().source() == "kunta-api-ptv") {
      converted[record.service.id()] = &record;
    }
  }
  REQUIRE(converted.size() == 446);
  size_t compared = 0, same_names = 0, same_classes = 0, same_targets = 0, same_municipalities = 0,
         same_channels = 0, same_area_type = 0;
  for (const CatalogueRecord& raw : RawPtv().records) {
    auto it = converted.find(raw.service.id());
    if (it == converted.end()) continue;
    const v1::Service& a = raw.service;
    const v1::Service& b = it->second->service;
    ++compared;
    same_names += a.name().SerializeAsString() == b.name().SerializeAsString();
    same_classes += Strings(a.service_classes()) == Strings(b.service_classes());
    same_targets += Strings(a.target_groups()) == Strings(b.target_groups());
    same_municipalities += Strings(a.municipality_codes()) == Strings(b.municipality_codes());
    same_area_type += a.area_type() == b.area_type();
    std::vector<std::string> a_channels, b_channels;
    for (const auto& c : a.channels()) a_channels.push_back(c.id());
    for (const auto& c : b.channels()) b_channels.push_back(c.id());
    same_channels += a_channels == b_channels;
  }
  // 455 raw records = 446 kunta-api-ptv + 9 of test organisations (left out of services.ndjson).
  CHECK(compared == 446);
  CHECK(same_names == 446);
  CHECK(same_classes == 446);
  CHECK(same_targets == 446);
  CHECK(same_municipalities == 446);
  CHECK(same_area_type == 446);
  CHECK(same_channels == 446);
}

TEST_CASE("raw PTV: old area types, Region expansion, and fax numbers left out") {
  // Old spellings: "AreaType" -> LimitedType, "WholeCountry" -> Nationwide.
  const CatalogueRecord& limited =
      FindByExternalId(RawPtv(), "08ab5b97-d04d-4d16-a3f3-dac654b140ec");
  CHECK(limited.service.area_type() == v1::AREA_TYPE_LIMITED);
  CHECK(Strings(limited.service.municipality_codes()) == std::vector<std::string>{"491"});
  const CatalogueRecord& nationwide =
      FindByExternalId(RawPtv(), "4c490d84-1fc2-4011-98b5-fbc7a878cbce");
  CHECK(nationwide.service.area_type() == v1::AREA_TYPE_NATIONWIDE);
  CHECK(nationwide.service.municipality_codes().empty());

  // Region 02 (Varsinais-Suomi) with its municipalities listed: the code-list expansion agrees.
  const CatalogueRecord& region =
      FindByExternalId(RawPtv(), "e84fc45a-4dcf-476e-9e6d-6b6c64faebcb");
  CHECK(Strings(region.service.municipality_codes()) == Codes().MunicipalitiesInRegion("02"));
  CHECK(region.service.municipality_codes_size() == 27);

  // Channel 1be51928 lists a fax (+358 6478) and a phone (+358 63258400).
  const CatalogueRecord& with_fax =
      FindByExternalId(RawPtv(), "03385592-f0a8-4dc1-8790-2c23ce1486c8");
  const v1::ServiceChannel& channel =
      ChannelById(with_fax.service, "1be51928-1202-41ad-add3-6f136f53c2d1");
  CHECK(Strings(channel.phones()) == std::vector<std::string>{"+358 63258400"});
}

TEST_CASE("raw PTV: post office box and form delivery addresses become Postal addresses") {
  // A service location with a visiting address and a post office box.
  const CatalogueRecord& office =
      FindByExternalId(RawPtv(), "5aeef5bd-aaa8-48c2-b1da-c7f4d5dd70e0");
  const v1::ServiceChannel& place =
      ChannelById(office.service, "0447794b-bb9b-487a-93fc-4c3dbfc5b086");
  REQUIRE(place.addresses_size() == 2);
  CHECK(place.addresses(0).type() == "Location");
  CHECK(place.addresses(0).street() == "Ruutikellarintie");  // Finnish preferred over Swedish
  CHECK(place.addresses(1).type() == "Postal");
  CHECK(place.addresses(1).street() == "PL 241");
  CHECK(place.addresses(1).postal_code() == "65101");
  CHECK(place.addresses(1).post_office() == "VAASA");
  CHECK(place.addresses(1).municipality_code() == "905");

  // A printable form: its delivery address and the form's URL.
  const CatalogueRecord& form = FindByExternalId(RawPtv(), "29e1b6f6-b722-4bd1-b128-df796b728355");
  const v1::ServiceChannel& printable =
      ChannelById(form.service, "0d4c8903-09bd-4808-a88b-86bb42c88a4f");
  CHECK(printable.type() == v1::CHANNEL_TYPE_PRINTABLE_FORM);
  REQUIRE(printable.addresses_size() == 1);
  CHECK(printable.addresses(0).type() == "Postal");
  CHECK(printable.addresses(0).street() == "Tuulensuunkatu");
  CHECK(printable.addresses(0).street_number() == "8");
  CHECK(printable.addresses(0).postal_code() == "21100");
  CHECK(printable.addresses(0).municipality_code() == "529");
  REQUIRE(printable.urls_size() == 1);
  CHECK_THAT(printable.urls(0), Catch::StartsWith("http://www.naantali.fi/perhe_ja_sosiaali/"));
}

TEST_CASE("raw PTV: records of test organisations are converted too") {
  // "Testiorganisaatio 1 (Valtio)" in the service record; not in services.ndjson.
  const CatalogueRecord& record =
      FindByExternalId(RawPtv(), "116a9bc3-e565-4db1-aaac-d3f084d1513f");
  CHECK(record.service.organization_id() == "b458d033-042d-4cbe-b030-34e81da28821");
  // The test organisation reuses a real organisation's id, and the name comes from
  // organizations.ndjson, so the "Testiorganisaatio" label of the service record is not kept.
  CHECK(record.organization.name().fi() == "Väestörekisterikeskus");
  CHECK(record.organization.name().sv() == "Befolkningsregistercentralen");
  for (const CatalogueRecord& converted : Catalogue().records) {
    CHECK(converted.service.id() != record.service.id());
  }
}

TEST_CASE("raw PTV: Draft.js texts are flattened to plain text") {
  const std::string draft =
      R"({\"blocks\":[{\"key\":\"a1\",\"text\":\"Palvelu on tarkoitettu:\",\"type\":\"unstyled\",)"
      R"(\"depth\":0,\"inlineStyleRanges\":[],\"entityRanges\":[],\"data\":{}},)"
      R"({\"key\":\"a2\",\"text\":\"lapsille\",\"type\":\"unordered-list-item\"},)"
      R"({\"key\":\"a3\",\"text\":\"nuorille\",\"type\":\"ordered-list-item\"},)"
      R"({\"key\":\"a4\",\"text\":\"\",\"type\":\"unstyled\"},)"
      R"({\"key\":\"a5\",\"text\":\"Loppu.\",\"type\":\"unstyled\"}],\"entityMap\":{}})";
  const std::string services =
      R"({"id": "11111111-2222-4333-8444-555555555555", "type": "Service", "areaType": "Nationwide",)"
      R"( "serviceNames": [{"type": "Name", "language": "fi", "value": " Palvelu "}],)"
      R"( "serviceDescriptions": [{"type": "Description", "language": "fi", "value": ")" +
      draft +
      R"("}, {"type": "Summary", "language": "sv", "value": "Kort text."},)"
      R"( {"type": "ShortDescription", "language": "sv", "value": "Ignored, Summary wins."},)"
      R"( {"type": "ShortDescription", "language": "fi", "value": "Lyhyt."},)"
      R"( {"type": "DeadLine", "language": "fi", "value": "Not a description."}],)"
      R"( "requirements": [{"language": "en", "value": ")" +
      draft + R"("}]})" + "\n";
  const CatalogueReadResult result = ReadPtvText(services);
  INFO((result.errors.empty() ? std::string() : result.errors.front()));
  REQUIRE(result.records.size() == 1);
  const v1::Service& service = result.records[0].service;
  const std::string flat = "Palvelu on tarkoitettu:\n* lapsille\n* nuorille\n\nLoppu.";
  CHECK(service.description().fi() == flat);
  CHECK(service.requirements().en() == flat);
  CHECK(service.name().fi() == "Palvelu");
  CHECK(service.summary().sv() == "Kort text.");
  CHECK(service.summary().fi() == "Lyhyt.");
  CHECK(service.area_type() == v1::AREA_TYPE_NATIONWIDE);
}

TEST_CASE("raw PTV: old URIs map to codes, areas expand, JSON array files are read") {
  const std::string record = R"({
    "id": "22222222-3333-4444-8555-666666666666", "type": "PermitOrObligation",
    "areaType": "AreaType", "fundingType": "MarketFunded",
    "serviceNames": [{"type": "Name", "language": "fi", "value": "Lupa"},
                     {"type": "AlternateName", "language": "fi", "value": "Toinen nimi"}],
    "serviceClasses": [{"code": null, "uri": "http://urn.fi/URN:NBN:fi:au:ptvl:v1008"},
                       {"uri": "http://uri.suomi.fi/codelist/ptv/ptvserclass2/code/P5.17"},
                       {"code": "P2.1"}],
    "targetGroups": [{"oldUri": "http://urn.fi/URN:NBN:fi:au:ptvl:v2001"}],
    "lifeEvents": [{"uri": "http://urn.fi/URN:NBN:fi:au:ptvl:v3001"},
                   {"uri": "http://urn.fi/URN:NBN:fi:au:ptvl:v3999"}],
    "areas": [{"type": "HospitalRegions", "code": "25", "municipalities": []},
              {"type": "BusinessRegions", "code": "123", "municipalities": []},
              {"type": "BusinessRegions", "code": "124", "municipalities": [{"code": "905"}]},
              {"type": "Municipality", "code": "091"},
              {"type": "Region", "code": "21", "municipalities": null}],
    "serviceChannels": [{"serviceChannel": {"id": "33333333-4444-4555-8666-777777777777",
                                            "name": "Kanava"}},
                        {"serviceChannel": {"id": "44444444-5555-4666-8777-888888888888",
                                            "name": "Puuttuva"}}],
    "organizations": [{"roleType": "Producer", "organization": {"id": "x", "name": "Tuottaja"}},
                      {"roleType": "Responsible",
                       "organization": {"id": "AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE",
                                        "name": "Vastuutaho"}}]})";
  const std::string channels =
      R"({"id": "33333333-4444-4555-8666-777777777777", "serviceChannelType": "EChannel",)"
      R"( "serviceChannelNames": [{"type": "Name", "language": "fi", "value": "Asiointi"}],)"
      R"( "urls": [{"language": "fi", "value": "https://asiointi.example.fi"}],)"
      R"( "supportPhones": [{"type": "Phone", "prefixNumber": null, "number": "0295 000"}],)"
      R"( "supportEmails": [{"language": "fi", "value": "tuki@example.fi"}]})"
      "\n";
  // The services file as one JSON array.
  const CatalogueReadResult result = ReadPtvText("[" + record + "]", channels);
  INFO((result.errors.empty() ? std::string() : result.errors.front()));
  CHECK(result.errors.empty());
  REQUIRE(result.records.size() == 1);
  const CatalogueRecord& out = result.records[0];
  const v1::Service& service = out.service;
  CHECK(out.line == 1);
  CHECK(service.type() == v1::SERVICE_TYPE_PERMIT_OR_OBLIGATION);
  CHECK(service.funding_type() == v1::FUNDING_TYPE_MARKET_FUNDED);
  CHECK(service.area_type() == v1::AREA_TYPE_LIMITED);
  CHECK(service.alternative_name().fi() == "Toinen nimi");
  CHECK(Strings(service.service_classes()) == std::vector<std::string>{"P2.1", "P5.17"});
  CHECK(Strings(service.target_groups()) == std::vector<std::string>{"KR1"});
  // An unknown URI is carried over for the directory to report.
  CHECK(Strings(service.life_events()) ==
        std::vector<std::string>{"KE1", "http://urn.fi/URN:NBN:fi:au:ptvl:v3999"});

  // HospitalRegions 25 and Region 21 (Åland) expanded through the code lists, the listed 905 of a
  // business region and municipality 091; business region 123 lists none and adds nothing.
  std::vector<std::string> expected = Codes().MunicipalitiesInHospitalDistrict("25");
  const std::vector<std::string> aland = Codes().MunicipalitiesInRegion("21");
  REQUIRE_FALSE(expected.empty());
  REQUIRE_FALSE(aland.empty());
  expected.insert(expected.end(), aland.begin(), aland.end());
  expected.push_back("905");
  expected.push_back("091");
  std::sort(expected.begin(), expected.end());
  expected.erase(std::unique(expected.begin(), expected.end()), expected.end());
  CHECK(Strings(service.municipality_codes()) == expected);

  REQUIRE(service.channels_size() == 2);
  CHECK(service.channels(0).type() == v1::CHANNEL_TYPE_ELECTRONIC);
  CHECK(service.channels(0).name().fi() == "Asiointi");
  CHECK(Strings(service.channels(0).urls()) ==
        std::vector<std::string>{"https://asiointi.example.fi"});
  CHECK(Strings(service.channels(0).phones()) == std::vector<std::string>{"0295 000"});
  CHECK(Strings(service.channels(0).emails()) == std::vector<std::string>{"tuki@example.fi"});
  // A linked channel missing from servicechannels.ndjson keeps its id and name.
  CHECK(service.channels(1).id() == "44444444-5555-4666-8777-888888888888");
  CHECK(service.channels(1).type() == v1::CHANNEL_TYPE_UNSPECIFIED);
  CHECK(service.channels(1).name().fi() == "Puuttuva");

  // The Responsible organisation, id lowercased, name from the record (no organizations.ndjson).
  CHECK(service.organization_id() == "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee");
  CHECK(out.organization.id() == "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee");
  CHECK(out.organization.name().fi() == "Vastuutaho");
}

TEST_CASE("raw PTV: malformed lines are reported with their line number") {
  const std::string good =
      R"({"id": "11111111-2222-4333-8444-555555555555", "areaType": "Nationwide",)"
      R"( "serviceNames": [{"type": "Name", "language": "fi", "value": "Hyvä"}]})";
  const CatalogueReadResult result =
      ReadPtvText(good + "\n{\"id\": \n\n\"just a string\"\n" +
                  R"({"id": "x", "areaType": "Somewhere"})" + "\n" + good + "\n");
  REQUIRE(result.records.size() == 2);
  CHECK(result.records[0].line == 1);
  CHECK(result.records[1].line == 6);
  REQUIRE(result.errors.size() == 3);
  CHECK_THAT(result.errors[0], Catch::StartsWith("line 2: not valid JSON"));
  CHECK_THAT(result.errors[1], Catch::StartsWith("line 4: ") && Catch::Contains("JSON object"));
  CHECK_THAT(result.errors[2],
             Catch::StartsWith("line 5: areaType: ") && Catch::Contains("\"Somewhere\""));
}

}  // namespace
}  // namespace aurora::directory
