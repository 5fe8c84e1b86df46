#include "directory/text_checker.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstddef>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "nlohmann/json.hpp"

namespace {

using aurora::directory::CheckServiceText;
using aurora::directory::v1::Service;
using aurora::directory::v1::ServiceChannel;
using aurora::directory::v1::TextFinding;
namespace v1 = aurora::directory::v1;

// A well-written trilingual service of the City of Helsinki that no rule objects to.
Service CleanService() {
  Service s;
  s.set_kind(v1::SERVICE_KIND_SERVICE);
  s.set_area_type(v1::AREA_TYPE_LIMITED);
  s.add_municipality_codes("091");
  s.add_languages("fi");
  s.add_languages("sv");
  s.add_languages("en");
  s.mutable_name()->set_fi("Asukaspysäköintitunnus");
  s.mutable_name()->set_sv("Boendeparkeringstillstånd");
  s.mutable_name()->set_en("Resident parking permit");
  s.mutable_summary()->set_fi(
      "Alueella asuva voi pysäköidä autonsa edullisesti kotinsa lähelle kadunvarteen.");
  s.mutable_summary()->set_sv("Den som bor i området kan parkera sin bil förmånligt nära hemmet.");
  s.mutable_summary()->set_en("If you live in the area, you can park your car near your home.");
  s.mutable_description()->set_fi(
      "Tunnusta voi hakea, jos asut asukaspysäköintialueella ja auto on omistuksessasi tai "
      "hallinnassasi. Tunnus on voimassa vuoden kerrallaan.\n\nHaku tehdään verkossa.");
  s.mutable_description()->set_sv(
      "Du kan ansöka om tillståndet om du bor i ett område för boendeparkering och äger eller "
      "innehar bilen. Tillståndet gäller ett år i taget.");
  s.mutable_description()->set_en(
      "You can apply for the permit if you live in a resident parking zone and own or hold the "
      "car. The permit is valid for one year at a time.");
  ServiceChannel* web = s.add_channels();
  web->set_type(v1::CHANNEL_TYPE_ELECTRONIC);
  web->mutable_name()->set_fi("Asukaspysäköintitunnuksen haku");
  web->add_urls("https://www.hel.fi/fi/kaupunkiymparisto-ja-liikenne/pysakointi");
  ServiceChannel* phone = s.add_channels();
  phone->set_type(v1::CHANNEL_TYPE_PHONE);
  phone->add_phones("+358 9 310 22111");
  phone->add_emails("pysakointi@hel.fi");
  return s;
}

std::vector<TextFinding> WithCode(const std::vector<TextFinding>& findings,
                                  const std::string& code) {
  std::vector<TextFinding> out;
  for (const TextFinding& f : findings) {
    if (f.code() == code) out.push_back(f);
  }
  return out;
}

std::string Describe(const std::vector<TextFinding>& findings) {
  std::string out;
  for (const TextFinding& f : findings) {
    out += f.field() + " " + f.code() + " " + TextFinding::Severity_Name(f.severity()) + ": " +
           f.message() + "\n";
  }
  return out;
}

// The position of a field path such as "channels[2].urls[0]" in Service, read from the proto
// descriptors: field indexes and element indexes along the path.
std::vector<int> FieldRank(const std::string& path) {
  std::vector<int> rank;
  const google::protobuf::Descriptor* message = Service::descriptor();
  for (size_t pos = 0; pos <= path.size();) {
    size_t end = path.find('.', pos);
    if (end == std::string::npos) end = path.size();
    std::string segment = path.substr(pos, end - pos);
    int index = -1;
    const size_t bracket = segment.find('[');
    if (bracket != std::string::npos) {
      index = std::stoi(segment.substr(bracket + 1));
      segment.resize(bracket);
    }
    const google::protobuf::FieldDescriptor* field =
        message == nullptr ? nullptr : message->FindFieldByName(segment);
    if (field == nullptr) return {-1};
    rank.push_back(field->index());
    if (index >= 0) rank.push_back(index);
    message = field->message_type();
    pos = end + 1;
  }
  return rank;
}

// True if `findings` are ordered by field (in Service order) and then by code.
bool IsOrdered(const std::vector<TextFinding>& findings) {
  for (size_t i = 1; i < findings.size(); ++i) {
    const auto a = std::make_pair(FieldRank(findings[i - 1].field()), findings[i - 1].code());
    const auto b = std::make_pair(FieldRank(findings[i].field()), findings[i].code());
    if (a.first == std::vector<int>{-1} || b < a) return false;
  }
  return true;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// `count` copies of `unit`.
std::string Repeat(const std::string& unit, size_t count) {
  std::string out;
  for (size_t i = 0; i < count; ++i) out += unit;
  return out;
}

// A sentence of `words` words ending in a full stop, starting with `first`.
std::string SentenceOf(size_t words, const std::string& first = "Palvelussa") {
  std::string out = first;
  for (size_t i = 1; i < words; ++i) out += " sana";
  return out + ".";
}

TEST_CASE("a clean service has no findings") {
  const std::vector<TextFinding> findings = CheckServiceText(CleanService());
  INFO(Describe(findings));
  CHECK(findings.empty());
}

TEST_CASE("missing_language: a text missing in a language the service is provided in") {
  Service s = CleanService();
  s.mutable_summary()->clear_sv();
  const std::vector<TextFinding> findings = CheckServiceText(s);
  INFO(Describe(findings));
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].field() == "summary.sv");
  CHECK(findings[0].code() == "missing_language");
  CHECK(findings[0].severity() == TextFinding::SEVERITY_WARNING);
  CHECK(Contains(findings[0].message(), "Swedish"));
  CHECK(Contains(findings[0].message(), "\"sv\""));
  CHECK(Contains(findings[0].message(), "provided in Swedish"));
}

