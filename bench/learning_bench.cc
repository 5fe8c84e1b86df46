// learning_bench: simulated people with hidden preferences use the recommender over rounds; each
// round's clicks and feedback are what three systems learn from. It prints nDCG@10 per round,
// measured against the hidden preferences, for:
//   none        the ranker's order (no learning);
//   popularity  the original AuroraAI's effective behaviour: services clicked before first
//               (its reranker split on "was this clicked before"), then the ranker's order;
//   learnt      recommender/learning.h: the model retrained after every round on everything
//               logged, with exploration.
// New services (a better copy of existing ones, without history) arrive at round --new-round:
// the bench also counts how often each system shows them.
//
//   ./build/release/bench/learning_bench [--rounds N] [--requests R] [--people P] [--seed S]
//       [--epsilon E] [--new-round K] [--source-dir DIR]
//
// The simulation (all of it seeded):
//   * a person: a home municipality of five and two or three life areas with answers 0..4;
//   * the hidden utility of a service for a person: need x relevance of the service's life areas
//     (as the ranker also sees them) + 0.8 x the service's hidden quality q ~ N(0, 1) (the ranker
//     does not see it; clicks reveal it), the new services' q drawn from N(1.5, 0.3);
//   * a shown list of 10: position k examined with probability 1/k; an examined service clicked
//     with probability sigmoid(3 (utility - 0.6)); a click followed by feedback with probability
//     0.3, +1 when utility > 0.6, else -1;
//   * nDCG@10 per round: every person's request ranked once by each system (no exploration),
//     gains = max(0, utility), ideal = the best 10 of the ranker's 100 candidates.
// Exit status 0 when it ran; the targets are printed as PASS/FAIL lines.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/bench_args.h"
#include "common/codelists.h"
#include "directory/catalogue_format.h"
#include "recommender/catalogue_index.h"
#include "recommender/crisis.h"
#include "recommender/learning.h"
#include "recommender/life_areas.h"
#include "recommender/ranker.h"
#include "recommender/text_analyzer.h"

namespace aurora {
namespace {

namespace dv1 = aurora::directory::v1;
using namespace recommender;  // NOLINT: a bench of the recommender's parts

constexpr char kUsage[] =
    "Usage: learning_bench [--rounds N] [--requests R] [--people P] [--seed S] [--epsilon E]\n"
    "         [--new-round K] [--source-dir DIR]\n"
    "  --rounds N      rounds of requests (default 15)\n"
    "  --requests R    requests per round and system (default 300)\n"
    "  --people P      simulated people (default 60)\n"
    "  --seed S        of everything random (default 1)\n"
    "  --epsilon E     the learnt system's exploration rate (default 0.1)\n"
    "  --new-round K   the round whose start brings the new services (default 6)\n"
    "  --source-dir DIR  services.ndjson and codelists/ (default " AURORA_DATA_DIR ")\n";

constexpr const char* kMunicipalities[] = {"091", "564", "853", "837", "179"};
constexpr size_t kShown = 10;
constexpr size_t kPool = 100;

struct Person {
  RankRequest request;
  std::array<double, kLifeAreaCount> need{};
};

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

class World {
 public:
  explicit World(uint64_t seed) : rng_(seed) {}
  std::mt19937_64& rng() { return rng_; }

  double Quality(const std::string& id) {
    auto it = quality_.find(id);
    if (it != quality_.end()) return it->second;
    const double q = std::normal_distribution<double>(0, 1)(rng_);
    quality_[id] = q;
    return q;
  }
  void SetQuality(const std::string& id, double q) { quality_[id] = q; }

  double Utility(const Person& person, const dv1::Service& service) {
    const LifeAreaProfile profile = ProfileOf(service);
    double match = 0, norm = 0;
    for (int k = 0; k < kLifeAreaCount; ++k) {
      match += person.need[k] * profile.relevance[k];
      norm += person.need[k];
    }
    return (norm > 0 ? match / norm : 0) + 0.8 * Quality(service.id());
  }

