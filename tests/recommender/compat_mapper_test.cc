// The AuroraAI-compatible output (CompatMapper::ToOutput) against golden documents: one service
// with every kind of field, in Finnish and in Swedish (with the Finnish fallback), printed as the
// gateway prints it (snake_case names, every field present).

#include <google/protobuf/util/json_util.h>

#include <catch2/catch.hpp>
#include <string>

#include "catalogue_fixture.h"
#include "nlohmann/json.hpp"
#include "recommender/compat_service.h"

namespace aurora::recommender {
namespace {

namespace dv1 = aurora::directory::v1;
namespace cv1 = aurora::compat::v1;
using nlohmann::json;

constexpr char kOrganization[] = "0a1b2c3d-0000-4000-8000-000000000001";

std::shared_ptr<const dv1::Service> GoldenService() {
  auto s = std::make_shared<dv1::Service>();
  s->set_id("5f0c2e1a-1111-4222-8333-444455556666");
  s->mutable_name()->set_fi("Asumisneuvonta");
  s->mutable_name()->set_sv("Boenderådgivning");
  s->mutable_summary()->set_fi("Neuvontaa vuokranmaksuvaikeuksiin.");
  s->mutable_description()->set_fi("Asumisneuvoja auttaa, kun vuokra on maksamatta.");
  s->mutable_description()->set_sv("Boenderådgivaren hjälper när hyran är obetald.");
  s->mutable_user_instruction()->set_fi("Soita tai varaa aika verkossa.");
  s->mutable_requirements()->set_fi("Asut kaupungin vuokra-asunnossa.");
  s->set_funding_type(dv1::FUNDING_TYPE_PUBLICLY_FUNDED);
  s->set_area_type(dv1::AREA_TYPE_LIMITED);
  s->add_municipality_codes("091");
  s->set_organization_id(kOrganization);
  s->add_target_groups("KR1");
  s->add_service_classes("P1");
  dv1::ServiceChannel* web = s->add_channels();
  web->set_id("c0000000-0000-4000-8000-00000000000a");
  web->set_type(dv1::CHANNEL_TYPE_ELECTRONIC);
  web->mutable_name()->set_fi("Ajanvaraus");
  web->mutable_summary()->set_fi("Varaa aika verkossa.");
  web->add_urls("https://example.fi/varaa");
  web->add_urls("https://example.fi/sv/boka");
  dv1::ServiceChannel* office = s->add_channels();
  office->set_id("c0000000-0000-4000-8000-00000000000b");
  office->set_type(dv1::CHANNEL_TYPE_SERVICE_LOCATION);
  office->mutable_name()->set_fi("Asumisneuvonnan toimisto");
  office->add_phones("+358 9 123 4567");
  office->add_emails("asumisneuvonta@example.fi");
  dv1::Address* postal = office->add_addresses();
  postal->set_type("Postal");
  postal->set_street("PL 1");
  dv1::Address* visiting = office->add_addresses();
  visiting->set_type("Visiting");
  visiting->set_street("Toinen linja");
  visiting->set_street_number("4 A");
  visiting->set_postal_code("00530");
  visiting->set_municipality_code("091");
  return s;
}

json Print(const cv1::RecommendationOutput& output) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string text;
  REQUIRE(google::protobuf::util::MessageToJsonString(output, &text, options).ok());
  return json::parse(text);
}

const char* kLinkBase =
    "https://aurora.example/service-recommender/v1/redirect?service_id="
    "5f0c2e1a-1111-4222-8333-444455556666&service_channel_id=";

json GoldenFinnish() {
  return json::parse(std::string(R"({
    "auroraai_recommendation_id": 4503599627370497,
    "recommended_services": [{
      "service_id": "5f0c2e1a-1111-4222-8333-444455556666",
      "service_name": "Asumisneuvonta",
      "service_description": "Asumisneuvoja auttaa, kun vuokra on maksamatta.",
      "service_description_summary": "Neuvontaa vuokranmaksuvaikeuksiin.",
      "user_instruction": "Soita tai varaa aika verkossa.",
      "charge_additional_info": "",
      "charge_type": "",
      "requirements": ["Asut kaupungin vuokra-asunnossa."],
      "funding_type": "PubliclyFunded",
      "area_type": "LimitedType",
      "areas": [{"type": "Municipality", "code": "091", "municipalities": [],
                 "name": [{"language": "fi", "value": "Helsinki"},
                          {"language": "sv", "value": "Helsingfors"},
                          {"language": "en", "value": "Helsinki"}]}],
      "responsible_organization": {"id": "0a1b2c3d-0000-4000-8000-000000000001",
                                   "name": "Helsingin kaupunki"},
      "target_groups": ["KR1"],
      "service_collections": [],
      "service_class_uris": ["http://uri.suomi.fi/codelist/ptv/ptvserclass2/code/P1"],
      "service_channels": [
        {"service_channel_id": "c0000000-0000-4000-8000-00000000000a",
         "service_channel_name": "Ajanvaraus",
         "service_channel_type": "EChannel",
         "service_channel_description_summary": "Varaa aika verkossa.",
         "service_channel_description": "",
         "phone_numbers": [],
         "web_pages": [")") +
                     kLinkBase +
                     "c0000000-0000-4000-8000-00000000000a&link_id=0&recommendation_id="
                     "4503599627370497&session_id=s%201%2Fa\", \"" +
                     kLinkBase +
                     "c0000000-0000-4000-8000-00000000000a&link_id=1&recommendation_id="
                     "4503599627370497&session_id=s%201%2Fa\"" + R"(],
         "emails": [], "address": "", "location": "", "service_hours": [],
         "session_transfer": false},
        {"service_channel_id": "c0000000-0000-4000-8000-00000000000b",
         "service_channel_name": "Asumisneuvonnan toimisto",
         "service_channel_type": "ServiceLocation",
         "service_channel_description_summary": "",
         "service_channel_description": "",
         "phone_numbers": ["+358 9 123 4567"],
         "web_pages": [],
         "emails": ["asumisneuvonta@example.fi"],
         "address": "Toinen linja 4 A, 00530, Helsinki",
         "location": "", "service_hours": [], "session_transfer": false}],
      "similarity_score": 0.75,
      "rank": 1
    }]})");
}

TEST_CASE("compat output: one service with every kind of field, golden", "[recommender][compat]") {
  auto empty = testing::Empty();
  empty.index->SetOrganizationName(kOrganization, "Helsingin kaupunki");
  CompatOptions options;
  options.public_url = "https://aurora.example";
  CompatMapper mapper(&testing::Demo().index->codes(), empty.index.get(), options);
  Outcome outcome;
  outcome.recommendation_id = 4503599627370497;  // 2^52 + 1: exact in a double
  RankedService ranked;
  ranked.service = GoldenService();
  ranked.score = 0.75;
  ranked.rank = 1;
  outcome.result.services.push_back(ranked);

  SECTION("Finnish") {
    cv1::RecommendationOutput output;
    mapper.ToOutput(outcome, Language::kFinnish, "s 1/a", &output);
    const json got = Print(output);
    INFO(got.dump(2));
    CHECK(got == GoldenFinnish());
  }
  SECTION("Swedish texts where the service has them, Finnish otherwise; no session") {
    cv1::RecommendationOutput output;
    mapper.ToOutput(outcome, Language::kSwedish, "", &output);
    json expected = GoldenFinnish();
    auto& service = expected["recommended_services"][0];
    service["service_name"] = "Boenderådgivning";
    service["service_description"] = "Boenderådgivaren hjälper när hyran är obetald.";
    for (auto& link : service["service_channels"][0]["web_pages"]) {
      std::string text = link.get<std::string>();
      link = text.substr(0, text.find("&session_id="));
    }
    const json got = Print(output);
    INFO(got.dump(2));
    CHECK(got == expected);
  }
  SECTION("an electronic channel that takes session transfers says so") {
    auto transferring = std::make_shared<dv1::Service>(*GoldenService());
    for (auto& channel : *transferring->mutable_channels()) {
      channel.mutable_session_transfer()->set_client_id("0a1b2c3d-0000-4000-8000-0000000000cc");
      channel.mutable_session_transfer()->add_accepted_attributes("age");
    }
    outcome.result.services[0].service = transferring;
    cv1::RecommendationOutput output;
    mapper.ToOutput(outcome, Language::kFinnish, "s 1/a", &output);
    json expected = GoldenFinnish();
    expected["recommended_services"][0]["service_channels"][0]["session_transfer"] = true;
    // The office channel too declares it, but only an electronic channel can take a person.
    CHECK(Print(output) == expected);
  }
  SECTION("no organisation and no funding type are JSON null") {
    auto bare = std::make_shared<dv1::Service>(*GoldenService());
    bare->clear_organization_id();
    bare->set_funding_type(dv1::FUNDING_TYPE_UNSPECIFIED);
    outcome.result.services[0].service = bare;
    cv1::RecommendationOutput output;
    mapper.ToOutput(outcome, Language::kFinnish, "", &output);
    const json got = Print(output);
    CHECK(got["recommended_services"][0]["responsible_organization"].is_null());
    CHECK(got["recommended_services"][0]["funding_type"].is_null());
  }
}

}  // namespace
}  // namespace aurora::recommender