TEST_CASE("missing_language: a nationwide service needs Finnish and Swedish") {
  Service s = CleanService();
  s.clear_languages();
  s.add_languages("fi");
  s.clear_municipality_codes();
  s.set_area_type(v1::AREA_TYPE_NATIONWIDE);
  s.mutable_name()->clear_sv();
  s.mutable_summary()->clear_sv();
  s.mutable_description()->clear_sv();

  std::vector<TextFinding> findings = WithCode(CheckServiceText(s), "missing_language");
  INFO(Describe(findings));
  REQUIRE(findings.size() == 3);
  CHECK(findings[0].field() == "name.sv");
  CHECK(findings[1].field() == "summary.sv");
  CHECK(findings[2].field() == "description.sv");
  for (const TextFinding& f : findings) {
    CHECK(f.severity() == TextFinding::SEVERITY_WARNING);
    CHECK(Contains(f.message(), "nationwide"));
    CHECK(Contains(f.message(), "Swedish"));
  }

  s.set_area_type(v1::AREA_TYPE_NATIONWIDE_EXCEPT_ALAND_ISLANDS);
  CHECK(WithCode(CheckServiceText(s), "missing_language").size() == 3);

  // The same Finnish-only service in one municipality only needs Finnish.
  s.set_area_type(v1::AREA_TYPE_LIMITED);
  s.add_municipality_codes("091");
  CHECK(WithCode(CheckServiceText(s), "missing_language").empty());
}

TEST_CASE("missing_language: a missing English name is advice (INFO)") {
  Service s = CleanService();
  s.clear_languages();
  s.add_languages("fi");
  s.add_languages("sv");
  s.mutable_name()->clear_en();
  s.mutable_summary()->clear_en();
  s.mutable_description()->clear_en();
  std::vector<TextFinding> findings = CheckServiceText(s);
  INFO(Describe(findings));
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].field() == "name.en");
  CHECK(findings[0].code() == "missing_language");
  CHECK(findings[0].severity() == TextFinding::SEVERITY_INFO);
  CHECK(Contains(findings[0].message(), "English"));

  // When the service is provided in English, a missing English name is a warning.
  s.add_languages("en");
  s.mutable_summary()->set_en(CleanService().summary().en());
  s.mutable_description()->set_en(CleanService().description().en());
  findings = CheckServiceText(s);
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].field() == "name.en");
  CHECK(findings[0].severity() == TextFinding::SEVERITY_WARNING);
}

TEST_CASE("empty_text: a language whose text is only white space") {
  Service s = CleanService();
  s.mutable_description()->set_sv(" \n\t\u00a0 ");
  s.add_keywords("  ");
  const std::vector<TextFinding> findings = CheckServiceText(s);
  INFO(Describe(findings));
  REQUIRE(findings.size() == 2);
  CHECK(findings[0].field() == "description.sv");
  CHECK(findings[0].code() == "empty_text");
  CHECK(findings[0].severity() == TextFinding::SEVERITY_WARNING);
  CHECK(Contains(findings[0].message(), "\\x0a"));  // the value, quoted
  CHECK(findings[1].field() == "keywords[0]");
  CHECK(findings[1].code() == "empty_text");
}

TEST_CASE("summary_too_long counts code points, not bytes") {
  // "ä" is two bytes in UTF-8: 150 code points are 225 bytes here.
  const std::string at_limit = Repeat("ä", 75) + Repeat("a", 75);
  REQUIRE(at_limit.size() == 225);
  Service s = CleanService();
  s.mutable_summary()->set_fi(at_limit);
  CHECK(WithCode(CheckServiceText(s), "summary_too_long").empty());

  s.mutable_summary()->set_fi(at_limit + "ö");
  const std::vector<TextFinding> findings = WithCode(CheckServiceText(s), "summary_too_long");
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].field() == "summary.fi");
  CHECK(findings[0].severity() == TextFinding::SEVERITY_WARNING);
  CHECK(Contains(findings[0].message(), "151 characters"));
  CHECK(Contains(findings[0].message(), "\"ääää"));
}

