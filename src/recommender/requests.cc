#include "recommender/requests.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <openssl/sha.h>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/text.h"

namespace aurora::recommender {
namespace {

namespace v1 = aurora::recommender::v1;
namespace dv1 = aurora::directory::v1;

absl::Status Invalid(const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

absl::Status ValidateCodes(const google::protobuf::RepeatedPtrField<std::string>& values,
                           const std::string& field, const CodeLists& codes, CodeKind kind,
                           const char* what) {
  for (int i = 0; i < values.size(); ++i) {
    if (codes.Find(kind, values[i]) == nullptr) {
      return Invalid(absl::StrCat(field, "[", i, "]"),
                     absl::StrCat("unknown ", what, " ", QuoteForMessage(values[i])));
    }
  }
  return absl::OkStatus();
}

std::string Fingerprint(const google::protobuf::Message& request) {
  std::unique_ptr<google::protobuf::Message> copy(request.New());
  copy->CopyFrom(request);
  const auto* descriptor = copy->GetDescriptor();
  for (const char* name : {"page_token", "limit", "session_id"}) {
    if (const auto* field = descriptor->FindFieldByName(name)) {
      copy->GetReflection()->ClearField(copy.get(), field);
    }
  }
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    copy->SerializeToCodedStream(&coded);
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), 8));
}

}  // namespace