 private:
  std::mt19937_64 rng_;
  std::map<std::string, double> quality_;
};

enum class System { kNone, kPopularity, kLearnt };
constexpr const char* kSystemNames[] = {"none", "popularity", "learnt"};

struct SystemState {
  StatsTable stats;
  RankingModel model;
  std::vector<Impression> log;
  std::set<std::string> clicked_before;
  int64_t new_shown = 0;
  int64_t explorations = 0;
};

// The system's order of the ranker's list (the first kShown are shown).
std::vector<RankedService> Order(System system, SystemState& state, RankResult result,
                                 std::mt19937_64* explore, double epsilon) {
  std::vector<RankedService> list = std::move(result.services);
  if (system == System::kPopularity) {
    std::stable_partition(list.begin(), list.end(), [&](const RankedService& r) {
      return state.clicked_before.contains(r.service->id());
    });
  } else if (system == System::kLearnt) {
    RerankOptions options;
    options.epsilon = explore != nullptr ? epsilon : 0;
    if (Rerank(&list, state.model, state.stats, options, kShown, explore)) ++state.explorations;
  }
  return list;
}

double Ndcg(World& world, const Person& person, const std::vector<RankedService>& shown,
            const std::vector<RankedService>& pool) {
  std::vector<double> ideal;
  for (const auto& r : pool) ideal.push_back(std::max(0.0, world.Utility(person, *r.service)));
  std::sort(ideal.rbegin(), ideal.rend());
  double dcg = 0, idcg = 0;
  for (size_t i = 0; i < kShown; ++i) {
    if (i < shown.size())
      dcg += std::max(0.0, world.Utility(person, *shown[i].service)) / std::log2(i + 2.0);
    if (i < ideal.size()) idcg += ideal[i] / std::log2(i + 2.0);
  }
  return idcg > 0 ? dcg / idcg : 0;
}

int Run(int argc, char** argv) {
  int rounds = 15, requests = 300, people = 60, seed = 1, new_round = 6;
  double epsilon = 0.1;
  std::string source = AURORA_DATA_DIR;
  bench::ArgReader args(argc, argv, kUsage);
  while (args.Next()) {
    if (!args.TakeValue()) return 1;
    const std::string& o = args.option();
    if (o == "--rounds") {
      if (!args.Integer(1, 1000, &rounds)) return 1;
    } else if (o == "--requests") {
      if (!args.Integer(1, 100000, &requests)) return 1;
    } else if (o == "--people") {
      if (!args.Integer(1, 100000, &people)) return 1;
    } else if (o == "--seed") {
      if (!args.Integer(0, 1 << 30, &seed)) return 1;
    } else if (o == "--new-round") {
      if (!args.Integer(1, 1000, &new_round)) return 1;
    } else if (o == "--epsilon") {
      if (!absl::SimpleAtod(args.value(), &epsilon) || epsilon < 0 || epsilon > 1) {
        std::fprintf(stderr, "--epsilon: expected a number in 0..1, got \"%s\"\n",
                     args.value().c_str());
        return 1;
      }
    } else if (o == "--source-dir") {
      source = args.value();
    } else {
      args.Unknown();
      return 1;
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto codes = CodeLists::LoadFromDirectory(source + "/codelists");
  auto analyzer = TextAnalyzer::Create();
  if (!codes.ok() || !analyzer.ok()) {
    std::fprintf(stderr, "cannot load the code lists or the text analyzer\n");
    return 1;
  }
  CrisisLexicon crisis(**analyzer);
  CatalogueIndex index(&*codes, analyzer->get(), &crisis);
  Ranker ranker(&index);
  auto read = directory::ReadCatalogueFile(source + "/services.ndjson",
                                           directory::CatalogueFormat::kNdjson, *codes);
  if (!read.ok()) {
    std::fprintf(stderr, "%s\n", std::string(read.status().message()).c_str());
    return 1;
  }
  for (const auto& record : read->records) index.Upsert(record.service);
  index.SetRevision(1);

  World world(static_cast<uint64_t>(seed));
  std::vector<Person> persons;
  for (int i = 0; i < people; ++i) {
    Person p;
    p.request.municipality_code = kMunicipalities[world.rng()() % 5];
    const int areas = 2 + static_cast<int>(world.rng()() % 2);
    std::set<int> chosen;
    while (static_cast<int>(chosen.size()) < areas) {
      chosen.insert(static_cast<int>(world.rng()() % kLifeAreaCount));
    }
    for (int k : chosen) {
      const int answer = static_cast<int>(world.rng()() % 5);
      auto* field = p.request.meters.GetDescriptor()->FindFieldByName(std::string(LifeAreaKey(k)));
      p.request.meters.GetReflection()->AddInt32(&p.request.meters, field, answer);
      p.need[k] = 1.0 - answer / 10.0;
    }
    p.request.limit = kPool;
    persons.push_back(std::move(p));
  }

  std::array<SystemState, 3> states;
  std::mt19937_64 behaviour(static_cast<uint64_t>(seed) + 17);
  std::mt19937_64 explore(static_cast<uint64_t>(seed) + 29);
  std::set<std::string> new_ids;
  int64_t clock_ms = 0;
  std::vector<std::array<double, 3>> ndcg_by_round;
  std::printf(
      "learning_bench: %zu services, %d people, %d rounds x %d requests, epsilon %.2f, "
      "new services at round %d\n\n",
      index.size(), people, rounds, requests, epsilon, new_round);
  std::printf("%6s %10s %11s %9s %13s %13s %13s %8s\n", "round", "none", "popularity", "learnt",
              "new shown:pop", "new shown:lrn", "model impr.", "explored");
  for (int round = 1; round <= rounds; ++round) {
    if (round == new_round) {
      // New services: better copies of services people need, with no history.
      const auto& pool_person = persons.front();
      int added = 0;
      for (const Person& p : persons) {
        if (added >= 30) break;
        RankResult r = ranker.Rank(p.request);
        for (size_t i = 0; i < r.services.size() && i < 3 && added < 30; ++i) {
          dv1::Service copy = *r.services[i].service;
          copy.set_id(absl::StrCat("f0000000-0000-4000-8000-", absl::StrFormat("%012d", added)));
          copy.mutable_name()->set_fi(copy.name().fi() + " (uusi)");
          index.Upsert(copy);
          world.SetQuality(copy.id(), std::normal_distribution<double>(1.5, 0.3)(world.rng()));
          new_ids.insert(copy.id());
          ++added;
        }
      }
      (void)pool_person;
    }
    // Evaluation, before this round's interactions.
    std::array<double, 3> ndcg{};
    for (const Person& p : persons) {
      RankResult base = ranker.Rank(p.request);
      for (int s = 0; s < 3; ++s) {
        auto shown = Order(static_cast<System>(s), states[s], base, nullptr, 0);
        ndcg[s] += Ndcg(world, p, shown, base.services);
      }
    }
    for (double& v : ndcg) v /= static_cast<double>(persons.size());
    ndcg_by_round.push_back(ndcg);
    // Interactions.
    std::array<int64_t, 3> new_shown{};
    for (int n = 0; n < requests; ++n) {
      const Person& p = persons[behaviour() % persons.size()];
      RankResult base = ranker.Rank(p.request);
      ++clock_ms;
      for (int s = 0; s < 3; ++s) {
        SystemState& state = states[s];
        auto shown = Order(static_cast<System>(s), state, base, &explore, epsilon);
        const double top = shown.empty() ? 0 : shown.front().score;
        for (size_t k = 0; k < kShown && k < shown.size(); ++k) {
          const auto& r = shown[k];
          const std::string& id = r.service->id();
          if (new_ids.contains(id)) ++new_shown[s];
          Impression imp;
          imp.service_id = id;
          imp.position = static_cast<int>(k) + 1;
          imp.features = Features(r, top, state.stats.Of(id), state.stats, imp.position);
          imp.time_ms = clock_ms;
          state.stats.Impression(id, imp.position);
          const double u = world.Utility(p, *r.service);
          const bool examined =
              std::uniform_real_distribution<double>(0, 1)(behaviour) < 1.0 / (k + 1.0);
          if (examined &&
              std::uniform_real_distribution<double>(0, 1)(behaviour) < Sigmoid(3 * (u - 0.6))) {
            imp.clicked = true;
            state.stats.Click(id);
            state.clicked_before.insert(id);
            if (std::uniform_real_distribution<double>(0, 1)(behaviour) < 0.3) {
              imp.feedback = u > 0.6 ? 1 : -1;
              state.stats.Feedback(id, imp.feedback);
            }
          }
          state.log.push_back(std::move(imp));
        }
      }
    }
    // The learnt system retrains on everything logged.
    auto model = TrainRankingModel(states[2].log);
    if (model.ok()) {
      model->version = round;
      states[2].model = *std::move(model);
    }
    std::printf("%6d %10.4f %11.4f %9.4f %13lld %13lld %13lld %8lld\n", round, ndcg[0], ndcg[1],
                ndcg[2], static_cast<long long>(new_shown[1]), static_cast<long long>(new_shown[2]),
                static_cast<long long>(states[2].model.impressions),
                static_cast<long long>(states[2].explorations));
    std::fflush(stdout);
    states[1].new_shown += new_shown[1];
    states[2].new_shown += new_shown[2];
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("\n(nDCG@10 of each round is measured before that round's interactions; %.1f s)\n",
              seconds);
  const int check = std::min(10, rounds);
  const auto& at = ndcg_by_round[static_cast<size_t>(check - 1)];
  const bool beats = at[2] > at[0] && at[2] > at[1];
  std::printf("learnt beats none and popularity by round %d: %s (%.4f vs %.4f and %.4f)\n", check,
              beats ? "PASS" : "FAIL", at[2], at[0], at[1]);
  std::printf(
      "learnt shows the new services (not starved): %s (%lld impressions in top %zu after "
      "round %d; popularity %lld)\n",
      states[2].new_shown > 0 ? "PASS" : "FAIL", static_cast<long long>(states[2].new_shown),
      kShown, new_round, static_cast<long long>(states[1].new_shown));
  return 0;
}

}  // namespace
}  // namespace aurora

int main(int argc, char** argv) { return aurora::Run(argc, argv); }