TEST_CASE("name_in_summary: the summary starts with or repeats the name, in any case") {
  Service s = CleanService();
  s.mutable_name()->set_fi("Äitiysneuvola");
  SECTION("starts with, upper case with Ä") {
    s.mutable_summary()->set_fi("ÄITIYSNEUVOLA seuraa raskauden kulkua ja tukee perhettä.");
    const std::vector<TextFinding> findings = WithCode(CheckServiceText(s), "name_in_summary");
    REQUIRE(findings.size() == 1);
    CHECK(findings[0].field() == "summary.fi");
    CHECK(findings[0].severity() == TextFinding::SEVERITY_WARNING);
    CHECK(Contains(findings[0].message(), "starts with"));
    CHECK(Contains(findings[0].message(), "\"Äitiysneuvola\""));
  }
  SECTION("repeats, inflected, at the start of a word") {
    s.mutable_summary()->set_fi("Raskauden aikana äitiysneuvolassa seurataan terveyttäsi.");
    const std::vector<TextFinding> findings = WithCode(CheckServiceText(s), "name_in_summary");
    REQUIRE(findings.size() == 1);
    CHECK(Contains(findings[0].message(), "repeats"));
  }
  SECTION("inside another word is not a repetition") {
    s.mutable_summary()->set_fi("Raskauden aikana kunnanäitiysneuvolassa seurataan terveyttäsi.");
    CHECK(WithCode(CheckServiceText(s), "name_in_summary").empty());
  }
  SECTION("Swedish å and Ö fold too") {
    s.mutable_name()->set_sv("Öppen förskola för små barn");
    s.mutable_summary()->set_sv("ÖPPEN FÖRSKOLA FÖR SMÅ BARN ordnar verksamhet för familjer.");
    const std::vector<TextFinding> findings = WithCode(CheckServiceText(s), "name_in_summary");
    REQUIRE(findings.size() == 1);
    CHECK(findings[0].field() == "summary.sv");
  }
}

TEST_CASE("summary_same_as_description") {
  Service s = CleanService();
  s.mutable_description()->set_en("  " + s.summary().en() + "\n");
  const std::vector<TextFinding> findings = CheckServiceText(s);
  INFO(Describe(findings));
  const std::vector<TextFinding> same = WithCode(findings, "summary_same_as_description");
  REQUIRE(same.size() == 1);
  CHECK(same[0].field() == "description.en");
  CHECK(same[0].severity() == TextFinding::SEVERITY_WARNING);
  CHECK(Contains(same[0].message(), "If you live in the area"));
}

TEST_CASE("long_sentence: more than 25 words is INFO, more than 40 a WARNING") {
  Service s = CleanService();
  SECTION("25 words is fine") {
    s.mutable_description()->set_fi(SentenceOf(25) + " " + SentenceOf(10, "Toinen"));
    CHECK(WithCode(CheckServiceText(s), "long_sentence").empty());
  }
  SECTION("26 words") {
    s.mutable_description()->set_fi(SentenceOf(5, "Lyhyt") + " " + SentenceOf(26, "Pitkä"));
    const std::vector<TextFinding> findings = WithCode(CheckServiceText(s), "long_sentence");
    REQUIRE(findings.size() == 1);
    CHECK(findings[0].field() == "description.fi");
    CHECK(findings[0].severity() == TextFinding::SEVERITY_INFO);
    CHECK(Contains(findings[0].message(), "26 words"));
    CHECK(Contains(findings[0].message(), "\"Pitkä sana"));
  }
  SECTION("41 words, in the summary and the user instruction too") {
    s.mutable_summary()->set_sv(SentenceOf(41, "Lång"));
    s.mutable_user_instruction()->set_en(SentenceOf(30, "Long") + "\n" + SentenceOf(45, "Longer"));
    const std::vector<TextFinding> findings = WithCode(CheckServiceText(s), "long_sentence");
    REQUIRE(findings.size() == 2);
    CHECK(findings[0].field() == "summary.sv");
    CHECK(findings[0].severity() == TextFinding::SEVERITY_WARNING);
    CHECK(Contains(findings[0].message(), "41 words"));
    CHECK(findings[1].field() == "user_instruction.en");
    CHECK(findings[1].severity() == TextFinding::SEVERITY_WARNING);
    CHECK(Contains(findings[1].message(), "2 sentences"));
    CHECK(Contains(findings[1].message(), "45 words"));
    CHECK(Contains(findings[1].message(), "\"Longer sana"));
  }
  SECTION("an abbreviation followed by a lower-case word does not end the sentence") {
    s.mutable_description()->set_fi(SentenceOf(14, "Esimerkiksi") + " esim. " +
                                    SentenceOf(14, "kunta"));
    const std::vector<TextFinding> findings = WithCode(CheckServiceText(s), "long_sentence");
    REQUIRE(findings.size() == 1);
    CHECK(Contains(findings[0].message(), "29 words"));
  }
  SECTION("a full stop followed by a capital letter ends it; dashes are not words") {
    s.mutable_description()->set_fi(SentenceOf(20) + " " + SentenceOf(20, "Toinen") + " – – –");
    CHECK(WithCode(CheckServiceText(s), "long_sentence").empty());
  }
}

