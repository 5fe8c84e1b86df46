#include "bench/service_generator.h"

#include <algorithm>
#include <map>
#include <random>
#include <stdexcept>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/text.h"
#include "directory/validation.h"

namespace aurora::bench {
namespace {

namespace v1 = aurora::directory::v1;
using aurora::CodeKind;
using aurora::CodeLists;

// Population of the 30 largest municipalities in thousands (Statistics Finland, 2021, rounded);
// every other municipality weighs kSmallMunicipalityWeight (about the mean of the rest). Together
// the 30 cities get about half of the draws, close to their share of Finland's population.
constexpr std::pair<const char*, uint64_t> kCityWeights[] = {
    {"091", 658}, {"049", 297}, {"837", 244}, {"092", 238}, {"564", 209}, {"853", 195},
    {"179", 144}, {"297", 121}, {"398", 120}, {"609", 84},  {"286", 81},  {"167", 77},
    {"405", 73},  {"109", 68},  {"905", 67},  {"698", 64},  {"743", 64},  {"491", 52},
    {"285", 51},  {"638", 51},  {"272", 48},  {"106", 47},  {"444", 46},  {"186", 45},
    {"257", 40},  {"245", 37},  {"211", 33},  {"980", 33},  {"694", 29},  {"529", 19}};
constexpr uint64_t kSmallMunicipalityWeight = 9;

// Share of LIMITED services with 1, 2 and 3 municipalities (out of 10).
constexpr uint64_t kAreaSizeTenths[3] = {7, 2, 1};

// Probability that a subclass is replaced by a sibling.
constexpr double kSiblingSwapProbability = 1.0 / 3.0;

uint64_t Below(std::mt19937_64& rng, uint64_t n) { return rng() % n; }

bool Chance(std::mt19937_64& rng, double p) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53 < p;
}

// Municipality codes with cumulative weights, for weighted draws.
class MunicipalityDraw {
 public:
  explicit MunicipalityDraw(const CodeLists& codes) {
    std::map<std::string, uint64_t> city_weights;
    for (const auto& [code, weight] : kCityWeights) city_weights.emplace(code, weight);
    for (const auto& [code, municipality] : codes.municipalities()) {  // ordered by code
      auto it = city_weights.find(code);
      total_ += it == city_weights.end() ? kSmallMunicipalityWeight : it->second;
      codes_.push_back(code);
      cumulative_.push_back(total_);
    }
    if (codes_.empty()) throw std::invalid_argument("GenerateServices: no municipalities");
  }

  const std::string& Next(std::mt19937_64& rng) const {
    const uint64_t x = Below(rng, total_);
    const size_t i = static_cast<size_t>(
        std::upper_bound(cumulative_.begin(), cumulative_.end(), x) - cumulative_.begin());
    return codes_[i];
  }

  size_t size() const { return codes_.size(); }

 private:
  std::vector<std::string> codes_;
  std::vector<uint64_t> cumulative_;
  uint64_t total_ = 0;
};

// The children of each parent code of a hierarchical list, in list order.
class Siblings {
 public:
  Siblings(const CodeLists& codes, CodeKind kind) {
    for (const auto& code : codes.codes(kind)) {
      if (!code.parent.empty()) children_[code.parent].push_back(code.code);
      parent_[code.code] = code.parent;
    }
  }

  // A random sibling of `code` (possibly `code` itself); `code` itself for main classes.
  const std::string& Draw(const std::string& code, std::mt19937_64& rng) const {
    auto parent = parent_.find(code);
    if (parent == parent_.end() || parent->second.empty()) return code;
    const auto& children = children_.at(parent->second);
    return children[Below(rng, children.size())];
  }

 private:
  std::map<std::string, std::vector<std::string>> children_;
  std::map<std::string, std::string> parent_;
};

// `text` cut to at most `max` code points (on a code point boundary).
std::string CutToCodePoints(const std::string& text, size_t max) {
  size_t count = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if ((byte & 0xC0) != 0x80) {  // a lead byte starts a code point
      if (count == max) return text.substr(0, i);
      ++count;
    }
  }
  return text;
}

void VaryCodes(google::protobuf::RepeatedPtrField<std::string>* list, const Siblings& siblings,
               std::mt19937_64& rng) {
  for (int i = 0; i < list->size(); ++i) {
    if (!Chance(rng, kSiblingSwapProbability)) continue;
    const std::string& replacement = siblings.Draw(list->Get(i), rng);
    if (std::find(list->begin(), list->end(), replacement) == list->end()) {
      *list->Mutable(i) = replacement;  // keeps the list free of duplicates
    }
  }
}

}  // namespace

std::string SyntheticServiceId(size_t i) {
  return NameBasedUuid(kSyntheticIdNamespace, absl::StrCat("synthetic:", i));
}

std::vector<v1::Service> GenerateServices(const std::vector<v1::Service>& real,
                                          const CodeLists& codes, size_t n, uint64_t seed) {
  std::vector<v1::Service> out;
  out.reserve(n);
  GenerateServicesStreaming(
      real, codes, n, [&](size_t, v1::Service& service) { out.push_back(std::move(service)); },
      seed);
  return out;
}

void GenerateServicesStreaming(const std::vector<v1::Service>& real, const CodeLists& codes,
                               size_t n,
                               const std::function<void(size_t, v1::Service&)>& sink,
                               uint64_t seed) {
  if (real.empty() && n > 0) throw std::invalid_argument("GenerateServices: no real services");
  std::mt19937_64 rng(seed);
  const MunicipalityDraw municipalities(codes);
  const Siblings classes(codes, CodeKind::kServiceClass);
  const Siblings target_groups(codes, CodeKind::kTargetGroup);
  const Siblings life_events(codes, CodeKind::kLifeEvent);

  for (size_t i = 0; i < n; ++i) {
    const v1::Service& base = real[i % real.size()];
    v1::Service service(base);
    service.set_id(SyntheticServiceId(i));
    service.clear_revision();
    service.clear_create_revision();
    service.clear_update_time();
    service.mutable_external_ref()->set_source(std::string(kSyntheticSource));
    service.mutable_external_ref()->set_external_id(base.id());

    const std::string suffix = absl::StrCat(" #", i);
    for (std::string* name :
         {service.mutable_name()->mutable_fi(), service.mutable_name()->mutable_sv(),
          service.mutable_name()->mutable_en()}) {
      if (name->empty()) continue;
      *name =
          absl::StrCat(CutToCodePoints(*name, directory::kMaxNameLength - suffix.size()), suffix);
    }

    if (service.area_type() == v1::AREA_TYPE_LIMITED) {
      const uint64_t tenth = Below(rng, 10);
      size_t count = tenth < kAreaSizeTenths[0]                        ? 1
                     : tenth < kAreaSizeTenths[0] + kAreaSizeTenths[1] ? 2
                                                                       : 3;
      count = std::min(count, municipalities.size());
      service.clear_municipality_codes();
      while (static_cast<size_t>(service.municipality_codes_size()) < count) {
        const std::string& code = municipalities.Next(rng);
        const auto& list = service.municipality_codes();
        if (std::find(list.begin(), list.end(), code) == list.end()) {
          service.add_municipality_codes(code);
        }
      }
    }
    VaryCodes(service.mutable_service_classes(), classes, rng);
    VaryCodes(service.mutable_target_groups(), target_groups, rng);
    VaryCodes(service.mutable_life_events(), life_events, rng);
    sink(i, service);
  }
}

}  // namespace aurora::bench
