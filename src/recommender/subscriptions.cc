#include "recommender/subscriptions.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <rocksdb/write_batch.h>

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/log.h"
#include "common/status.h"
#include "common/text.h"
#include "recommender/feedback_store.h"
#include "recommender/requests.h"

namespace aurora::recommender {
namespace {

namespace rv1 = aurora::recommender::v1;

std::string SubscriptionKey(const std::string& id) { return absl::StrCat("s/", id); }
std::string MatchPrefix(const std::string& id) { return absl::StrCat("q/", id, "/"); }
std::string MatchKey(const std::string& id, int64_t sequence) {
  return absl::StrCat(MatchPrefix(id), absl::StrFormat("%016x", sequence));
}

std::string Sha256Hex(std::string_view bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

absl::StatusOr<std::string> NewToken() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    return absl::InternalError("OpenSSL RAND_bytes failed");
  }
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(bytes), 32));
}

google::protobuf::Timestamp ToProto(absl::Time t) {
  google::protobuf::Timestamp out;
  const int64_t micros = absl::ToUnixMicros(t);
  out.set_seconds(micros / 1000000);
  out.set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
  return out;
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// The situation of a subscription as Recommend validates it.
absl::StatusOr<RankRequest> SituationOf(const rv1::SubscribeRequest& s, const CodeLists& codes) {
  return ToRankRequest(AsRecommendRequest(s), codes);
}

absl::Status NotFound(const std::string& id) {
  return absl::NotFoundError(
      absl::StrCat("subscription_id: no subscription ", QuoteForMessage(id),
                   " with this token (unknown, expired or deleted, or the token is not its own)"));
}

}  // namespace

Subscriptions::Subscriptions(Database* database, rocksdb::ColumnFamilyHandle* family,
                             const Ranker* ranker, const CodeLists* codes,
                             SubscriptionOptions options)
    : database_(database),
      family_(family),
      ranker_(ranker),
      codes_(codes),
      options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<Subscriptions>> Subscriptions::Open(Database* database,
                                                                   const Ranker* ranker,
                                                                   const CodeLists* codes,
                                                                   SubscriptionOptions options) {
  rocksdb::ColumnFamilyHandle* family = database->family(kRecommenderColumnFamily);
  if (family == nullptr) {
    return absl::FailedPreconditionError("the database has no \"recommender\" column family");
  }
  std::unique_ptr<Subscriptions> out(
      new Subscriptions(database, family, ranker, codes, std::move(options)));
  std::unique_ptr<rocksdb::Iterator> it(
      database->db()->NewIterator(rocksdb::ReadOptions(), family));
  for (it->Seek("s/"); it->Valid() && it->key().starts_with("s/"); it->Next()) {
    Live live;
    if (!live.stored.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError(
          absl::StrCat("subscription record ", it->key().ToString(), " does not parse"));
    }
    auto situation = SituationOf(live.stored.situation(), *codes);
    if (situation.ok()) {
      live.situation = *std::move(situation);
      live.matchable = true;
    } else {
      LogWarning("recommender", "a saved situation no longer validates; it is not matched",
                 {{"subscription_id", live.stored.subscription_id()},
                  {"error", std::string(situation.status().message())}});
    }
    std::string id = live.stored.subscription_id();
    out->live_.emplace(std::move(id), std::move(live));
  }
  if (!it->status().ok()) return FromRocksStatus(it->status(), "reading subscriptions");
  return out;
}

Subscriptions::~Subscriptions() { Stop(); }

absl::Time Subscriptions::Now() const { return options_.now ? options_.now() : absl::Now(); }

void Subscriptions::Start() {
  std::lock_guard<std::mutex> lock(queue_mu_);
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] { Run(); });
}

void Subscriptions::Stop() {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Subscriptions::SetListener(std::function<void(const std::string& id)> listener) {
  std::lock_guard<std::mutex> lock(mu_);
  listener_ = std::move(listener);
}

void Subscriptions::Notify(const std::string& id) {
  std::function<void(const std::string&)> listener;
  {
    std::lock_guard<std::mutex> lock(mu_);
    listener = listener_;
  }
  if (listener) listener(id);
}

size_t Subscriptions::active() const {
  std::lock_guard<std::mutex> lock(mu_);
  return live_.size();
}

int64_t Subscriptions::matched_revision() const {
  std::lock_guard<std::mutex> lock(queue_mu_);
  return matched_revision_;
}

bool Subscriptions::WaitForRevision(int64_t revision, absl::Duration timeout) const {
  std::unique_lock<std::mutex> lock(queue_mu_);
  return queue_cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                            [&] { return matched_revision_ >= revision; });
}