TEST_CASE("no_channels for services but not for general descriptions") {
  Service s = CleanService();
  s.clear_channels();
  std::vector<TextFinding> findings = CheckServiceText(s);
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].field() == "channels");
  CHECK(findings[0].code() == "no_channels");
  CHECK(findings[0].severity() == TextFinding::SEVERITY_WARNING);

  s.set_kind(v1::SERVICE_KIND_UNSPECIFIED);
  CHECK(WithCode(CheckServiceText(s), "no_channels").size() == 1);

  s.set_kind(v1::SERVICE_KIND_GENERAL_DESCRIPTION);
  CHECK(CheckServiceText(s).empty());
}

TEST_CASE("malformed_url and insecure_url") {
  const std::vector<std::pair<std::string, std::string>> malformed = {
      {"", "is empty"},
      {"www.hel.fi", "not an absolute URL"},
      {"hel.fi/asuminen", "not an absolute URL"},
      {"mailto:info@hel.fi", "scheme \"mailto\""},
      {"ftp://ftp.funet.fi/pub", "scheme \"ftp\""},
      {"https://", "no host name"},
      {"https:/www.hel.fi", "no \"//\""},
      {"http://www.wasacitybus/sv/", "\"wasacitybus\""},
      {"https://localhost/palvelu", "no top-level domain"},
      {"https://sveps.fi/kontakt (in Swedish)", "white space"},
      {"http://www.loytoelaintalo.fi ", "at the start or end"},
      {"https://www..hel.fi/", "empty label"},
      {"https://-hel.fi/", "hyphen"},
      {"https://hel_fi.fi/", "character \"_\""},
      {"https://user@hel.fi/", "user information"},
      {"https://www.hel.fi:99999/", "port \"99999\""},
      {"https://www.hel.fi\\asuminen", "backslash"},
      {"https://300.1.2.3/", "IP address"},
  };
  for (const auto& [url, reason] : malformed) {
    Service s = CleanService();
    s.mutable_channels(0)->add_urls(url);
    const std::vector<TextFinding> findings = CheckServiceText(s);
    INFO(url << "\n" << Describe(findings));
    REQUIRE(findings.size() == 1);
    CHECK(findings[0].field() == "channels[0].urls[1]");
    CHECK(findings[0].code() == "malformed_url");
    CHECK(findings[0].severity() == TextFinding::SEVERITY_ERROR);
    CHECK(Contains(findings[0].message(), reason));
    if (!url.empty() && url.find(' ') == std::string::npos) {
      CHECK(Contains(findings[0].message(), "\"" + url.substr(0, 12)));
    }
  }

  const std::vector<std::string> fine = {
      "https://www.suomi.fi/palvelut/",
      "HTTPS://WWW.KELA.FI",
      "https://www.hel.fi:443/fi?lang=fi#sisalto",
      "https://www.sähköwaasa.fi/go/",
      "https://xn--shkwaasa-5zab.fi/",
      "https://europa.eu/youreurope",
      "https://www.otavanopisto.info/",
      "https://10.1.2.3/intra",
  };
  for (const std::string& url : fine) {
    Service s = CleanService();
    s.mutable_channels(0)->add_urls(url);
    INFO(url);
    CHECK(CheckServiceText(s).empty());
  }

  Service s = CleanService();
  s.mutable_channels(1)->add_urls("http://www.naantali.fi/museo");
  const std::vector<TextFinding> findings = CheckServiceText(s);
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].field() == "channels[1].urls[0]");
  CHECK(findings[0].code() == "insecure_url");
  CHECK(findings[0].severity() == TextFinding::SEVERITY_INFO);
  CHECK(Contains(findings[0].message(), "\"http://www.naantali.fi/museo\""));
}

TEST_CASE("malformed_email") {
  const std::vector<std::pair<std::string, std::string>> malformed = {
      {"", "is empty"},
      {"kirjaamo.hel.fi", "no \"@\""},
      {"kirjaamo@@hel.fi", "more than one \"@\""},
      {"@hel.fi", "nothing before"},
      {"mailto:kirjaamo@hel.fi", "mailto:"},
      {"kirjaamo @hel.fi", "white space"},
      {"kirjaamo@hel", "no top-level domain"},
      {"kirjaamo@hel.fi.", "empty label"},
      {".kirjaamo@hel.fi", "misplaced dot"},
      {"etu..suku@hel.fi", "misplaced dot"},
      {"päivi.virtanen@hel.fi", "non-ASCII"},
      {"kirjaamo(at)hel.fi", "no \"@\""},
      {"etu,suku@hel.fi", "character \",\""},
  };
  for (const auto& [email, reason] : malformed) {
    Service s = CleanService();
    s.mutable_channels(1)->add_emails(email);
    const std::vector<TextFinding> findings = CheckServiceText(s);
    INFO(email << "\n" << Describe(findings));
    REQUIRE(findings.size() == 1);
    CHECK(findings[0].field() == "channels[1].emails[1]");
    CHECK(findings[0].code() == "malformed_email");
    CHECK(findings[0].severity() == TextFinding::SEVERITY_ERROR);
    CHECK(Contains(findings[0].message(), reason));
    CHECK(Contains(findings[0].message(), "\"" + email.substr(0, 8)));
  }
  for (const std::string email :
       {"kirjaamo@hel.fi", "etunimi.sukunimi+palaute@vrk.fi", "Info@Vaasa.FI", "arbis@vasa.fi"}) {
    Service s = CleanService();
    s.mutable_channels(1)->add_emails(email);
    INFO(email);
    CHECK(CheckServiceText(s).empty());
  }
}

