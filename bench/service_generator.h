#pragma once
// Deterministic synthetic services for benchmarks at scale (DESIGN.md §9): N services derived
// from the real catalogue (../shared/data/services.ndjson), so that message sizes, texts, channels
// and the mix of filterable fields stay realistic while the ids are new.
//
// Synthetic service i is a copy of real service i mod |real| with
//   * id: NameBasedUuid(kSyntheticIdNamespace, "synthetic:<i>"), and external_ref naming the real
//     service it was derived from;
//   * name: each given language with the suffix " #<i>" (cut to the 200 code point limit);
//   * area: nationwide services stay nationwide; LIMITED services get 1–3 municipality codes
//     drawn from the code list, weighted by population toward the big cities;
//   * service classes, target groups and life events: the real codes, each subclass replaced by a
//     random sibling with probability 1/3 (main classes are kept, so the share of services under
//     each main class stays that of the real data); languages, funding and organisation unchanged.
//
// The output depends only on (real, codes, n, seed): the random stream is std::mt19937_64 with
// the given seed, mapped to choices with plain modulo and 53-bit fractions (not the
// implementation-defined std:: distributions), so it is the same with every standard library.
// Pure function; thread-safe.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "aurora/directory/v1/directory.pb.h"
#include "common/codelists.h"

namespace aurora::bench {

inline constexpr uint64_t kGeneratorSeed = 20221231;

// Namespace of the name-based UUIDs of synthetic services.
inline constexpr std::string_view kSyntheticIdNamespace = "b3c1e9a4-7d2f-5e80-9a61-2f4c8d0e7b35";

// external_ref.source of synthetic services (external_id is the real service's id).
inline constexpr std::string_view kSyntheticSource = "aurora-bench-synthetic";

// The id of synthetic service i.
std::string SyntheticServiceId(size_t i);

// `real` must be non-empty and should have passed directory::ValidateService; the result then
// passes it too (the bench checks).
std::vector<directory::v1::Service> GenerateServices(
    const std::vector<directory::v1::Service>& real, const CodeLists& codes, size_t n,
    uint64_t seed = kGeneratorSeed);

// The same services as GenerateServices, handed over one at a time in order (i = 0..n-1) instead
// of all at once, so that a caller that consumes them in batches never holds all n: `sink(i,
// service)` may move from `service`. GenerateServices is this with a sink that collects them.
void GenerateServicesStreaming(
    const std::vector<directory::v1::Service>& real, const CodeLists& codes, size_t n,
    const std::function<void(size_t i, directory::v1::Service& service)>& sink,
    uint64_t seed = kGeneratorSeed);

}  // namespace aurora::bench
