#include "recommender/feedback_store.h"

#include <openssl/rand.h>

#include <array>
#include <chrono>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/log.h"
#include "common/text.h"
#include "nlohmann/json.hpp"

namespace aurora::recommender {
namespace {

using json = nlohmann::json;

std::string RecommendationKey(int64_t id) { return absl::StrFormat("r/%016x", id); }
std::string Prefix(char kind, int64_t id) { return absl::StrFormat("%c/%016x/", kind, id); }

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<std::pair<std::string, std::string>> Scan(rocksdb::DB* db,
                                                      rocksdb::ColumnFamilyHandle* family,
                                                      const std::string& prefix) {
  std::vector<std::pair<std::string, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), family));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    out.emplace_back(it->key().ToString(), it->value().ToString());
  }
  return out;
}

// 53 random bits from OpenSSL's CSPRNG, never 0. Drawn from a per-thread buffer filled 64 ids
// at a time: RAND_bytes costs several microseconds per call (locking and reseed checks of the
// DRBG), and this runs for every answer. The bytes are as unpredictable either way.
absl::StatusOr<uint64_t> RandomId() {
  thread_local std::array<uint64_t, 64> buffer;
  thread_local size_t next = buffer.size();
  while (true) {
    if (next == buffer.size()) {
      if (RAND_bytes(reinterpret_cast<unsigned char*>(buffer.data()),
                     static_cast<int>(sizeof buffer)) != 1) {
        return absl::InternalError("OpenSSL RAND_bytes failed");
      }
      next = 0;
    }
    const uint64_t id = buffer[next] & ((uint64_t{1} << 53) - 1);
    buffer[next++] = 0;  // handed out once
    if (id != 0) return id;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<FeedbackStore>> FeedbackStore::Open(Database* database) {
  rocksdb::ColumnFamilyHandle* family = database->family(kRecommenderColumnFamily);
  if (family == nullptr) {
    return absl::FailedPreconditionError("the database has no \"recommender\" column family");
  }
  std::string format;
  rocksdb::Status s = database->db()->Get(rocksdb::ReadOptions(), family, "format", &format);
  if (s.IsNotFound()) {
    rocksdb::WriteOptions options;
    options.sync = true;
    s = database->db()->Put(options, family, "format", R"({"version": 1})");
    if (!s.ok()) return FromRocksStatus(s, "writing the recommender format version");
  } else if (!s.ok()) {
    return FromRocksStatus(s, "reading the recommender format version");
  } else {
    const json doc = json::parse(format, nullptr, false);
    if (!doc.is_object() || doc.value("version", 0) != 1) {
      return absl::FailedPreconditionError(
          absl::StrCat("unsupported recommender storage format ", QuoteForMessage(format)));
    }
  }
  return std::unique_ptr<FeedbackStore>(new FeedbackStore(database, family));
}

absl::StatusOr<int64_t> FeedbackStore::SaveRecommendation(StoredRecommendation recommendation) {
  auto random = RandomId();
  if (!random.ok()) return random.status();
  recommendation.id = static_cast<int64_t>(*random);
  // Written directly (the same document nlohmann would write, several times faster: this runs
  // for every answer); GetRecommendation reads it with nlohmann.
  std::string value = absl::StrCat(
      "{\"time_ms\":", NowMs(), ",\"path\":", JsonQuote(recommendation.path),
      ",\"client\":", JsonQuote(recommendation.client),
      ",\"organization\":", JsonQuote(recommendation.organization),
      ",\"session\":", JsonQuote(recommendation.session), ",\"services\":[");
  for (size_t i = 0; i < recommendation.services.size(); ++i) {
    const StoredService& service = recommendation.services[i];
    absl::StrAppend(&value, i == 0 ? "" : ",", "{\"id\":", JsonQuote(service.id));
    if (service.position > 0) absl::StrAppend(&value, ",\"p\":", service.position);
    if (!service.features.empty()) {
      value += ",\"f\":[";
      for (size_t f = 0; f < service.features.size(); ++f) {
        absl::StrAppend(&value, f == 0 ? "" : ",", absl::StrFormat("%.6g", service.features[f]));
      }
      value += "]";
    }
    value += ",\"channels\":[";
    for (size_t j = 0; j < service.channels.size(); ++j) {
      const auto& channel = service.channels[j];
      absl::StrAppend(&value, j == 0 ? "" : ",", "{\"id\":", JsonQuote(channel.id),
                      ",\"urls\":[");
      for (size_t k = 0; k < channel.urls.size(); ++k) {
        absl::StrAppend(&value, k == 0 ? "" : ",", JsonQuote(channel.urls[k]));
      }
      value += "]}";
    }
    value += "]}";
  }
  value += "]}";
  rocksdb::WriteOptions options;  // WAL, no fsync wait (see the header)
  rocksdb::Status s =
      database_->db()->Put(options, family_, RecommendationKey(recommendation.id), value);
  if (!s.ok()) return FromRocksStatus(s, "storing a recommendation");
  return recommendation.id;
}

bool FeedbackStore::HasRecommendation(int64_t id) const {
  rocksdb::PinnableSlice value;
  return database_->db()
      ->Get(rocksdb::ReadOptions(), family_, RecommendationKey(id), &value)
      .ok();
}

absl::StatusOr<StoredRecommendation> FeedbackStore::GetRecommendation(int64_t id) const {
  std::string value;
  rocksdb::Status s =
      database_->db()->Get(rocksdb::ReadOptions(), family_, RecommendationKey(id), &value);
  if (s.IsNotFound()) {
    return absl::NotFoundError(absl::StrCat("recommendation ", id, " does not exist"));
  }
  if (!s.ok()) return FromRocksStatus(s, "reading a recommendation");
  const json doc = json::parse(value, nullptr, false);
  if (!doc.is_object()) {
    return absl::DataLossError(absl::StrCat("recommendation ", id, " is not readable"));
  }
  StoredRecommendation out;
  out.id = id;
  out.time_ms = doc.value("time_ms", int64_t{0});
  out.path = doc.value("path", "");
  out.client = doc.value("client", "");
  out.organization = doc.value("organization", "");
  out.session = doc.value("session", "");
  if (auto it = doc.find("services"); it != doc.end() && it->is_array()) {
    for (const auto& service : *it) {
      StoredService stored{service.value("id", ""), {}};
      stored.position = service.value("p", 0);
      if (auto f = service.find("f"); f != service.end() && f->is_array()) {
        for (const auto& v : *f) stored.features.push_back(v.is_number() ? v.get<float>() : 0.0f);
      }
      if (auto ch = service.find("channels"); ch != service.end() && ch->is_array()) {
        for (const auto& channel : *ch) {
          stored.channels.push_back(
              {channel.value("id", ""), channel.value("urls", std::vector<std::string>{})});
        }
      }
      out.services.push_back(std::move(stored));
    }
  }
  return out;
}

absl::StatusOr<int> FeedbackStore::RecordFeedback(int64_t id,
                                                  const std::vector<FeedbackEntry>& entries) {
  auto recommendation = GetRecommendation(id);
  if (!recommendation.ok()) return recommendation.status();
  rocksdb::WriteBatch batch;
  const int64_t now = NowMs();
  for (const auto& entry : entries) {
    if (!entry.service_id.empty()) {
      bool found = false;
      for (const auto& s : recommendation->services) found |= s.id == entry.service_id;
      if (!found) {
        return absl::NotFoundError(absl::StrCat("service ", QuoteForMessage(entry.service_id),
                                                " was not part of recommendation ", id));
      }
    }
    const json doc = {{"time_ms", now}, {"service_id", entry.service_id}, {"score", entry.score}};
    batch.Put(family_, Prefix('f', id) + NewRandomUuid(), doc.dump());
  }
  if (entries.empty()) return 0;
  rocksdb::WriteOptions options;
  options.sync = true;
  rocksdb::Status s = database_->db()->Write(options, &batch);
  if (!s.ok()) return FromRocksStatus(s, "storing feedback");
  return static_cast<int>(entries.size());
}

absl::StatusOr<std::string> FeedbackStore::RecordClick(int64_t id, const std::string& service_id,
                                                       const std::string& channel_id, int link) {
  auto recommendation = GetRecommendation(id);
  if (!recommendation.ok()) return recommendation.status();
  const StoredService* service = nullptr;
  for (const auto& s : recommendation->services) {
    if (s.id == service_id) service = &s;
  }
  if (service == nullptr) {
    return absl::NotFoundError(absl::StrCat("service ", QuoteForMessage(service_id),
                                            " was not part of recommendation ", id));
  }
  const StoredChannel* channel = nullptr;
  for (const auto& c : service->channels) {
    if (c.id == channel_id) channel = &c;
  }
  if (channel == nullptr) {
    return absl::NotFoundError(absl::StrCat("channel ", QuoteForMessage(channel_id),
                                            " is not a channel of service ", service_id,
                                            " in recommendation ", id));
  }
  if (link < 0 || link >= static_cast<int>(channel->urls.size())) {
    return absl::NotFoundError(absl::StrCat("channel ", channel_id, " has no link ", link, " (it has ",
                                            channel->urls.size(), ")"));
  }
  const std::string& url = channel->urls[link];
  const json doc = {{"time_ms", NowMs()},
                    {"service_id", service_id},
                    {"channel_id", channel_id},
                    {"link", link},
                    {"url", url}};
  rocksdb::WriteOptions options;
  options.sync = true;
  rocksdb::Status s =
      database_->db()->Put(options, family_, Prefix('c', id) + NewRandomUuid(), doc.dump());
  if (!s.ok()) return FromRocksStatus(s, "storing a click");
  return url;
}

absl::Status FeedbackStore::ForEachLogged(const std::function<void(const Logged&)>& visit) const {
  // Clicks and feedback first (their keys sort before the recommendations'), by recommendation.
  absl::flat_hash_map<int64_t, std::vector<std::string>> clicked;
  absl::flat_hash_map<int64_t, absl::flat_hash_map<std::string, std::pair<int64_t, int>>> feedback;
  std::unique_ptr<rocksdb::Iterator> it(
      database_->db()->NewIterator(rocksdb::ReadOptions(), family_));
  const auto id_of = [](const rocksdb::Slice& key) -> int64_t {
    // "<kind>/<16 hex>/..."
    if (key.size() < 18) return 0;
    uint64_t id = 0;
    for (size_t i = 2; i < 18; ++i) {
      const char c = key[i];
      id = id * 16 + static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    return static_cast<int64_t>(id);
  };
  for (it->Seek("c/"); it->Valid() && it->key().starts_with("c/"); it->Next()) {
    const json doc = json::parse(it->value().ToString(), nullptr, false);
    if (doc.is_object()) clicked[id_of(it->key())].push_back(doc.value("service_id", ""));
  }
  for (it->Seek("f/"); it->Valid() && it->key().starts_with("f/"); it->Next()) {
    const json doc = json::parse(it->value().ToString(), nullptr, false);
    if (!doc.is_object() || doc.value("service_id", "").empty()) continue;
    auto& latest = feedback[id_of(it->key())][doc.value("service_id", "")];
    const int64_t time = doc.value("time_ms", int64_t{0});
    if (time >= latest.first) latest = {time, doc.value("score", 0)};
  }
  for (it->Seek("r/"); it->Valid() && it->key().starts_with("r/"); it->Next()) {
    const int64_t id = static_cast<int64_t>(std::stoull(it->key().ToString().substr(2), nullptr, 16));
    auto recommendation = GetRecommendation(id);
    if (!recommendation.ok()) continue;
    Logged logged;
    logged.recommendation = *std::move(recommendation);
    if (auto c = clicked.find(id); c != clicked.end()) logged.clicked = c->second;
    if (auto f = feedback.find(id); f != feedback.end()) {
      for (const auto& [service, latest] : f->second) {
        logged.feedback.emplace_back(service, latest.second);
      }
    }
    visit(logged);
  }
  if (!it->status().ok()) return FromRocksStatus(it->status(), "reading the recommendation log");
  return absl::OkStatus();
}

std::vector<FeedbackEntry> FeedbackStore::FeedbackOf(int64_t id) const {
  std::vector<FeedbackEntry> out;
  for (const auto& [key, value] : Scan(database_->db(), family_, Prefix('f', id))) {
    const json doc = json::parse(value, nullptr, false);
    if (doc.is_object()) out.push_back({doc.value("service_id", ""), doc.value("score", 0)});
  }
  return out;
}

std::vector<std::string> FeedbackStore::ClicksOf(int64_t id) const {
  std::vector<std::string> out;
  for (const auto& [key, value] : Scan(database_->db(), family_, Prefix('c', id))) {
    const json doc = json::parse(value, nullptr, false);
    if (doc.is_object()) out.push_back(doc.value("url", ""));
  }
  return out;
}

}  // namespace aurora::recommender