TEST_CASE("malformed_phone accepts Finnish formats and rejects the rest") {
  const std::vector<std::string> fine = {
      "+358 9 310 1691",
      "09 310 1691",
      "(09) 3101 691",
      "0295 000",
      "029500",
      "+358931011111",
      "+358\u202f9\u202f310\u202f23100",
      "040\u202f664 0082",
      "040-123 4567",
      "09/310 1691",
      "+358 (0)9 310 1691",
      "+358 40 503 9172",
      "0600 97411",
      "116 117",
      "112",
      "Vaihde: 09 310 1691",
      "puh. 040 198 0778",
      "+46 8 123 456 78",
      "0046 8 123 456 78",
  };
  for (const std::string& phone : fine) {
    Service s = CleanService();
    s.mutable_channels(1)->add_phones(phone);
    INFO(phone << "\n" << Describe(CheckServiceText(s)));
    CHECK(CheckServiceText(s).empty());
  }

  const std::vector<std::pair<std::string, std::string>> malformed = {
      {"000", "3 digits"},
      {"+358 6478", "4 digits after the country code"},
      {"+358 0401690799", "trunk prefix 0"},
      {"400983993", "neither an area code nor a country code"},
      {"111015 194 3392", "not a short number"},
      {"+358 9 310 111 11, +358 40 922 5126", "more than one number"},
      {"09 310 1691 tai 09 310 1692", "character \"t\""},
      {"Soita meille numeroon joka löytyy verkkosivuilta: 09 310 1691", "not a label"},
      {"puhelin", "no digits"},
      {"", "is empty"},
      {"09 (310) (1691)", "more than one pair"},
      {"(09 310 1691", "without \")\""},
      {"09) 310 1691", "without \"(\""},
      {"(0 9) 310 1691", "other than digits"},
      {"09 310+1691", "not at the start"},
      {"+0 9 310 1691", "no country code"},
      {"+1 234", "international numbers have 7 to 15"},
  };
  for (const auto& [phone, reason] : malformed) {
    Service s = CleanService();
    s.mutable_channels(1)->add_phones(phone);
    const std::vector<TextFinding> findings = CheckServiceText(s);
    INFO(phone << "\n" << Describe(findings));
    REQUIRE(findings.size() == 1);
    CHECK(findings[0].field() == "channels[1].phones[1]");
    CHECK(findings[0].code() == "malformed_phone");
    CHECK(findings[0].severity() == TextFinding::SEVERITY_ERROR);
    CHECK(Contains(findings[0].message(), reason));
    CHECK(Contains(findings[0].message(), "\"" + phone.substr(0, 5)));
  }
}

TEST_CASE("description_too_short") {
  Service s = CleanService();
  s.mutable_description()->set_fi("  Haku tehdään verkossa.  ");
  const std::vector<TextFinding> findings = CheckServiceText(s);
  INFO(Describe(findings));
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].field() == "description.fi");
  CHECK(findings[0].code() == "description_too_short");
  CHECK(findings[0].severity() == TextFinding::SEVERITY_INFO);
  CHECK(Contains(findings[0].message(), "22 characters"));
  CHECK(Contains(findings[0].message(), "Haku tehdään verkossa."));

  // 50 code points (with ä's, so more bytes) is long enough.
  s.mutable_description()->set_fi(Repeat("ä", 25) + Repeat("a", 25));
  CHECK(WithCode(CheckServiceText(s), "description_too_short").empty());
}

TEST_CASE("url_in_text, name_all_caps, invalid_utf8 and no_languages") {
  Service s = CleanService();
  s.mutable_summary()->set_fi("Lisätietoja osoitteessa www.hel.fi/pysakointi.");
  s.mutable_requirements()->set_en("See (https://www.hel.fi/en/parking) for the zones.");
  s.mutable_name()->set_fi("ASUKASPYSÄKÖINTITUNNUS");
  s.mutable_user_instruction()->set_sv("Ans\xf6k");
  s.clear_languages();
  const std::vector<TextFinding> findings = CheckServiceText(s);
  INFO(Describe(findings));
  REQUIRE(findings.size() == 5);
  CHECK(findings[0].field() == "name.fi");
  CHECK(findings[0].code() == "name_all_caps");
  CHECK(findings[0].severity() == TextFinding::SEVERITY_INFO);
  CHECK(Contains(findings[0].message(), "\"ASUKASPYSÄKÖINTITUNNUS\""));
  CHECK(findings[1].field() == "summary.fi");
  CHECK(findings[1].code() == "url_in_text");
  CHECK(findings[1].severity() == TextFinding::SEVERITY_INFO);
  CHECK(Contains(findings[1].message(), "\"www.hel.fi/pysakointi\""));
  CHECK(findings[2].field() == "user_instruction.sv");
  CHECK(findings[2].code() == "invalid_utf8");
  CHECK(findings[2].severity() == TextFinding::SEVERITY_ERROR);
  CHECK(Contains(findings[2].message(), "\"Ans\\xf6k\""));
  CHECK(findings[3].field() == "requirements.en");
  CHECK(findings[3].code() == "url_in_text");
  CHECK(Contains(findings[3].message(), "\"https://www.hel.fi/en/parking\""));
  CHECK(findings[4].field() == "languages");
  CHECK(findings[4].code() == "no_languages");
  CHECK(findings[4].severity() == TextFinding::SEVERITY_WARNING);

  // Short acronyms are not shouting.
  s = CleanService();
  s.mutable_name()->set_en("HSL");
  CHECK(CheckServiceText(s).empty());
}

