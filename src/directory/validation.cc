#include "directory/validation.h"

#include <algorithm>
#include <set>
#include <string>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/text.h"

namespace aurora::directory {
namespace {

using aurora::common::v1::LocalizedText;

absl::Status Invalid(std::string_view field, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(Sv(field), ": ", Sv(what)));
}

// UTF-8, no control characters (newlines allowed in long texts), at most `max` code points.
absl::Status ValidateString(std::string_view value, std::string_view field, size_t max,
                            bool allow_newlines) {
  auto length = Utf8Length(value);
  if (!length) return Invalid(field, absl::StrCat("not valid UTF-8: ", QuoteForMessage(value)));
  if (HasControlCharacters(value, allow_newlines)) {
    return Invalid(field, absl::StrCat("contains a control character: ", QuoteForMessage(value)));
  }
  if (*length > max) {
    return Invalid(field, absl::StrCat("is ", *length, " characters long, the limit is ", max, ": ",
                                       QuoteForMessage(value)));
  }
  return absl::OkStatus();
}

absl::Status ValidateText(const LocalizedText& text, std::string_view field, size_t max,
                          bool allow_newlines) {
  for (auto [lang, value] :
       {std::pair{"fi", &text.fi()}, std::pair{"sv", &text.sv()}, std::pair{"en", &text.en()}}) {
    if (auto s = ValidateString(*value, absl::StrCat(Sv(field), ".", lang), max, allow_newlines);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

bool IsBlank(std::string_view s) {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return false;
  }
  return true;
}

absl::Status ValidateRequiredName(const LocalizedText& name, std::string_view field) {
  if (auto s = ValidateText(name, field, kMaxNameLength, false); !s.ok()) return s;
  if (IsBlank(name.fi()) && IsBlank(name.sv()) && IsBlank(name.en())) {
    return Invalid(field, "is required in at least one of fi, sv, en");
  }
  for (auto [lang, value] :
       {std::pair{"fi", &name.fi()}, std::pair{"sv", &name.sv()}, std::pair{"en", &name.en()}}) {
    if (!value->empty() && IsBlank(*value)) {
      return Invalid(absl::StrCat(Sv(field), ".", lang), "is only whitespace");
    }
  }
  return absl::OkStatus();
}

template <typename List>
absl::Status ValidateCount(const List& list, std::string_view field, int max) {
  if (list.size() > max) {
    return Invalid(field, absl::StrCat("has ", list.size(), " entries, the limit is ", max));
  }
  return absl::OkStatus();
}

absl::Status ValidateCodes(const google::protobuf::RepeatedPtrField<std::string>& list,
                           CodeKind kind, const CodeLists& codes, std::string_view field, int max) {
  if (auto s = ValidateCount(list, field, max); !s.ok()) return s;
  std::set<std::string_view> seen;
  for (int i = 0; i < list.size(); ++i) {
    const std::string path = absl::StrCat(Sv(field), "[", i, "]");
    if (codes.Find(kind, list[i]) == nullptr) {
      return Invalid(path, absl::StrCat("unknown ", CodeLists::KindName(kind), " code ",
                                        QuoteForMessage(list[i])));
    }
    if (!seen.insert(list[i]).second) {
      return Invalid(path, absl::StrCat("duplicate code ", QuoteForMessage(list[i])));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateMunicipality(std::string_view code, const CodeLists& codes,
                                  std::string_view field) {
  if (codes.FindMunicipality(code) == nullptr) {
    return Invalid(field, absl::StrCat("unknown municipality code ", QuoteForMessage(code)));
  }
  return absl::OkStatus();
}

bool IsLanguageCode(std::string_view code) {
  if (code.size() < 2 || code.size() > 3) return false;
  for (char c : code) {
    if (c < 'a' || c > 'z') return false;
  }
  return true;
}

absl::Status ValidateLanguages(const google::protobuf::RepeatedPtrField<std::string>& list,
                               std::string_view field) {
  if (auto s = ValidateCount(list, field, 30); !s.ok()) return s;
  std::set<std::string_view> seen;
  for (int i = 0; i < list.size(); ++i) {
    const std::string path = absl::StrCat(Sv(field), "[", i, "]");
    if (!IsLanguageCode(list[i])) {
      return Invalid(path,
                     absl::StrCat("not an ISO 639 language code of 2 or 3 lowercase letters: ",
                                  QuoteForMessage(list[i])));
    }
    if (!seen.insert(list[i]).second) {
      return Invalid(path, absl::StrCat("duplicate language ", QuoteForMessage(list[i])));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateStrings(const google::protobuf::RepeatedPtrField<std::string>& list,
                             std::string_view field, int max_count, size_t max_length) {
  if (auto s = ValidateCount(list, field, max_count); !s.ok()) return s;
  for (int i = 0; i < list.size(); ++i) {
    const std::string path = absl::StrCat(Sv(field), "[", i, "]");
    if (auto s = ValidateString(list[i], path, max_length, false); !s.ok()) return s;
    if (IsBlank(list[i])) return Invalid(path, "is empty");
  }
  return absl::OkStatus();
}

absl::Status ValidateUrl(std::string_view url, std::string_view field) {
  if (auto s = ValidateString(url, field, 2000, false); !s.ok()) return s;
  if (IsBlank(url)) return Invalid(field, "is empty");
  return absl::OkStatus();
}

absl::Status ValidateChannel(const v1::ServiceChannel& channel, const CodeLists& codes,
                             std::string_view path) {
  if (auto s = ValidateOptionalUuid(channel.id(), absl::StrCat(Sv(path), ".id")); !s.ok()) return s;
  if (!v1::ChannelType_IsValid(channel.type())) {
    return Invalid(absl::StrCat(Sv(path), ".type"), absl::StrCat("unknown value ", channel.type()));
  }
  if (auto s = ValidateText(channel.name(), absl::StrCat(Sv(path), ".name"), kMaxNameLength, false);
      !s.ok()) {
    return s;
  }
  if (auto s = ValidateText(channel.summary(), absl::StrCat(Sv(path), ".summary"),
                            kMaxSummaryLength, true);
      !s.ok()) {
    return s;
  }
  const std::string urls = absl::StrCat(Sv(path), ".urls");
  if (auto s = ValidateCount(channel.urls(), urls, 50); !s.ok()) return s;
  for (int i = 0; i < channel.urls_size(); ++i) {
    if (auto s = ValidateUrl(channel.urls(i), absl::StrCat(urls, "[", i, "]")); !s.ok()) return s;
  }
  if (auto s = ValidateStrings(channel.phones(), absl::StrCat(Sv(path), ".phones"), 50, 100);
      !s.ok()) {
    return s;
  }
  if (auto s = ValidateStrings(channel.emails(), absl::StrCat(Sv(path), ".emails"), 50, 100);
      !s.ok()) {
    return s;
  }
  if (channel.has_session_transfer()) {
    const auto& transfer = channel.session_transfer();
    const std::string tp = absl::StrCat(Sv(path), ".session_transfer");
    if (auto s = ValidateUuid(transfer.client_id(), absl::StrCat(tp, ".client_id")); !s.ok()) {
      return s;
    }
    const std::string accepted = absl::StrCat(tp, ".accepted_attributes");
    if (transfer.accepted_attributes().empty() || transfer.accepted_attributes_size() > 16) {
      return Invalid(accepted, absl::StrCat("give 1 to 16 attribute names, not ",
                                            transfer.accepted_attributes_size()));
    }
    std::set<std::string_view> names;
    for (int i = 0; i < transfer.accepted_attributes_size(); ++i) {
      const std::string& name = transfer.accepted_attributes(i);
      const bool well_formed =
          !name.empty() && name.size() <= 63 && name[0] >= 'a' && name[0] <= 'z' &&
          std::all_of(name.begin(), name.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
          });
      const std::string item = absl::StrCat(accepted, "[", i, "]");
      if (!well_formed) {
        return Invalid(item, absl::StrCat("not an attribute name ([a-z][a-z0-9_]{0,62}): ",
                                          QuoteForMessage(name)));
      }
      if (!names.insert(name).second) {
        return Invalid(item, absl::StrCat("duplicate ", QuoteForMessage(name)));
      }
    }
  }
  const std::string addresses = absl::StrCat(Sv(path), ".addresses");
  if (auto s = ValidateCount(channel.addresses(), addresses, 50); !s.ok()) return s;
  for (int i = 0; i < channel.addresses_size(); ++i) {
    const v1::Address& a = channel.addresses(i);
    const std::string ap = absl::StrCat(addresses, "[", i, "]");
    for (auto [name, value, max] :
         {std::tuple{"type", &a.type(), size_t{50}}, std::tuple{"street", &a.street(), size_t{200}},
          std::tuple{"street_number", &a.street_number(), size_t{50}},
          std::tuple{"post_office", &a.post_office(), size_t{100}}}) {
      if (auto s = ValidateString(*value, absl::StrCat(ap, ".", name), max, false); !s.ok()) {
        return s;
      }
    }
    if (auto s = ValidateString(a.postal_code(), absl::StrCat(ap, ".postal_code"), 20, false);
        !s.ok()) {
      return s;
    }
    if (!a.municipality_code().empty()) {
      if (auto s = ValidateMunicipality(a.municipality_code(), codes,
                                        absl::StrCat(ap, ".municipality_code"));
          !s.ok()) {
        return s;
      }
    }
  }
  return absl::OkStatus();
}


// A proto identifier: a letter or underscore, then letters, digits and underscores.
bool IsIdentifier(const std::string& part) {
  if (part.empty() || absl::ascii_isdigit(static_cast<unsigned char>(part[0]))) return false;
  return std::all_of(part.begin(), part.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

absl::Status ValidateAccessRights(const network::v1::AccessRights& access, std::string_view field) {
  if (access.allowed_organizations_size() > kMaxAllowedOrganizations) {
    return Invalid(absl::StrCat(Sv(field), ".allowed_organizations"),
                   absl::StrCat("has ", access.allowed_organizations_size(),
                                " organisations, the limit is ", kMaxAllowedOrganizations));
  }
  std::set<std::string_view> seen;
  for (int i = 0; i < access.allowed_organizations_size(); ++i) {
    const std::string item = absl::StrCat(Sv(field), ".allowed_organizations[", i, "]");
    if (auto s = ValidateUuid(access.allowed_organizations(i), item); !s.ok()) return s;
    if (!seen.insert(access.allowed_organizations(i)).second) {
      return Invalid(item, absl::StrCat("repeats organisation ",
                                        QuoteForMessage(access.allowed_organizations(i))));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ValidateNetworkService(
    const network::v1::NetworkService& service, std::string_view path) {
  const auto field = [&](std::string_view name) { return absl::StrCat(Sv(path), ".", Sv(name)); };
  const std::string& name = service.name();
  const std::vector<std::string> parts = absl::StrSplit(name, '.');
  if (name.empty()) return Invalid(field("name"), "is required");
  if (name.size() > 200 || parts.size() < 2 ||
      !std::all_of(parts.begin(), parts.end(), IsIdentifier)) {
    return Invalid(field("name"),
                   absl::StrCat("not a full gRPC service name (package.Service, at most 200 "
                                "characters): ",
                                QuoteForMessage(name)));
  }
  if (parts[0] == "aurora" || parts[0] == "grpc") {
    return Invalid(field("name"), absl::StrCat("the package ", parts[0],
                                               " is the network's own: ", QuoteForMessage(name)));
  }
  if (auto s = ValidateUuid(service.organization_id(), field("organization_id")); !s.ok()) {
    return s;
  }
  if (auto s = ValidateText(service.title(), field("title"), kMaxNameLength, false); !s.ok()) {
    return s;
  }
  if (auto s = ValidateAccessRights(service.access(), field("access")); !s.ok()) return s;

  if (service.descriptor_set().empty()) {
    return Invalid(field("descriptor_set"),
                   "is required: the FileDescriptorSet that defines the service "
                   "(protoc --include_imports --descriptor_set_out)");
  }
  if (service.descriptor_set().size() > kMaxDescriptorSetBytes) {
    return Invalid(field("descriptor_set"),
                   absl::StrCat("is ", service.descriptor_set().size(), " bytes, the limit is ",
                                kMaxDescriptorSetBytes));
  }
  google::protobuf::FileDescriptorSet files;
  if (!files.ParseFromString(service.descriptor_set())) {
    return Invalid(field("descriptor_set"), "is not a serialized google.protobuf.FileDescriptorSet");
  }
  google::protobuf::DescriptorPool pool;
  for (const auto& file : files.file()) {
    if (pool.BuildFile(file) == nullptr) {
      return Invalid(field("descriptor_set"),
                     absl::StrCat("the file ", QuoteForMessage(file.name()),
                                  " does not build (are its imports included, in dependency "
                                  "order?)"));
    }
  }
  const google::protobuf::ServiceDescriptor* descriptor = pool.FindServiceByName(name);
  if (descriptor == nullptr) {
    return Invalid(field("descriptor_set"),
                   absl::StrCat("defines no service ", QuoteForMessage(name)));
  }
  std::vector<std::string> methods;
  for (int i = 0; i < descriptor->method_count(); ++i) methods.push_back(descriptor->method(i)->name());

  std::set<std::string> overridden;
  for (int i = 0; i < service.method_access_size(); ++i) {
    const auto& entry = service.method_access(i);
    const std::string item = absl::StrCat(field("method_access"), "[", i, "]");
    if (std::find(methods.begin(), methods.end(), entry.method()) == methods.end()) {
      return Invalid(absl::StrCat(item, ".method"),
                     absl::StrCat("the service has no method ", QuoteForMessage(entry.method())));
    }
    if (!overridden.insert(entry.method()).second) {
      return Invalid(absl::StrCat(item, ".method"),
                     absl::StrCat("repeats the method ", QuoteForMessage(entry.method())));
    }
    if (auto s = ValidateAccessRights(entry.access(), absl::StrCat(item, ".access")); !s.ok()) {
      return s;
    }
  }
  return methods;
}

absl::Status ValidateNodeAddress(std::string_view address, std::string_view field) {
  if (address.empty()) return absl::OkStatus();
  const auto bad = [&](std::string_view why) {
    return Invalid(field, absl::StrCat(Sv(why), ": ", QuoteForMessage(address)));
  };
  if (address.size() > 255) return bad("is longer than 255 characters");
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return bad("needs host:port");
  const std::string_view host = address.substr(0, colon);
  int port = 0;
  if (!absl::SimpleAtoi(Sv(address.substr(colon + 1)), &port) || port < 1 || port > 65535) {
    return bad("the port must be 1..65535");
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    const std::string_view v6 = host.substr(1, host.size() - 2);
    const bool ok = !v6.empty() && std::all_of(v6.begin(), v6.end(), [](char c) {
      return absl::ascii_isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
    });
    return ok ? absl::OkStatus() : bad("not an IPv6 literal");
  }
  const std::vector<std::string> labels = absl::StrSplit(Sv(host), '.');
  for (const std::string& label : labels) {
    const bool ok = !label.empty() && label.size() <= 63 && label.front() != '-' &&
                    label.back() != '-' && std::all_of(label.begin(), label.end(), [](char c) {
                      return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-';
                    });
    if (!ok) return bad("the host must be a DNS name or an IP address");
  }
  return absl::OkStatus();
}

absl::Status ValidateUuid(std::string_view value, std::string_view field) {
  if (value.empty()) return Invalid(field, "is required");
  if (!IsCanonicalUuid(value)) {
    return Invalid(field, absl::StrCat("not a canonical lowercase UUID: ", QuoteForMessage(value)));
  }
  return absl::OkStatus();
}

absl::Status ValidateOptionalUuid(std::string_view value, std::string_view field) {
  return value.empty() ? absl::OkStatus() : ValidateUuid(value, field);
}

bool IsValidBusinessId(std::string_view value) {
  if (value.size() != 9 || value[7] != '-') return false;
  static constexpr int kWeights[7] = {7, 9, 10, 5, 8, 4, 2};
  int sum = 0;
  for (int i = 0; i < 7; ++i) {
    if (value[i] < '0' || value[i] > '9') return false;
    sum += (value[i] - '0') * kWeights[i];
  }
  if (value[8] < '0' || value[8] > '9') return false;
  const int remainder = sum % 11;
  if (remainder == 1) return false;
  const int check = remainder == 0 ? 0 : 11 - remainder;
  return value[8] - '0' == check;
}

absl::Status ValidateOrganization(const v1::Organization& organization, const CodeLists& codes,
                                  std::string_view path) {
  if (auto s = ValidateOptionalUuid(organization.id(), absl::StrCat(Sv(path), ".id")); !s.ok()) {
    return s;
  }
  if (auto s = ValidateRequiredName(organization.name(), absl::StrCat(Sv(path), ".name"));
      !s.ok()) {
    return s;
  }
  if (!organization.business_id().empty() && !IsValidBusinessId(organization.business_id())) {
    return Invalid(absl::StrCat(Sv(path), ".business_id"),
                   absl::StrCat("not a Finnish business id (1234567-8) with a valid check digit: ",
                                QuoteForMessage(organization.business_id())));
  }
  if (!organization.municipality_code().empty()) {
    return ValidateMunicipality(organization.municipality_code(), codes,
                                absl::StrCat(Sv(path), ".municipality_code"));
  }
  return absl::OkStatus();
}

absl::Status ValidateDisplayName(std::string_view name, std::string_view field) {
  if (auto s = ValidateString(name, field, kMaxNameLength, false); !s.ok()) return s;
  if (IsBlank(name)) return Invalid(field, "is required");
  return absl::OkStatus();
}

absl::Status ValidateService(const v1::Service& service, const CodeLists& codes, bool id_required,
                             std::string_view path) {
  const auto field = [&](std::string_view name) { return absl::StrCat(Sv(path), ".", Sv(name)); };
  if (id_required) {
    if (auto s = ValidateUuid(service.id(), field("id")); !s.ok()) return s;
  } else if (auto s = ValidateOptionalUuid(service.id(), field("id")); !s.ok()) {
    return s;
  }
  if (auto s = ValidateOptionalUuid(service.organization_id(), field("organization_id")); !s.ok()) {
    return s;
  }
  if (!v1::ServiceKind_IsValid(service.kind())) {
    return Invalid(field("kind"), absl::StrCat("unknown value ", service.kind()));
  }
  if (!v1::ServiceType_IsValid(service.type())) {
    return Invalid(field("type"), absl::StrCat("unknown value ", service.type()));
  }
  if (auto s = ValidateRequiredName(service.name(), field("name")); !s.ok()) return s;
  if (auto s = ValidateText(service.alternative_name(), field("alternative_name"), kMaxNameLength,
                            false);
      !s.ok()) {
    return s;
  }
  if (auto s = ValidateText(service.summary(), field("summary"), kMaxSummaryLength, true);
      !s.ok()) {
    return s;
  }
  for (auto [name, text] : {std::pair{"description", &service.description()},
                            std::pair{"user_instruction", &service.user_instruction()},
                            std::pair{"requirements", &service.requirements()}}) {
    if (auto s = ValidateText(*text, field(name), kMaxLongTextLength, true); !s.ok()) return s;
  }
  if (auto s = ValidateStrings(service.keywords(), field("keywords"), 100, 200); !s.ok()) return s;
  if (auto s = ValidateCodes(service.service_classes(), CodeKind::kServiceClass, codes,
                             field("service_classes"), 50);
      !s.ok()) {
    return s;
  }
  if (auto s = ValidateCodes(service.target_groups(), CodeKind::kTargetGroup, codes,
                             field("target_groups"), 50);
      !s.ok()) {
    return s;
  }
  if (auto s = ValidateCodes(service.life_events(), CodeKind::kLifeEvent, codes,
                             field("life_events"), 50);
      !s.ok()) {
    return s;
  }
  if (auto s = ValidateCount(service.ontology_terms(), field("ontology_terms"), 100); !s.ok()) {
    return s;
  }
  for (int i = 0; i < service.ontology_terms_size(); ++i) {
    const auto& term = service.ontology_terms(i);
    const std::string tp = absl::StrCat(field("ontology_terms"), "[", i, "]");
    if (auto s = ValidateString(term.uri(), tp + ".uri", 500, false); !s.ok()) return s;
    if (term.uri().rfind("http://", 0) != 0 && term.uri().rfind("https://", 0) != 0) {
      return Invalid(tp + ".uri",
                     absl::StrCat("not an http(s) URI: ", QuoteForMessage(term.uri())));
    }
    if (auto s = ValidateString(term.fi(), tp + ".fi", kMaxNameLength, false); !s.ok()) return s;
  }

  switch (service.area_type()) {
    case v1::AREA_TYPE_NATIONWIDE:
    case v1::AREA_TYPE_NATIONWIDE_EXCEPT_ALAND_ISLANDS:
      if (service.municipality_codes_size() > 0) {
        return Invalid(field("municipality_codes"),
                       absl::StrCat("must be empty for a nationwide service, got ",
                                    QuoteForMessage(service.municipality_codes(0)), " first"));
      }
      break;
    case v1::AREA_TYPE_LIMITED:
      if (service.municipality_codes_size() == 0) {
        return Invalid(field("municipality_codes"),
                       "at least one municipality code is required for AREA_TYPE_LIMITED");
      }
      break;
    default:
      return Invalid(field("area_type"),
                     absl::StrCat("is required (NATIONWIDE, NATIONWIDE_EXCEPT_ALAND_ISLANDS or "
                                  "LIMITED), got ",
                                  v1::AreaType_IsValid(service.area_type())
                                      ? v1::AreaType_Name(service.area_type())
                                      : absl::StrCat(service.area_type())));
  }
  if (auto s = ValidateCount(service.municipality_codes(), field("municipality_codes"), 400);
      !s.ok()) {
    return s;
  }
  std::set<std::string_view> seen;
  for (int i = 0; i < service.municipality_codes_size(); ++i) {
    const std::string mp = absl::StrCat(field("municipality_codes"), "[", i, "]");
    if (auto s = ValidateMunicipality(service.municipality_codes(i), codes, mp); !s.ok()) return s;
    if (!seen.insert(service.municipality_codes(i)).second) {
      return Invalid(mp, absl::StrCat("duplicate municipality code ",
                                      QuoteForMessage(service.municipality_codes(i))));
    }
  }
  if (auto s = ValidateCount(service.channels(), field("channels"), 100); !s.ok()) return s;
  for (int i = 0; i < service.channels_size(); ++i) {
    if (auto s = ValidateChannel(service.channels(i), codes,
                                 absl::StrCat(field("channels"), "[", i, "]"));
        !s.ok()) {
      return s;
    }
  }
  if (auto s = ValidateLanguages(service.languages(), field("languages")); !s.ok()) return s;
  if (!v1::FundingType_IsValid(service.funding_type())) {
    return Invalid(field("funding_type"), absl::StrCat("unknown value ", service.funding_type()));
  }
  if (auto s =
          ValidateOptionalUuid(service.general_description_id(), field("general_description_id"));
      !s.ok()) {
    return s;
  }
  std::set<int> areas;
  for (int i = 0; i < service.life_areas_size(); ++i) {
    const int area = service.life_areas(i);
    const std::string lp = absl::StrCat(field("life_areas"), "[", i, "]");
    if (area == 0 || !aurora::common::v1::LifeArea_IsValid(area)) {
      return Invalid(lp, absl::StrCat("not a life area: ", area));
    }
    if (!areas.insert(area).second) {
      return Invalid(lp, absl::StrCat("duplicate life area ",
                                      aurora::common::v1::LifeArea_Name(service.life_areas(i))));
    }
  }
  if (auto s =
          ValidateString(service.external_ref().source(), field("external_ref.source"), 100, false);
      !s.ok()) {
    return s;
  }
  return ValidateString(service.external_ref().external_id(), field("external_ref.external_id"),
                        200, false);
}

absl::Status ValidateAreaFilter(const aurora::common::v1::AreaFilter& area, const CodeLists& codes,
                                std::string_view path) {
  for (int i = 0; i < area.municipality_codes_size(); ++i) {
    if (auto s = ValidateMunicipality(area.municipality_codes(i), codes,
                                      absl::StrCat(Sv(path), ".municipality_codes[", i, "]"));
        !s.ok()) {
      return s;
    }
  }
  struct FlatList {
    const google::protobuf::RepeatedPtrField<std::string>* list;
    const char* name;
    const char* what;
    const AreaCode* (CodeLists::*find)(std::string_view) const;
  };
  for (const FlatList& l :
       {FlatList{&area.region_codes(), "region_codes", "region", &CodeLists::FindRegion},
        FlatList{&area.hospital_district_codes(), "hospital_district_codes", "hospital district",
                 &CodeLists::FindHospitalDistrict},
        FlatList{&area.wellbeing_service_county_codes(), "wellbeing_service_county_codes",
                 "wellbeing services county", &CodeLists::FindWellbeingCounty}}) {
    for (int i = 0; i < l.list->size(); ++i) {
      if ((codes.*l.find)(l.list->Get(i)) == nullptr) {
        return Invalid(absl::StrCat(Sv(path), ".", l.name, "[", i, "]"),
                       absl::StrCat("unknown ", l.what, " code ", QuoteForMessage(l.list->Get(i))));
      }
    }
  }
  const bool any_codes = area.municipality_codes_size() + area.region_codes_size() +
                             area.hospital_district_codes_size() +
                             area.wellbeing_service_county_codes_size() >
                         0;
  if (area.only_national_services() && any_codes) {
    return Invalid(absl::StrCat(Sv(path), ".only_national_services"),
                   "cannot be combined with municipality, region, hospital district or wellbeing "
                   "services county codes");
  }
  if (area.only_national_services() && area.has_include_national_services() &&
      !area.include_national_services()) {
    return Invalid(absl::StrCat(Sv(path), ".only_national_services"),
                   "cannot be combined with include_national_services = false");
  }
  return absl::OkStatus();
}

absl::StatusOr<int> ValidatePageSize(const aurora::common::v1::PageRequest& page,
                                     std::string_view path) {
  if (page.page_size() < 0 || page.page_size() > kMaxPageSize) {
    return Invalid(absl::StrCat(Sv(path), ".page_size"),
                   absl::StrCat("must be between 1 and ", kMaxPageSize, " (0 = default ",
                                kDefaultPageSize, "), got ", page.page_size()));
  }
  return page.page_size() == 0 ? kDefaultPageSize : page.page_size();
}

absl::Status ValidateListServicesRequest(const v1::ListServicesRequest& request,
                                         const CodeLists& codes) {
  if (auto s = ValidateAreaFilter(request.area(), codes); !s.ok()) return s;
  for (auto [list, kind, name] :
       {std::tuple{&request.service_classes(), CodeKind::kServiceClass, "service_classes"},
        std::tuple{&request.target_groups(), CodeKind::kTargetGroup, "target_groups"},
        std::tuple{&request.life_events(), CodeKind::kLifeEvent, "life_events"}}) {
    if (auto s = ValidateCodes(*list, kind, codes, name, 100); !s.ok()) return s;
  }
  for (int i = 0; i < request.organization_ids_size(); ++i) {
    if (auto s =
            ValidateUuid(request.organization_ids(i), absl::StrCat("organization_ids[", i, "]"));
        !s.ok()) {
      return s;
    }
  }
  if (request.channel_ids_size() > 50) {
    return Invalid("channel_ids", absl::StrCat("at most 50, got ", request.channel_ids_size()));
  }
  for (int i = 0; i < request.channel_ids_size(); ++i) {
    if (auto s = ValidateUuid(request.channel_ids(i), absl::StrCat("channel_ids[", i, "]"));
        !s.ok()) {
      return s;
    }
  }
  if (auto s = ValidateLanguages(request.languages(), "languages"); !s.ok()) return s;
  for (int i = 0; i < request.funding_types_size(); ++i) {
    const int f = request.funding_types(i);
    if (f == 0 || !v1::FundingType_IsValid(f)) {
      return Invalid(absl::StrCat("funding_types[", i, "]"),
                     absl::StrCat("must be FUNDING_TYPE_PUBLICLY_FUNDED or "
                                  "FUNDING_TYPE_MARKET_FUNDED, got ",
                                  f));
    }
  }
  return ValidatePageSize(request.page()).status();
}

}  // namespace aurora::directory
