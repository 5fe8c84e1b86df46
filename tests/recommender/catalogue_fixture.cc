#include "catalogue_fixture.h"

#include <catch2/catch.hpp>
#include <string>

#include "directory/catalogue_format.h"

namespace aurora::recommender::testing {

const DemoCatalogue& Demo() {
  static const DemoCatalogue* demo = [] {
    auto* d = new DemoCatalogue;
    auto codes = CodeLists::LoadFromDirectory(std::string(AURORA_DATA_DIR) + "/codelists");
    REQUIRE(codes.ok());
    d->codes = std::make_unique<CodeLists>(std::move(*codes));
    auto analyzer = TextAnalyzer::Create();
    REQUIRE(analyzer.ok());
    d->analyzer = std::move(*analyzer);
    d->crisis = std::make_unique<CrisisLexicon>(*d->analyzer);
    auto dictionary = BilingualDictionary::Load("/usr/share/dictd", *d->analyzer);
    INFO(dictionary.status().ToString());
    REQUIRE(dictionary.ok());
    d->dictionary = std::move(*dictionary);
    d->index = std::make_unique<CatalogueIndex>(d->codes.get(), d->analyzer.get(), d->crisis.get());
    auto read = directory::ReadCatalogueFile(std::string(AURORA_DATA_DIR) + "/services.ndjson",
                                             directory::CatalogueFormat::kNdjson, *d->codes);
    REQUIRE(read.ok());
    REQUIRE(read->records.size() == 3088);
    for (const auto& record : read->records) {
      d->index->Upsert(record.service);
      if (!record.organization.id().empty()) {
        d->index->SetOrganizationName(record.organization.id(), record.organization.name().fi());
      }
    }
    d->index->SetRevision(1);
    d->ranker = std::make_unique<Ranker>(d->index.get(), RankingParameters{}, d->dictionary.get());
    return d;
  }();
  return *demo;
}

EmptyCatalogue Empty() {
  const DemoCatalogue& demo = Demo();
  EmptyCatalogue e;
  e.index = std::make_unique<CatalogueIndex>(demo.codes.get(), demo.analyzer.get(),
                                             demo.crisis.get());
  e.ranker = std::make_unique<Ranker>(e.index.get(), RankingParameters{}, demo.dictionary.get());
  return e;
}

}  // namespace aurora::recommender::testing