TEST_CASE("findings are ordered by field in Service order, then by code") {
  Service s = CleanService();
  // Added out of field order on purpose.
  s.mutable_channels(1)->add_phones("000");            // channels[1].phones[1] malformed_phone
  s.mutable_channels(1)->add_emails("x");              // channels[1].emails[1] malformed_email
  s.mutable_channels(0)->add_urls("http://a.fi");      // channels[0].urls[1] insecure_url
  s.mutable_channels(0)->add_urls("b");                // channels[0].urls[2] malformed_url
  s.mutable_channels(1)->mutable_name()->set_sv(" ");  // channels[1].name.sv empty_text
  s.mutable_summary()->set_en(SentenceOf(30, "Resident") + " Resident parking permit.");
  s.mutable_description()->set_en(s.summary().en());    // description.en: two codes
  s.mutable_name()->set_en("RESIDENT PARKING PERMIT");  // name.en name_all_caps
  s.mutable_name()->set_fi(" ");                        // name.fi empty_text
  s.clear_languages();                                  // languages no_languages
  s.add_keywords("\t");                                 // keywords[0] empty_text

  const std::vector<TextFinding> findings = CheckServiceText(s);
  INFO(Describe(findings));
  std::vector<std::pair<std::string, std::string>> got;
  for (const TextFinding& f : findings) got.emplace_back(f.field(), f.code());
  const std::vector<std::pair<std::string, std::string>> want = {
      {"name.fi", "empty_text"},
      {"name.en", "name_all_caps"},
      {"summary.en", "long_sentence"},
      {"summary.en", "name_in_summary"},
      {"summary.en", "summary_too_long"},
      {"description.en", "long_sentence"},
      {"description.en", "summary_same_as_description"},
      {"keywords[0]", "empty_text"},
      {"channels[0].urls[1]", "insecure_url"},
      {"channels[0].urls[2]", "malformed_url"},
      {"channels[1].name.sv", "empty_text"},
      {"channels[1].phones[1]", "malformed_phone"},
      {"channels[1].emails[1]", "malformed_email"},
      {"languages", "no_languages"},
  };
  CHECK(got == want);
  CHECK(IsOrdered(findings));
  std::vector<TextFinding> reversed(findings.rbegin(), findings.rend());
  CHECK_FALSE(IsOrdered(reversed));
}

// ---------------------------------------------------------------------------------------------
// The real catalogue

std::string JsonText(const nlohmann::json& object, const char* language) {
  if (!object.is_object() || !object.contains(language) || !object[language].is_string()) {
    return "";
  }
  return object[language].get<std::string>();
}

void SetLocalized(const nlohmann::json& object, aurora::common::v1::LocalizedText* text) {
  text->set_fi(JsonText(object, "fi"));
  text->set_sv(JsonText(object, "sv"));
  text->set_en(JsonText(object, "en"));
}

Service FromRecord(const nlohmann::json& r) {
  Service s;
  s.set_id(r.value("id", ""));
  s.set_kind(r["kind"] == "general_description" ? v1::SERVICE_KIND_GENERAL_DESCRIPTION
                                                : v1::SERVICE_KIND_SERVICE);
  const std::string area = r["area_type"].is_string() ? r["area_type"].get<std::string>() : "";
  s.set_area_type(area == "Nationwide" ? v1::AREA_TYPE_NATIONWIDE
                  : area == "NationwideExceptAlandIslands"
                      ? v1::AREA_TYPE_NATIONWIDE_EXCEPT_ALAND_ISLANDS
                      : v1::AREA_TYPE_LIMITED);
  SetLocalized(r["names"], s.mutable_name());
  SetLocalized(r["alternative_names"], s.mutable_alternative_name());
  SetLocalized(r["summary"], s.mutable_summary());
  SetLocalized(r["description"], s.mutable_description());
  SetLocalized(r["user_instruction"], s.mutable_user_instruction());
  SetLocalized(r["requirements"], s.mutable_requirements());
  for (const auto& language : r["languages"]) s.add_languages(language.get<std::string>());
  for (const auto& c : r["channels"]) {
    ServiceChannel* channel = s.add_channels();
    SetLocalized(c["name"], channel->mutable_name());
    SetLocalized(c["summary"], channel->mutable_summary());
    for (const auto& url : c["urls"]) channel->add_urls(url.get<std::string>());
    for (const auto& phone : c["phones"]) channel->add_phones(phone.get<std::string>());
    for (const auto& email : c["emails"]) channel->add_emails(email.get<std::string>());
  }
  return s;
}

