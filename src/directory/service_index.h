#pragma once
// In-memory index of the live services for filtered, stably paged listing without scans.
//
// Each service is reduced to a sorted set of interned terms ("m:091" available in Helsinki,
// "r:01" in Uusimaa, "c:P5" of class P5 or a subclass, "nat" nationwide, ...). Areas are expanded
// at indexing time (a municipality also yields its region, hospital district and wellbeing
// county), and codes yield their ancestors, so every filter is a lookup. A query is a conjunction
// of dimensions, each a disjunction of terms; it walks the smallest dimension's posting lists in
// id order from the page cursor and checks the other dimensions on each candidate.
//
// It also holds each live service's serialized bytes and revisions, so that reads and list pages
// are served from memory without parsing (about 1.5 KB per service).
//
// Rebuilt at start-up from the store (DESIGN.md §6); never persisted.
// Thread-safe: queries take a shared lock, Put/Remove an exclusive one.

#include <array>
#include <memory>
#include <optional>
#include <cstdint>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "aurora/directory/v1/directory.pb.h"
#include "common/codelists.h"

namespace aurora::directory {

// A canonical UUID as 128 bits; orders like its canonical string.
using ServiceKey = std::array<uint64_t, 2>;
// Parses a canonical (lowercase) UUID; false on anything else.
bool ParseServiceKey(std::string_view uuid, ServiceKey* key);
std::string FormatServiceKey(const ServiceKey& key);

using ServiceBytes = std::shared_ptr<const std::string>;

// A live service as the index holds it.
struct StoredService {
  ServiceBytes bytes;  // the serialized v1::Service
  int64_t revision = 0;
  int64_t create_revision = 0;
};

class ServiceIndex {
 public:
  explicit ServiceIndex(const CodeLists* codes) : codes_(codes) {}

  using Bytes = ServiceBytes;
  using Stored = StoredService;

  // Adds or replaces the service (by id); `bytes` is its serialization. The service must have
  // passed validation.
  void Put(const v1::Service& service, Bytes bytes);
  void Remove(std::string_view service_id);
  void Clear();
  size_t size() const;
  // The live service with this id, if any.
  std::optional<Stored> Get(std::string_view service_id) const;

  // A filter resolved into term dimensions; build one with Compile().
  struct Query {
    std::vector<std::vector<uint32_t>> dimensions;
    bool matches_nothing = false;
  };
  // Compiles the filters of a (validated) ListServicesRequest. Terms unknown to the index make a
  // dimension match nothing, which is correct: no service carries them.
  Query Compile(const v1::ListServicesRequest& request) const;

  // Up to `limit` matching services with id > `after` (or from the start when `after` is
  // empty), in id order; *more is true when further matches exist.
  struct Hit {
    ServiceKey key;
    Bytes bytes;
  };
  std::vector<Hit> Find(const Query& query, std::string_view after, size_t limit,
                        bool* more) const;

 private:
  struct Entry {
    std::vector<uint32_t> terms;  // sorted
    Stored stored;
  };

  uint32_t InternLocked(const std::string& term);
  // The term ids a code stands for, with its expansions (a municipality's region, hospital
  // district and county; a code's ancestors), memoised per "<prefix><code>".
  const std::vector<uint32_t>& CodeTermsLocked(char prefix, const std::string& code);
  std::vector<uint32_t> TermIdsLocked(const v1::Service& service);
  void RemoveLocked(const ServiceKey& key);
  // Term id or -1.
  int64_t LookupLocked(const std::string& term) const;

  const CodeLists* codes_;
  mutable std::shared_mutex mu_;
  absl::btree_map<ServiceKey, Entry> entries_;
  absl::flat_hash_map<std::string, uint32_t> term_ids_;
  absl::flat_hash_map<std::string, std::vector<uint32_t>> code_terms_;
  std::vector<absl::btree_set<ServiceKey>> postings_;
};

}  // namespace aurora::directory