absl::StatusOr<rv1::Subscription> Subscriptions::Create(const rv1::SubscribeRequest& request,
                                                        int64_t revision) {
  auto situation = SituationOf(request, *codes_);
  if (!situation.ok()) return situation.status();
  auto token = NewToken();
  if (!token.ok()) return token.status();
  const absl::Time now = Now();
  const absl::Duration lifetime =
      request.days() == 0 ? options_.default_lifetime
                          : std::min(absl::Hours(24 * request.days()), options_.max_lifetime);
  Live live;
  live.stored.set_subscription_id(NewRandomUuid());
  live.stored.set_token_sha256(Sha256Hex(*token));
  *live.stored.mutable_situation() = request;
  *live.stored.mutable_create_time() = ToProto(now);
  *live.stored.mutable_expire_time() = ToProto(now + lifetime);
  live.stored.set_revision(revision);
  live.situation = *std::move(situation);
  live.matchable = true;
  rocksdb::WriteBatch batch;
  batch.Put(family_, SubscriptionKey(live.stored.subscription_id()),
            live.stored.SerializeAsString());
  rocksdb::WriteOptions sync;
  sync.sync = true;
  std::lock_guard<std::mutex> lock(mu_);
  if (auto s = database_->db()->Write(sync, &batch); !s.ok()) {
    return FromRocksStatus(s, "storing a subscription");
  }
  rv1::Subscription out;
  out.set_subscription_id(live.stored.subscription_id());
  out.set_token(*token);
  *out.mutable_expire_time() = live.stored.expire_time();
  out.set_revision(revision);
  std::string id = live.stored.subscription_id();
  live_.emplace(std::move(id), std::move(live));
  return out;
}

bool Subscriptions::ExpireLocked(const std::string& id) {
  auto it = live_.find(id);
  if (it == live_.end() || FromProto(it->second.stored.expire_time()) > Now()) return false;
  if (auto deleted = DeleteLocked(id); !deleted.ok()) {
    LogWarning("recommender", "an expired subscription could not be deleted",
               {{"subscription_id", id}, {"error", std::string(deleted.status().message())}});
    return false;
  }
  return true;
}

absl::Status Subscriptions::Authorize(const std::string& id, std::string_view token) {
  bool expired = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    expired = ExpireLocked(id);
    auto it = live_.find(id);
    if (it != live_.end()) {
      const std::string digest = Sha256Hex(token);
      const std::string& stored = it->second.stored.token_sha256();
      if (digest.size() == stored.size() &&
          CRYPTO_memcmp(digest.data(), stored.data(), digest.size()) == 0) {
        return absl::OkStatus();
      }
    }
  }
  if (expired) Notify(id);
  return NotFound(id);
}

absl::StatusOr<rv1::ListMatchesResponse> Subscriptions::List(const std::string& id, int64_t after,
                                                             size_t limit) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!live_.contains(id)) return NotFound(id);
  }
  rv1::ListMatchesResponse out;
  const std::string prefix = MatchPrefix(id);
  std::unique_ptr<rocksdb::Iterator> it(
      database_->db()->NewIterator(rocksdb::ReadOptions(), family_));
  for (it->Seek(MatchKey(id, after + 1)); it->Valid() && it->key().starts_with(prefix);
       it->Next()) {
    if (static_cast<size_t>(out.matches_size()) == limit) {
      out.set_more(true);
      break;
    }
    if (!out.add_matches()->ParseFromArray(it->value().data(),
                                           static_cast<int>(it->value().size()))) {
      return absl::DataLossError(absl::StrCat("match ", it->key().ToString(), " does not parse"));
    }
  }
  if (!it->status().ok()) return FromRocksStatus(it->status(), "reading matches");
  return out;
}