// Code points of valid UTF-8: the bytes that do not continue a sequence.
size_t CodePoints(const std::string& text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

// The value a contact-detail finding points at, e.g. "channels[2].urls[0]", or "" if the path
// does not name one.
std::string ChannelValue(const Service& service, const std::string& field) {
  int channel = -1, item = -1;
  char list[16] = {};
  if (std::sscanf(field.c_str(), "channels[%d].%15[a-z][%d]", &channel, list, &item) != 3 ||
      channel < 0 || channel >= service.channels_size() || item < 0) {
    return "";
  }
  const ServiceChannel& c = service.channels(channel);
  const std::string name = list;
  if (name == "urls" && item < c.urls_size()) return c.urls(item);
  if (name == "phones" && item < c.phones_size()) return c.phones(item);
  if (name == "emails" && item < c.emails_size()) return c.emails(item);
  return "";
}

TEST_CASE("the real catalogue: findings agree with independent counts and are not noisy") {
  std::ifstream in(std::string(AURORA_DATA_DIR) + "/services.ndjson");
  REQUIRE(in.good());
  std::vector<nlohmann::json> records;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) records.push_back(nlohmann::json::parse(line));
  }
  REQUIRE(records.size() == 3088);

  const std::set<std::string> known_codes = {"description_too_short", "empty_text",
                                             "insecure_url",          "invalid_utf8",
                                             "long_sentence",         "malformed_email",
                                             "malformed_phone",       "malformed_url",
                                             "missing_language",      "name_all_caps",
                                             "name_in_summary",       "no_channels",
                                             "no_languages",          "summary_same_as_description",
                                             "summary_too_long",      "url_in_text"};
  std::map<std::string, size_t> by_code, services_by_code;
  std::map<std::string, size_t> warnings_by_code;
  size_t unknown_codes = 0, unordered = 0, max_findings = 0, unquoted_values = 0;
  size_t missing_warnings = 0, missing_english_name_infos = 0;
  std::set<std::string> flagged_phones, flagged_urls;
  size_t malformed_http_urls = 0;
  // Independent expectations, from the raw records.
  size_t long_summary_services = 0, long_summary_values = 0, services_without_channels = 0;
  size_t expected_missing_warnings = 0, expected_missing_english_names = 0;
  size_t phones = 0, emails = 0, urls = 0, http_urls = 0;

  for (const nlohmann::json& r : records) {
    const Service service = FromRecord(r);
    const std::vector<TextFinding> findings = CheckServiceText(service);
    unordered += IsOrdered(findings) ? 0 : 1;
    max_findings = std::max(max_findings, findings.size());
    std::set<std::string> codes;
    for (const TextFinding& f : findings) {
      ++by_code[f.code()];
      codes.insert(f.code());
      unknown_codes += known_codes.count(f.code()) == 1 ? 0 : 1;
      if (f.severity() == TextFinding::SEVERITY_WARNING) ++warnings_by_code[f.code()];
      if (f.code() == "missing_language") {
        if (f.severity() == TextFinding::SEVERITY_WARNING) ++missing_warnings;
        if (f.severity() == TextFinding::SEVERITY_INFO && f.field() == "name.en") {
          ++missing_english_name_infos;
        }
      }
      if (f.code().rfind("malformed_", 0) == 0 || f.code() == "insecure_url") {
        const std::string value = ChannelValue(service, f.field());
        unquoted_values += Contains(f.message(), "\"" + value.substr(0, 40)) ? 0 : 1;
        if (f.code() == "malformed_phone") flagged_phones.insert(value);
        if (f.code() == "malformed_url") {
          flagged_urls.insert(value);
          malformed_http_urls += value.rfind("http://", 0) == 0 ? 1 : 0;
        }
      }
    }
    for (const std::string& code : codes) ++services_by_code[code];

    bool long_summary = false;
    for (const auto& [language, text] : r["summary"].items()) {
      const bool too_long = CodePoints(text.get<std::string>()) > 150;
      long_summary_values += too_long ? 1 : 0;
      long_summary = long_summary || too_long;
    }
    long_summary_services += long_summary ? 1 : 0;
    services_without_channels += (r["kind"] == "service" && r["channels"].empty()) ? 1 : 0;
    const bool nationwide = r["area_type"] == "Nationwide";
    const auto provided = [&r](const char* language) {
      return std::find(r["languages"].begin(), r["languages"].end(), language) !=
             r["languages"].end();
    };
    for (const char* field : {"names", "summary", "description"}) {
      for (const char* language : {"fi", "sv", "en"}) {
        const bool required = provided(language) || (nationwide && std::string(language) != "en");
        expected_missing_warnings += (required && JsonText(r[field], language).empty()) ? 1 : 0;
      }
    }
    expected_missing_english_names +=
        (!provided("en") && JsonText(r["names"], "en").empty()) ? 1 : 0;
    for (const auto& c : r["channels"]) {
      phones += c["phones"].size();
      emails += c["emails"].size();
      urls += c["urls"].size();
      for (const auto& url : c["urls"]) {
        http_urls += url.get<std::string>().rfind("http://", 0) == 0 ? 1 : 0;
      }
    }
  }

  std::string report;
  for (const auto& [code, count] : by_code) {
    report += code + ": " + std::to_string(count) + " findings (" +
              std::to_string(warnings_by_code[code]) + " warnings) in " +
              std::to_string(services_by_code[code]) + " services\n";
  }
  report += "at most " + std::to_string(max_findings) + " findings per service";
  INFO(report);

  // Every finding is well-formed, and every list is in the documented order.
  CHECK(unknown_codes == 0);
  CHECK(unordered == 0);
  CHECK(unquoted_values == 0);
  CHECK(by_code["invalid_utf8"] == 0);

  // Rules with an exact definition agree with counts made here from the raw records.
  CHECK(long_summary_services == 251);
  CHECK(services_by_code["summary_too_long"] == long_summary_services);
  CHECK(by_code["summary_too_long"] == long_summary_values);
  CHECK(services_without_channels == 1925);
  CHECK(by_code["no_channels"] == services_without_channels);
  CHECK(missing_warnings == expected_missing_warnings);
  CHECK(missing_english_name_infos == expected_missing_english_names);

  // Contact details: the real data mostly passes; what is flagged was reviewed by hand.
  CHECK(phones == 1596);
  CHECK(by_code["malformed_phone"] * 100 < phones * 4);  // 50 of 1596 (3.1 %)
  const std::set<std::string> bad_phones = {"+358 0401690799",
                                            "+358 0405738544",
                                            "+358 0406593148",
                                            "+358 063253533",
                                            "+358 063253562",
                                            "+358 063253571",
                                            "+358 063253575",
                                            "+358 063253580",
                                            "+358 063258475",
                                            "+358 063258477",
                                            "+358 6478",
                                            "+358 9 310 111 11, +358 40 922 5126",
                                            "000",
                                            "111015 194 3392",
                                            "111040 129 4146",
                                            "111044 794 2772",
                                            "111044 794 3170",
                                            "111044 794 3401",
                                            "111044 794 5504",
                                            "111050 311 7525",
                                            "400983993",
                                            "401374618",
                                            "401684939",
                                            "504141191",
                                            "63251618",
                                            "63252822",
                                            "63254034"};
  CHECK(flagged_phones == bad_phones);
  CHECK(emails == 520);
  CHECK(by_code["malformed_email"] == 0);
  CHECK(urls == 4451);
  const std::set<std::string> bad_urls = {
      "http://www.hel.fi/static/sote/kouluterveydenhuolto/lomakkeita/"
      "tekoul-35-7-9-10-luokka-kysely-huoltaja.doc ",
      "http://www.loytoelaintalo.fi ", "http://www.wasacitybus/sv/",
      "https://sveps.fi/kontakt (in Swedish)"};
  CHECK(flagged_urls == bad_urls);
  CHECK(by_code["malformed_url"] == 5);
  CHECK(by_code["insecure_url"] + malformed_http_urls == http_urls);

  // Heuristic rules: measured counts, with room for small changes but not for a rule that stops
  // firing or starts firing everywhere.
  CHECK(services_by_code["long_sentence"] >= 450);
  CHECK(services_by_code["long_sentence"] <= 650);  // 561 measured
  CHECK(warnings_by_code["long_sentence"] <= 100);  // 79 sentences over 40 words
  CHECK(services_by_code["name_in_summary"] >= 600);
  CHECK(services_by_code["name_in_summary"] <= 850);             // 729 measured
  CHECK(services_by_code["summary_same_as_description"] <= 40);  // 27 measured
  CHECK(services_by_code["url_in_text"] <= 40);                  // 29 measured
  CHECK(by_code["description_too_short"] <= 20);                 // 10 measured
  CHECK(by_code["empty_text"] == 0);
  CHECK(by_code["name_all_caps"] <= 10);
  CHECK(max_findings <= 40);
}
}  // namespace

TEST_CASE("malformed_postal_code: a postal code that is not 5 digits", "[text_checker]") {
  v1::Service service;
  service.mutable_name()->set_fi("Neuvola");
  auto* channel = service.add_channels();
  channel->add_addresses()->set_postal_code("00100");
  channel->add_addresses()->set_postal_code("PL 58235, 00099");
  channel->add_addresses();  // empty: not reported
  int found = 0;
  for (const auto& f : aurora::directory::CheckServiceText(service)) {
    if (f.code() != "malformed_postal_code") continue;
    ++found;
    CHECK(f.field() == "channels[0].addresses[1].postal_code");
    CHECK(f.severity() == v1::TextFinding::SEVERITY_ERROR);
    CHECK_THAT(f.message(), Catch::Contains("\"PL 58235, 00099\""));
  }
  CHECK(found == 1);
}
