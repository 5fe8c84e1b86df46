#pragma once
// The demo catalogue (../shared/data/services.ndjson) in a CatalogueIndex, built once per test
// process, for tests of the ranking logic without a server, ranked as the node ranks it.

#include <memory>

#include "common/codelists.h"
#include "recommender/bilingual_dictionary.h"
#include "recommender/catalogue_index.h"
#include "recommender/crisis.h"
#include "recommender/ranker.h"
#include "recommender/text_analyzer.h"

namespace aurora::recommender::testing {

struct DemoCatalogue {
  std::unique_ptr<CodeLists> codes;
  std::unique_ptr<TextAnalyzer> analyzer;
  std::unique_ptr<CrisisLexicon> crisis;
  // Debian's FreeDict dictionaries (/usr/share/dictd), as the node loads them by default.
  std::unique_ptr<BilingualDictionary> dictionary;
  std::unique_ptr<CatalogueIndex> index;
  std::unique_ptr<Ranker> ranker;  // with the dictionary
};

// Loaded on first use; shared by the tests of one process (read-only for them).
const DemoCatalogue& Demo();

// A fresh, empty index over the same code lists and analyzer (for tests that change it).
struct EmptyCatalogue {
  std::unique_ptr<CatalogueIndex> index;
  std::unique_ptr<Ranker> ranker;
};
EmptyCatalogue Empty();

}  // namespace aurora::recommender::testing