absl::Status ValidateAnswers(const aurora::common::v1::LifeSituationAnswers& answers,
                             const std::string& field) {
  for (int k = 0; k < kLifeAreaCount; ++k) {
    const auto& values = MeterAnswers(answers, k);
    if (values.size() > 100) {
      return Invalid(absl::StrCat(field, ".", Sv(LifeAreaKey(k))),
                     absl::StrCat("at most 100 answers, got ", values.size()));
    }
    for (int i = 0; i < values.size(); ++i) {
      if (values[i] < 0 || values[i] > 10) {
        return Invalid(absl::StrCat(field, ".", Sv(LifeAreaKey(k)), "[", i, "]"),
                       absl::StrCat("must be an integer 0..10, got ", values[i]));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateMunicipality(const std::string& code, const std::string& field,
                                  const CodeLists& codes) {
  if (!code.empty() && codes.FindMunicipality(code) == nullptr) {
    return Invalid(field, absl::StrCat("unknown municipality code ", QuoteForMessage(code)));
  }
  return absl::OkStatus();
}

absl::Status ValidateAreaFilter(const aurora::common::v1::AreaFilter& area,
                                const std::string& field, const CodeLists& codes) {
  for (int i = 0; i < area.municipality_codes_size(); ++i) {
    if (auto s = ValidateMunicipality(area.municipality_codes(i),
                                      absl::StrCat(field, ".municipality_codes[", i, "]"), codes);
        !s.ok() || area.municipality_codes(i).empty()) {
      return s.ok() ? Invalid(absl::StrCat(field, ".municipality_codes[", i, "]"),
                              "empty municipality code")
                    : s;
    }
  }
  auto check = [&](const auto& list, const char* name, auto find) -> absl::Status {
    for (int i = 0; i < list.size(); ++i) {
      if (find(list[i]) == nullptr) {
        return Invalid(absl::StrCat(field, ".", name, "[", i, "]"),
                       absl::StrCat("unknown code ", QuoteForMessage(list[i])));
      }
    }
    return absl::OkStatus();
  };
  if (auto s = check(area.region_codes(), "region_codes",
                     [&](const std::string& c) { return codes.FindRegion(c); });
      !s.ok()) {
    return s;
  }
  if (auto s = check(area.hospital_district_codes(), "hospital_district_codes",
                     [&](const std::string& c) { return codes.FindHospitalDistrict(c); });
      !s.ok()) {
    return s;
  }
  if (auto s = check(area.wellbeing_service_county_codes(), "wellbeing_service_county_codes",
                     [&](const std::string& c) { return codes.FindWellbeingCounty(c); });
      !s.ok()) {
    return s;
  }
  if (area.only_national_services()) {
    if (!area.municipality_codes().empty() || !area.region_codes().empty() ||
        !area.hospital_district_codes().empty() || !area.wellbeing_service_county_codes().empty()) {
      return Invalid(absl::StrCat(field, ".only_national_services"),
                     "cannot be combined with area codes");
    }
    if (area.has_include_national_services() && !area.include_national_services()) {
      return Invalid(absl::StrCat(field, ".only_national_services"),
                     "cannot be combined with include_national_services=false");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateFilters(const v1::ServiceFilters& filters, const std::string& field,
                             const CodeLists& codes) {
  if (filters.has_area()) {
    if (auto s = ValidateAreaFilter(filters.area(), absl::StrCat(field, ".area"), codes); !s.ok()) {
      return s;
    }
  }
  if (auto s = ValidateCodes(filters.service_classes(), absl::StrCat(field, ".service_classes"),
                             codes, CodeKind::kServiceClass, "service class");
      !s.ok()) {
    return s;
  }
  if (auto s = ValidateCodes(filters.target_groups(), absl::StrCat(field, ".target_groups"), codes,
                             CodeKind::kTargetGroup, "target group");
      !s.ok()) {
    return s;
  }
  if (auto s = ValidateCodes(filters.life_events(), absl::StrCat(field, ".life_events"), codes,
                             CodeKind::kLifeEvent, "life event");
      !s.ok()) {
    return s;
  }
  for (int i = 0; i < filters.funding_types_size(); ++i) {
    const int f = filters.funding_types(i);
    if (f == dv1::FUNDING_TYPE_UNSPECIFIED || !dv1::FundingType_IsValid(f)) {
      return Invalid(absl::StrCat(field, ".funding_types[", i, "]"),
                     absl::StrCat("must be PUBLICLY_FUNDED or MARKET_FUNDED, got ", f));
    }
  }
  if (!v1::GeneralDescriptions_IsValid(filters.general_descriptions())) {
    return Invalid(absl::StrCat(field, ".general_descriptions"),
                   absl::StrCat("must be STAND_IN, EXCLUDE or INCLUDE, got ",
                                filters.general_descriptions()));
  }
  for (int i = 0; i < filters.organization_ids_size(); ++i) {
    if (!IsCanonicalUuid(filters.organization_ids(i))) {
      return Invalid(absl::StrCat(field, ".organization_ids[", i, "]"),
                     absl::StrCat("not a canonical UUID: ",
                                  QuoteForMessage(filters.organization_ids(i))));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateAge(int age, const std::string& field) {
  if (age < 0 || age > 200) {
    return Invalid(field, absl::StrCat("must be 0..200, got ", age));
  }
  return absl::OkStatus();
}

absl::Status ValidateText(const std::string& text, const std::string& field, bool required) {
  const auto length = Utf8Length(text);
  if (!length.has_value()) return Invalid(field, "not valid UTF-8");
  if (required && text.find_first_not_of(" \t\r\n") == std::string::npos) {
    return Invalid(field, "required (1..1024 characters)");
  }
  if (*length > kMaxTextLength) {
    return Invalid(field, absl::StrCat("at most ", kMaxTextLength, " characters, got ", *length));
  }
  if (HasControlCharacters(text, true)) return Invalid(field, "contains control characters");
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Language>> ValidateLanguage(const std::string& code,
                                                         const std::string& field) {
  if (code.empty()) return std::optional<Language>();
  auto language = ParseLanguage(code);
  if (!language.has_value()) {
    return Invalid(field, absl::StrCat("must be \"fi\", \"sv\" or \"en\", got ",
                                       QuoteForMessage(code)));
  }
  return language;
}

namespace {

absl::Status ValidateLimit(int limit) {
  if (limit < 0 || limit > kMaxLimit) {
    return Invalid("limit", absl::StrCat("must be 1..", kMaxLimit, " (0 means ", kDefaultLimit,
                                         "), got ", limit));
  }
  return absl::OkStatus();
}

absl::Status ValidateSession(const std::string& session) {
  auto length = Utf8Length(session);
  if (!length.has_value() || *length > 200 || HasControlCharacters(session, false)) {
    return Invalid("session_id", absl::StrCat("at most 200 printable characters, got ",
                                              QuoteForMessage(session)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RankRequest> ToRankRequest(const v1::RecommendRequest& request,
                                          const CodeLists& codes) {
  if (auto s = ValidateAnswers(request.life_situation_meters(), "life_situation_meters"); !s.ok()) {
    return s;
  }
  if (request.has_age()) {
    if (auto s = ValidateAge(request.age(), "age"); !s.ok()) return s;
  }
  if (auto s = ValidateMunicipality(request.municipality_code(), "municipality_code", codes);
      !s.ok()) {
    return s;
  }
  if (auto s = ValidateCodes(request.life_events(), "life_events", codes, CodeKind::kLifeEvent,
                             "life event");
      !s.ok()) {
    return s;
  }
  if (auto s = ValidateText(request.text(), "text", false); !s.ok()) return s;
  auto language = ValidateLanguage(request.language(), "language");
  if (!language.ok()) return language.status();
  if (auto s = ValidateFilters(request.filters(), "filters", codes); !s.ok()) return s;
  if (auto s = ValidateLimit(request.limit()); !s.ok()) return s;
  if (auto s = ValidateSession(request.session_id()); !s.ok()) return s;
  bool answered = false;
  for (int k = 0; k < kLifeAreaCount; ++k) {
    answered |= !MeterAnswers(request.life_situation_meters(), k).empty();
  }
  if (!answered && request.life_events().empty() &&
      request.text().find_first_not_of(" \t\r\n") == std::string::npos) {
    return absl::InvalidArgumentError(
        "life_situation_meters: give at least one answered meter, a life event or a text");
  }
  RankRequest out;
  out.meters = request.life_situation_meters();
  if (request.has_age()) out.age = request.age();
  out.municipality_code = request.municipality_code();
  out.life_events.assign(request.life_events().begin(), request.life_events().end());
  out.text = request.text();
  out.language = *language;
  out.filters = request.filters();
  out.search = false;
  out.limit = request.limit() == 0 ? kDefaultLimit : request.limit();
  auto offset = PageOffset(request.page_token(), request);
  if (!offset.ok()) return offset.status();
  out.offset = *offset;
  return out;
}

absl::StatusOr<RankRequest> ToRankRequest(const v1::SearchRequest& request,
                                          const CodeLists& codes) {
  if (auto s = ValidateText(request.text(), "text", true); !s.ok()) return s;
  auto language = ValidateLanguage(request.language(), "language");
  if (!language.ok()) return language.status();
  if (request.has_age()) {
    if (auto s = ValidateAge(request.age(), "age"); !s.ok()) return s;
  }
  if (auto s = ValidateMunicipality(request.municipality_code(), "municipality_code", codes);
      !s.ok()) {
    return s;
  }
  if (auto s = ValidateFilters(request.filters(), "filters", codes); !s.ok()) return s;
  if (auto s = ValidateLimit(request.limit()); !s.ok()) return s;
  if (auto s = ValidateSession(request.session_id()); !s.ok()) return s;
  RankRequest out;
  out.text = request.text();
  out.language = *language;
  if (request.has_age()) out.age = request.age();
  out.municipality_code = request.municipality_code();
  out.filters = request.filters();
  out.search = true;
  out.limit = request.limit() == 0 ? kDefaultLimit : request.limit();
  auto offset = PageOffset(request.page_token(), request);
  if (!offset.ok()) return offset.status();
  out.offset = *offset;
  return out;
}

std::string PageToken(size_t offset, const google::protobuf::Message& request) {
  return absl::WebSafeBase64Escape(absl::StrCat("1:", offset, ":", Fingerprint(request)));
}

absl::StatusOr<size_t> PageOffset(const std::string& token,
                                  const google::protobuf::Message& request) {
  if (token.empty()) return 0;
  std::string plain;
  std::vector<std::string> parts;
  size_t offset = 0;
  if (absl::WebSafeBase64Unescape(token, &plain)) parts = absl::StrSplit(plain, ':');
  if (parts.size() != 3 || parts[0] != "1" || !absl::SimpleAtoi(parts[1], &offset)) {
    return Invalid("page_token", absl::StrCat("not a page token of this API: ",
                                              QuoteForMessage(token)));
  }
  if (parts[2] != Fingerprint(request)) {
    return Invalid("page_token", "was issued for a different request (only limit and session_id "
                                 "may change between pages)");
  }
  if (offset > kMaxPagedResults) {
    return Invalid("page_token", absl::StrCat("offset ", offset, " lies past the last page (at most ",
                                              kMaxPagedResults, " results are paged)"));
  }
  return offset;
}

}  // namespace aurora::recommender
