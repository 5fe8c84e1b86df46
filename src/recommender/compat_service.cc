#include "recommender/compat_service.h"

#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/text.h"
#include "recommender/requests.h"

namespace aurora::recommender {
namespace {

namespace cv1 = aurora::compat::v1;
namespace rv1 = aurora::recommender::v1;
namespace dv1 = aurora::directory::v1;

absl::Status Invalid(const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

// RFC 3986 unreserved characters pass; everything else is %XX.
std::string QueryEscape(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

const std::string& In(const aurora::common::v1::LocalizedText& text, Language language) {
  const std::string& wanted = language == Language::kSwedish   ? text.sv()
                              : language == Language::kEnglish ? text.en()
                                                               : text.fi();
  if (!wanted.empty()) return wanted;
  if (!text.fi().empty()) return text.fi();
  if (!text.sv().empty()) return text.sv();
  return text.en();
}

const char* ChannelTypeName(dv1::ChannelType type) {
  switch (type) {
    case dv1::CHANNEL_TYPE_ELECTRONIC:
      return "EChannel";
    case dv1::CHANNEL_TYPE_WEB_PAGE:
      return "WebPage";
    case dv1::CHANNEL_TYPE_PHONE:
      return "Phone";
    case dv1::CHANNEL_TYPE_SERVICE_LOCATION:
      return "ServiceLocation";
    case dv1::CHANNEL_TYPE_PRINTABLE_FORM:
      return "PrintableForm";
    default:
      return "";
  }
}

const char* AreaTypeName(dv1::AreaType type) {
  switch (type) {
    case dv1::AREA_TYPE_NATIONWIDE:
      return "Nationwide";
    case dv1::AREA_TYPE_NATIONWIDE_EXCEPT_ALAND_ISLANDS:
      return "NationwideExceptAlandIslands";
    default:
      return "LimitedType";
  }
}

// The languages AuroraAI's text_search accepted.
constexpr std::string_view kCompatLanguages[] = {"en", "de", "fr", "et", "da",
                                                 "no", "uk", "ru", "fi", "sv"};

absl::Status ValidateLimit(const google::protobuf::Message&, bool has, int limit) {
  if (has && (limit < 1 || limit > kMaxLimit)) {
    return Invalid("limit", absl::StrCat("must be 1..", kMaxLimit, ", got ", limit));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<rv1::ServiceFilters> CompatMapper::ToFilters(const cv1::ServiceFilters& in) const {
  rv1::ServiceFilters out;
  auto* area = out.mutable_area();
  area->mutable_municipality_codes()->CopyFrom(in.municipality_codes());
  area->mutable_region_codes()->CopyFrom(in.region_codes());
  area->mutable_hospital_district_codes()->CopyFrom(in.hospital_district_codes());
  area->mutable_wellbeing_service_county_codes()->CopyFrom(in.wellbeing_service_county_codes());
  if (in.has_include_national_services()) {
    area->set_include_national_services(in.include_national_services());
  }
  area->set_only_national_services(in.has_only_national_services() &&
                                   in.only_national_services());
  if (area->only_national_services() && area->has_include_national_services() &&
      !area->include_national_services()) {
    return Invalid("service_filters.only_national_services",
                   "cannot be combined with include_national_services=false");
  }
  if (auto s = ValidateAreaFilter(*area, "service_filters", *codes_); !s.ok()) return s;
  for (int i = 0; i < in.service_classes_size(); ++i) {
    const HierarchicalCode* code = codes_->FindByUri(CodeKind::kServiceClass, in.service_classes(i));
    if (code == nullptr ||
        !absl::StartsWith(in.service_classes(i), "http://uri.suomi.fi/codelist/ptv/ptvserclass2/")) {
      return Invalid(absl::StrCat("service_filters.service_classes[", i, "]"),
                     absl::StrCat("not a PTV service class URI: ",
                                  QuoteForMessage(in.service_classes(i))));
    }
    out.add_service_classes(code->code);
  }
  for (int i = 0; i < in.target_groups_size(); ++i) {
    const std::string& g = in.target_groups(i);
    if (g != "KR1" && g != "KR2" && g != "KR3") {
      return Invalid(absl::StrCat("service_filters.target_groups[", i, "]"),
                     absl::StrCat("must be KR1, KR2 or KR3, got ", QuoteForMessage(g)));
    }
    out.add_target_groups(g);
  }
  if (in.service_collections_size() > 0) {
    return Invalid("service_filters.service_collections[0]",
                   absl::StrCat("unknown service collection ",
                                QuoteForMessage(in.service_collections(0))));
  }
  for (int i = 0; i < in.funding_type_size(); ++i) {
    const std::string& f = in.funding_type(i);
    if (f == "PubliclyFunded") {
      out.add_funding_types(dv1::FUNDING_TYPE_PUBLICLY_FUNDED);
    } else if (f == "MarketFunded") {
      out.add_funding_types(dv1::FUNDING_TYPE_MARKET_FUNDED);
    } else {
      return Invalid(absl::StrCat("service_filters.funding_type[", i, "]"),
                     absl::StrCat("must be PubliclyFunded or MarketFunded, got ",
                                  QuoteForMessage(f)));
    }
  }
  return out;
}

absl::StatusOr<RankRequest> CompatMapper::ToRankRequest(
    const cv1::RecommendServiceRequest& request) const {
  if (!request.has_life_situation_meters()) {
    return Invalid("life_situation_meters", "required");
  }
  if (auto s = ValidateAnswers(request.life_situation_meters(), "life_situation_meters"); !s.ok()) {
    return s;
  }
  bool answered = false;
  for (int k = 0; k < kLifeAreaCount; ++k) {
    answered |= !MeterAnswers(request.life_situation_meters(), k).empty();
  }
  if (!answered) {
    return Invalid("life_situation_meters", "at least one meter needs an answer (0..10)");
  }
  if (auto s = ValidateLimit(request, request.has_limit(), request.limit()); !s.ok()) return s;
  if (request.has_age()) {
    if (auto s = ValidateAge(request.age(), "age"); !s.ok()) return s;
  }
  if (auto s = ValidateMunicipality(request.municipality_code(), "municipality_code", *codes_);
      !s.ok()) {
    return s;
  }
  if (auto s = ValidateText(request.session_id(), "session_id", false); !s.ok()) return s;
  RankRequest out;
  if (request.has_service_filters()) {
    auto filters = ToFilters(request.service_filters());
    if (!filters.ok()) return filters.status();
    out.filters = std::move(*filters);
  }
  out.meters = request.life_situation_meters();
  if (request.has_age()) out.age = request.age();
  out.municipality_code = request.municipality_code();
  out.limit = request.has_limit() ? request.limit() : kDefaultLimit;
  return out;
}

absl::StatusOr<RankRequest> CompatMapper::ToRankRequest(
    const cv1::TextSearchRequest& request) const {
  if (request.search_text().empty()) return Invalid("search_text", "required (1..1024 characters)");
  if (auto s = ValidateText(request.search_text(), "search_text", true); !s.ok()) return s;
  if (auto s = ValidateLimit(request, request.has_limit(), request.limit()); !s.ok()) return s;
  RankRequest out;
  if (!request.language().empty()) {
    if (std::find(std::begin(kCompatLanguages), std::end(kCompatLanguages), request.language()) ==
        std::end(kCompatLanguages)) {
      return Invalid("language", absl::StrCat("must be one of en de fr et da no uk ru fi sv, got ",
                                              QuoteForMessage(request.language())));
    }
    out.language = ParseLanguage(request.language());  // other languages: recognised
  }
  if (request.has_service_filters()) {
    auto filters = ToFilters(request.service_filters());
    if (!filters.ok()) return filters.status();
    out.filters = std::move(*filters);
  }
  out.text = request.search_text();
  out.search = true;
  out.limit = request.has_limit() ? request.limit() : kDefaultLimit;
  return out;
}

void CompatMapper::SetPublicUrl(std::string url) {
  absl::MutexLock lock(&mutex_);
  options_.public_url = std::move(url);
}

std::string CompatMapper::public_url() const {
  absl::MutexLock lock(&mutex_);
  return options_.public_url;
}

std::string CompatMapper::RedirectLink(int64_t recommendation_id, const std::string& service_id,
                                       const std::string& channel_id, int link, bool electronic,
                                       const std::string& session_id) const {
  std::string url = absl::StrCat(public_url(), "/service-recommender/v1/redirect?service_id=",
                                 service_id, "&service_channel_id=", channel_id, "&link_id=", link,
                                 "&recommendation_id=", recommendation_id);
  if (electronic && !session_id.empty()) {
    absl::StrAppend(&url, "&session_id=", QueryEscape(session_id));
  }
  return url;
}

void CompatMapper::ToOutput(const Outcome& outcome, Language language,
                            const std::string& session_id, cv1::RecommendationOutput* output) const {
  output->set_auroraai_recommendation_id(static_cast<double>(outcome.recommendation_id));
  for (const auto& ranked : outcome.result.services) {
    const dv1::Service& s = *ranked.service;
    cv1::RecommendedService* out = output->add_recommended_services();
    out->set_service_id(s.id());
    out->set_service_name(In(s.name(), language));
    out->set_service_description(In(s.description(), language));
    out->set_service_description_summary(In(s.summary(), language));
    out->set_user_instruction(In(s.user_instruction(), language));
    if (const std::string& r = In(s.requirements(), language); !r.empty()) out->add_requirements(r);
    if (s.funding_type() == dv1::FUNDING_TYPE_PUBLICLY_FUNDED) {
      out->mutable_funding_type()->set_string_value("PubliclyFunded");
    } else if (s.funding_type() == dv1::FUNDING_TYPE_MARKET_FUNDED) {
      out->mutable_funding_type()->set_string_value("MarketFunded");
    } else {
      out->mutable_funding_type()->set_null_value(google::protobuf::NULL_VALUE);
    }
    out->set_area_type(AreaTypeName(s.area_type()));
    for (const auto& code : s.municipality_codes()) {
      cv1::Area* area = out->add_areas();
      area->set_type("Municipality");
      area->set_code(code);
      if (const Municipality* m = codes_->FindMunicipality(code)) {
        for (const auto& [lang, value] : {std::pair{"fi", &m->name.fi()}, std::pair{"sv", &m->name.sv()},
                                          std::pair{"en", &m->name.en()}}) {
          if (value->empty()) continue;
          cv1::AreaName* name = area->add_name();
          name->set_language(lang);
          name->set_value(*value);
        }
      }
    }
    if (s.organization_id().empty()) {
      out->mutable_responsible_organization()->set_null_value(google::protobuf::NULL_VALUE);
    } else {
      auto* fields = out->mutable_responsible_organization()->mutable_struct_value()->mutable_fields();
      (*fields)["id"].set_string_value(s.organization_id());
      (*fields)["name"].set_string_value(index_->OrganizationName(s.organization_id()));
    }
    for (const auto& g : s.target_groups()) out->add_target_groups(g);
    for (const auto& c : s.service_classes()) {
      if (const HierarchicalCode* code = codes_->Find(CodeKind::kServiceClass, c)) {
        out->add_service_class_uris(code->uri);
      }
    }
    for (const auto& channel : s.channels()) {
      cv1::ServiceChannel* ch = out->add_service_channels();
      ch->set_service_channel_id(channel.id());
      ch->set_service_channel_name(In(channel.name(), language));
      ch->set_service_channel_type(ChannelTypeName(channel.type()));
      ch->set_service_channel_description_summary(In(channel.summary(), language));
      for (const auto& phone : channel.phones()) ch->add_phone_numbers(phone);
      for (int i = 0; i < channel.urls_size(); ++i) {
        ch->add_web_pages(RedirectLink(outcome.recommendation_id, s.id(), channel.id(), i,
                                       channel.type() == dv1::CHANNEL_TYPE_ELECTRONIC, session_id));
      }
      for (const auto& email : channel.emails()) ch->add_emails(email);
      for (const auto& address : channel.addresses()) {
        if (address.type() == "Postal") continue;
        std::string text = absl::StrCat(address.street(), address.street_number().empty() ? "" : " ",
                                        address.street_number());
        if (!address.postal_code().empty()) absl::StrAppend(&text, ", ", address.postal_code());
        if (const Municipality* m = codes_->FindMunicipality(address.municipality_code())) {
          absl::StrAppend(&text, ", ", m->name.fi());
        } else if (!address.post_office().empty()) {
          absl::StrAppend(&text, ", ", address.post_office());
        }
        ch->set_address(text);
        break;
      }
      ch->mutable_location()->set_string_value("");
      // As in AuroraAI: true for an electronic channel that takes session transfers.
      ch->set_session_transfer(channel.type() == dv1::CHANNEL_TYPE_ELECTRONIC &&
                               channel.has_session_transfer());
    }
    out->set_similarity_score(ranked.score);
    out->set_rank(ranked.rank);
  }
}

grpc::ServerUnaryReactor* CompatService::RunRanking(grpc::CallbackServerContext* context,
                                                    std::function<absl::Status()> work) {
  return Finish(context, true, std::move(work));
}

grpc::ServerUnaryReactor* CompatService::Run(grpc::CallbackServerContext* context,
                                             std::function<absl::Status()> work) {
  return Finish(context, false, std::move(work));
}

grpc::ServerUnaryReactor* CompatService::Finish(grpc::CallbackServerContext* context,
                                                bool ranking, std::function<absl::Status()> work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto task = [reactor, work = std::move(work)] { reactor->Finish(ToGrpcStatus(work())); };
  if (!(ranking ? engine_->RunOrSubmit(std::move(task)) : engine_->Submit(std::move(task)))) {
    reactor->Finish(engine_->Overloaded(context));
  }
  return reactor;
}

grpc::ServerUnaryReactor* CompatService::RecommendService(
    grpc::CallbackServerContext* context, const cv1::RecommendServiceRequest* request,
    cv1::RecommendationOutput* response) {
  auto rank = mapper_.ToRankRequest(*request);
  if (!rank.ok()) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpcStatus(rank.status()));
    return reactor;
  }
  Caller caller = Caller::Of(context);
  return RunRanking(context, [this, request, response, rank = std::move(*rank), caller]() {
    auto outcome = engine_->RankAndSave(rank, "compat/recommend_service", caller,
                                        request->session_id());
    if (!outcome.ok()) return outcome.status();
    mapper_.ToOutput(*outcome, Language::kFinnish, request->session_id(), response);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CompatService::TextSearch(grpc::CallbackServerContext* context,
                                                    const cv1::TextSearchRequest* request,
                                                    cv1::RecommendationOutput* response) {
  auto rank = mapper_.ToRankRequest(*request);
  if (!rank.ok()) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpcStatus(rank.status()));
    return reactor;
  }
  Caller caller = Caller::Of(context);
  const Language language = rank->language.value_or(Language::kFinnish);
  return RunRanking(context, [this, response, rank = std::move(*rank), caller, language]() {
    auto outcome = engine_->RankAndSave(rank, "compat/text_search", caller, "");
    if (!outcome.ok()) return outcome.status();
    mapper_.ToOutput(*outcome, language, "", response);
    return absl::OkStatus();
  });
}

namespace {

absl::StatusOr<int64_t> RecommendationIdOf(int64_t value, const std::string& field) {
  if (value < 0 || value >= (int64_t{1} << 53)) {
    return Invalid(field, absl::StrCat("must be an integer 0..2^53-1, got ", value));
  }
  return value;
}

void PlainText(google::api::HttpBody* body, std::string text) {
  body->set_content_type("text/plain; charset=utf-8");
  body->set_data(std::move(text));
}

}  // namespace

grpc::ServerUnaryReactor* CompatService::RecommendationFeedback(
    grpc::CallbackServerContext* context, const cv1::RecommendationFeedbackRequest* request,
    google::api::HttpBody* response) {
  absl::Status valid = absl::OkStatus();
  int64_t id = 0;
  if (!request->has_auroraai_recommendation_id()) {
    valid = Invalid("auroraai_recommendation_id", "required");
  } else if (auto parsed = RecommendationIdOf(request->auroraai_recommendation_id(),
                                              "auroraai_recommendation_id");
             !parsed.ok()) {
    valid = parsed.status();
  } else {
    id = *parsed;
  }
  std::vector<FeedbackEntry> entries;
  if (valid.ok() && request->has_feedback_score()) {
    if (request->feedback_score() != 1 && request->feedback_score() != -1) {
      valid = Invalid("feedback_score",
                      absl::StrCat("must be 1 or -1, got ", request->feedback_score()));
    }
    entries.push_back({"", request->feedback_score()});
  }
  for (int i = 0; valid.ok() && i < request->service_feedbacks_size(); ++i) {
    const auto& f = request->service_feedbacks(i);
    const std::string field = absl::StrCat("service_feedbacks[", i, "]");
    if (!IsCanonicalUuid(f.service_id())) {
      valid = Invalid(field + ".service_id",
                      absl::StrCat("not a lower-case UUID: ", QuoteForMessage(f.service_id())));
    } else if (f.feedback_score() != 1 && f.feedback_score() != -1) {
      valid = Invalid(field + ".feedback_score",
                      absl::StrCat("must be 1 or -1, got ", f.feedback_score()));
    }
    entries.push_back({f.service_id(), f.feedback_score()});
  }
  if (!valid.ok()) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  return Run(context, [this, context, request, id, response,
                       entries = std::move(entries)]() -> absl::Status {
    if (auto elsewhere = engine_->ForwardIfElsewhere(
            id, context, "/aurora.compat.v1.ServiceRecommender/RecommendationFeedback", *request,
            response)) {
      return FromGrpcStatus(*elsewhere);
    }
    auto recorded = engine_->store().RecordFeedback(id, entries);
    if (recorded.ok()) {
      for (const auto& entry : entries) engine_->CountFeedback(entry.score);
    }
    if (!recorded.ok()) {
      if (recorded.status().code() == absl::StatusCode::kNotFound) {
        // The original's messages.
        const std::string message(recorded.status().message());
        return absl::NotFoundError(absl::StrContains(message, "was not part of")
                                       ? message
                                       : absl::StrCat("Invalid recommendation_id: ", id));
      }
      return recorded.status();
    }
    PlainText(response, "OK");
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CompatService::Redirect(grpc::CallbackServerContext* context,
                                                  const cv1::RedirectRequest* request,
                                                  google::api::HttpBody* response) {
  absl::Status valid = absl::OkStatus();
  int64_t id = 0;
  int link = 0;
  if (!IsCanonicalUuid(request->service_id())) {
    valid = Invalid("service_id", absl::StrCat("required, a lower-case UUID; got ",
                                               QuoteForMessage(request->service_id())));
  } else if (!IsCanonicalUuid(request->service_channel_id())) {
    valid = Invalid("service_channel_id", absl::StrCat("required, a lower-case UUID; got ",
                                                       QuoteForMessage(request->service_channel_id())));
  } else if (!absl::SimpleAtoi(request->recommendation_id(), &id) || id < 0) {
    valid = Invalid("recommendation_id", absl::StrCat("required, an integer; got ",
                                                      QuoteForMessage(request->recommendation_id())));
  } else if (!absl::SimpleAtoi(request->link_id(), &link) || link < 0 || link > 30) {
    valid = Invalid("link_id", absl::StrCat("required, an integer 0..30; got ",
                                            QuoteForMessage(request->link_id())));
  } else if (auto s = ValidateText(request->session_id(), "session_id", false); !s.ok()) {
    valid = s;
  } else if (auto t = ValidateText(request->auroraai_access_token(), "auroraai_access_token", false);
             !t.ok()) {
    valid = t;
  }
  if (!valid.ok()) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  return Run(context, [this, context, request, response, id, link]() -> absl::Status {
    if (auto elsewhere = engine_->ForwardIfElsewhere(
            id, context, "/aurora.compat.v1.ServiceRecommender/Redirect", *request, response)) {
      return FromGrpcStatus(*elsewhere);
    }
    auto url = engine_->store().RecordClick(id, request->service_id(),
                                            request->service_channel_id(), link);
    if (!url.ok()) {
      return url.status().code() == absl::StatusCode::kNotFound
                 ? absl::NotFoundError(absl::StrCat("Invalid redirect link: ", url.status().message()))
                 : url.status();
    }
    engine_->CountRedirect();
    std::string target = *url;
    for (const auto& [name, value] : {std::pair{"session_id", &request->session_id()},
                                      std::pair{"auroraai_access_token",
                                                &request->auroraai_access_token()}}) {
      if (value->empty()) continue;
      const size_t hash = target.find('#');
      std::string fragment = hash == std::string::npos ? "" : target.substr(hash);
      if (hash != std::string::npos) target.resize(hash);
      absl::StrAppend(&target, target.find('?') == std::string::npos ? "?" : "&", name, "=",
                      QueryEscape(*value), fragment);
    }
    context->AddInitialMetadata("x-aurora-http-status", "302");
    context->AddInitialMetadata("x-aurora-http-location", target);
    PlainText(response, absl::StrCat("Redirecting to ", target, "\n"));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CompatService::Healthcheck(grpc::CallbackServerContext* context,
                                                     const cv1::HealthcheckRequest*,
                                                     google::api::HttpBody* response) {
  PlainText(response, "Healthcheck OK");
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace aurora::recommender