absl::StatusOr<int> Subscriptions::DeleteLocked(const std::string& id) {
  if (!live_.contains(id)) return NotFound(id);
  rocksdb::WriteBatch batch;
  batch.Delete(family_, SubscriptionKey(id));
  int matches = 0;
  const std::string prefix = MatchPrefix(id);
  std::unique_ptr<rocksdb::Iterator> it(
      database_->db()->NewIterator(rocksdb::ReadOptions(), family_));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    batch.Delete(family_, it->key());
    ++matches;
  }
  if (!it->status().ok()) return FromRocksStatus(it->status(), "reading matches");
  rocksdb::WriteOptions sync;
  sync.sync = true;
  if (auto s = database_->db()->Write(sync, &batch); !s.ok()) {
    return FromRocksStatus(s, "deleting a subscription");
  }
  live_.erase(id);
  return matches;
}

absl::StatusOr<int> Subscriptions::Delete(const std::string& id) {
  absl::StatusOr<int> deleted;
  {
    std::lock_guard<std::mutex> lock(mu_);
    deleted = DeleteLocked(id);
  }
  if (deleted.ok()) Notify(id);
  return deleted;
}

void Subscriptions::OnChanges(int64_t revision, std::vector<std::string> ids) {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    queue_.emplace_back(revision, std::move(ids));
  }
  queue_cv_.notify_all();
}

void Subscriptions::Run() {
  for (;;) {
    std::pair<int64_t, std::vector<std::string>> batch;
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      queue_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      batch = std::move(queue_.front());
      queue_.pop_front();
    }
    if (!batch.second.empty()) Match(batch.first, batch.second);
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      matched_revision_ = std::max(matched_revision_, batch.first);
    }
    queue_cv_.notify_all();
  }
}

void Subscriptions::Match(int64_t revision, const std::vector<std::string>& ids) {
  // The subscriptions to match, copied: ranking runs without the lock.
  std::vector<std::pair<std::string, RankRequest>> targets;
  std::vector<std::string> expired;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> all;
    for (const auto& [id, live] : live_) all.push_back(id);
    for (const auto& id : all) {
      if (ExpireLocked(id)) {
        expired.push_back(id);
        continue;
      }
      const Live& live = live_.at(id);
      if (!live.matchable || live.stored.revision() >= revision) continue;
      targets.emplace_back(id, live.situation);
    }
  }
  for (const auto& id : expired) Notify(id);
  for (auto& [id, situation] : targets) {
    situation.only_services = ids;
    situation.search = false;
    situation.offset = 0;
    situation.limit = ids.size();
    RankResult result = ranker_->Rank(situation);
    if (result.services.empty()) continue;
    bool stored = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = live_.find(id);
      if (it == live_.end()) continue;  // deleted meanwhile
      rv1::StoredSubscription updated = it->second.stored;
      rocksdb::WriteBatch batch;
      const absl::Time now = Now();
      for (const RankedService& ranked : result.services) {
        rv1::ServiceMatch match;
        match.set_sequence(updated.last_sequence() + 1);
        auto* service = match.mutable_service();
        *service->mutable_service() = *ranked.service;
        service->set_score(ranked.score);
        service->set_rank(ranked.rank);
        service->set_provider_node_address(ranked.provider_node_address);
        *service->mutable_explanation() = ranked.explanation;
        match.set_revision(revision);
        *match.mutable_match_time() = ToProto(now);
        updated.set_last_sequence(match.sequence());
        batch.Put(family_, MatchKey(id, match.sequence()), match.SerializeAsString());
      }
      const int64_t first_kept =
          updated.last_sequence() - static_cast<int64_t>(options_.max_matches) + 1;
      if (first_kept > 1) batch.DeleteRange(family_, MatchKey(id, 0), MatchKey(id, first_kept));
      batch.Put(family_, SubscriptionKey(id), updated.SerializeAsString());
      rocksdb::WriteOptions sync;
      sync.sync = true;
      if (auto s = database_->db()->Write(sync, &batch); !s.ok()) {
        LogWarning("recommender", "matches of a subscription could not be stored",
                   {{"subscription_id", id}, {"error", s.ToString()}});
        continue;
      }
      it->second.stored = std::move(updated);
      stored = true;
    }
    if (stored) Notify(id);
  }
}

}  // namespace aurora::recommender
