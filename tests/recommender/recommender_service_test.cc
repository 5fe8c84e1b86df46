// The Recommender gRPC service end to end: a real Node (directory + recommender, RocksDB in a
// fresh temporary folder) listening on 127.0.0.1:0, reached over a real TCP channel through the
// generated stubs. Live updates through the directory's watch stream, responses and paging,
// validation, feedback, redirects, overload and persistence across a restart. What the node
// stored is read back from its RocksDB after it has stopped (the node does not expose the
// FeedbackStore).

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "aurora/directory/v1/directory.grpc.pb.h"
#include "aurora/recommender/v1/recommender.grpc.pb.h"
#include "common/database.h"
#include "common/text.h"
#include "node/node.h"
#include "recommender/feedback_store.h"
#include "recommender/recommender_service.h"

namespace aurora::recommender {
namespace {

namespace dv1 = aurora::directory::v1;
namespace rv1 = aurora::recommender::v1;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int64_t kMaxRecommendationId = (int64_t{1} << 53) - 1;

// ---------------------------------------------------------------------------------------------
// A node in a temporary data dir

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    std::random_device random;
    path_ = (std::filesystem::temp_directory_path() /
             absl::StrCat("aurora-recommender-test-", ::getpid(), "-", counter++, "-", random()))
                .string();
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct NodeSetup {
  bool demo = false;  // load the demo catalogue (AURORA_DATA_DIR/services.ndjson) when empty
  EngineOptions engine;
  std::set<std::string> components = {"directory", "recommender"};
  std::string directory_target;           // the recommender's directory; empty: this node
  std::string grpc_listen = "127.0.0.1:0";
  std::string dictionary_dir = "/usr/share/dictd";
  LearningOptions learning;
};

node::NodeConfig TestConfig(const std::string& data_dir, const NodeSetup& setup) {
  node::NodeConfig config;
  config.data_dir = data_dir;
  config.grpc_listen = setup.grpc_listen;
  config.http_listen = "127.0.0.1:0";
  config.metrics_listen = "";
  config.components = setup.components;
  config.directory_target = setup.directory_target;
  config.codelists_dir = AURORA_DATA_DIR "/codelists";
  config.recommender = setup.engine;
  config.recommender_sync_timeout = absl::Seconds(60);
  config.demo_data_dir = setup.demo ? AURORA_DATA_DIR : "";
  config.drain = absl::ZeroDuration();
  config.grace = absl::Seconds(5);
  config.secret_hash_iterations = 1000;  // fast for tests; production uses 600000
  config.block_cache_bytes = 16u << 20;
  config.dictionary_dir = setup.dictionary_dir;
  config.learning_options = setup.learning;
  return config;
}

class TestNode {
 public:
  explicit TestNode(const std::string& data_dir, NodeSetup setup = {}) {
    auto started = node::Node::Start(TestConfig(data_dir, setup));
    INFO(started.status().ToString());
    REQUIRE(started.ok());
    node_ = std::move(*started);
    REQUIRE(node_->grpc_port() > 0);
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    channel_ = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", node_->grpc_port()),
                                         grpc::InsecureChannelCredentials(), args);
    directory_ = dv1::Directory::NewStub(channel_);
    recommender_ = rv1::Recommender::NewStub(channel_);
  }
  ~TestNode() { Stop(); }
  TestNode(const TestNode&) = delete;
  TestNode& operator=(const TestNode&) = delete;

  // Graceful shutdown (RocksDB closed): the data dir may be reopened afterwards.
  void Stop() {
    if (node_ != nullptr) node_->Stop();
    node_.reset();
  }

  dv1::Directory::Stub& directory() { return *directory_; }
  rv1::Recommender::Stub& recommender() { return *recommender_; }
  int grpc_port() const { return node_->grpc_port(); }

 private:
  std::unique_ptr<node::Node> node_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<dv1::Directory::Stub> directory_;
  std::unique_ptr<rv1::Recommender::Stub> recommender_;
};

void SetDeadline(grpc::ClientContext& context, std::chrono::seconds seconds = 20s) {
  context.set_deadline(std::chrono::system_clock::now() + seconds);
}

// ---------------------------------------------------------------------------------------------
// Calls

std::string Describe(const grpc::Status& status) {
  return absl::StrCat("status ", status.error_code(), ": ", status.error_message());
}

grpc::Status Call(TestNode& node, const rv1::SearchRequest& request, rv1::SearchResponse* out) {
  grpc::ClientContext context;
  SetDeadline(context);
  return node.recommender().Search(&context, request, out);
}

grpc::Status Call(TestNode& node, const rv1::RecommendRequest& request,
                  rv1::RecommendResponse* out) {
  grpc::ClientContext context;
  SetDeadline(context);
  return node.recommender().Recommend(&context, request, out);
}

grpc::Status Call(TestNode& node, const rv1::RecordFeedbackRequest& request,
                  rv1::RecordFeedbackResponse* out) {
  grpc::ClientContext context;
  SetDeadline(context);
  return node.recommender().RecordFeedback(&context, request, out);
}

grpc::Status Call(TestNode& node, const rv1::RecordRedirectRequest& request,
                  rv1::RecordRedirectResponse* out) {
  grpc::ClientContext context;
  SetDeadline(context);
  return node.recommender().RecordRedirect(&context, request, out);
}

template <typename Request>
grpc::Status CallStatus(TestNode& node, const Request& request) {
  if constexpr (std::is_same_v<Request, rv1::SearchRequest>) {
    rv1::SearchResponse response;
    return Call(node, request, &response);
  } else if constexpr (std::is_same_v<Request, rv1::RecommendRequest>) {
    rv1::RecommendResponse response;
    return Call(node, request, &response);
  } else if constexpr (std::is_same_v<Request, rv1::RecordFeedbackRequest>) {
    rv1::RecordFeedbackResponse response;
    return Call(node, request, &response);
  } else {
    rv1::RecordRedirectResponse response;
    return Call(node, request, &response);
  }
}

rv1::SearchRequest SearchFor(const std::string& text, int limit = 0) {
  rv1::SearchRequest request;
  request.set_text(text);
  request.set_limit(limit);
  return request;
}

rv1::SearchResponse SearchOk(TestNode& node, const rv1::SearchRequest& request) {
  rv1::SearchResponse response;
  grpc::Status status = Call(node, request, &response);
  INFO("Search " << request.ShortDebugString() << ": " << Describe(status));
  REQUIRE(status.ok());
  return response;
}

rv1::RecommendResponse RecommendOk(TestNode& node, const rv1::RecommendRequest& request) {
  rv1::RecommendResponse response;
  grpc::Status status = Call(node, request, &response);
  INFO("Recommend " << request.ShortDebugString() << ": " << Describe(status));
  REQUIRE(status.ok());
  return response;
}

template <typename Response>
std::vector<std::string> Ids(const Response& response) {
  std::vector<std::string> ids;
  for (const auto& s : response.services()) ids.push_back(s.service().id());
  return ids;
}

std::vector<std::string> SearchIds(TestNode& node, const std::string& text) {
  return Ids(SearchOk(node, SearchFor(text, 50)));
}

// Polls `condition` until it holds or `limit` has passed; the time it took, or nullopt.
std::optional<Clock::duration> PollUntil(const std::function<bool()>& condition,
                                         Clock::duration limit = 5s) {
  const auto start = Clock::now();
  while (true) {
    if (condition()) return Clock::now() - start;
    if (Clock::now() - start > limit) return std::nullopt;
    std::this_thread::sleep_for(2ms);  // the pace of the poll, not a synchronisation
  }
}

double Millis(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// ---------------------------------------------------------------------------------------------
// Directory

std::string RegisterOrganization(TestNode& node, const std::string& name) {
  grpc::ClientContext context;
  SetDeadline(context);
  dv1::RegisterOrganizationRequest request;
  request.mutable_organization()->mutable_name()->set_fi(name);
  dv1::Organization organization;
  grpc::Status status = node.directory().RegisterOrganization(&context, request, &organization);
  INFO(Describe(status));
  REQUIRE(status.ok());
  REQUIRE(IsCanonicalUuid(organization.id()));
  return organization.id();
}

// A valid nationwide service for citizens of any age, named `name_fi`.
dv1::Service MakeService(const std::string& organization_id, const std::string& name_fi) {
  dv1::Service service;
  service.set_organization_id(organization_id);
  service.set_kind(dv1::SERVICE_KIND_SERVICE);
  service.set_type(dv1::SERVICE_TYPE_SERVICE);
  service.mutable_name()->set_fi(name_fi);
  service.mutable_summary()->set_fi("Neuvontaa ja ohjausta arjen asioissa kaikenikäisille.");
  service.add_service_classes("P10.1");
  service.add_target_groups("KR1");
  service.set_area_type(dv1::AREA_TYPE_NATIONWIDE);
  service.add_languages("fi");
  service.set_funding_type(dv1::FUNDING_TYPE_PUBLICLY_FUNDED);
  return service;
}

dv1::ServiceChannel* AddChannel(dv1::Service& service, const std::string& id,
                                std::initializer_list<const char*> urls) {
  auto* channel = service.add_channels();
  channel->set_id(id);
  channel->set_type(dv1::CHANNEL_TYPE_WEB_PAGE);
  channel->mutable_name()->set_fi("Verkkosivu");
  for (const char* url : urls) channel->add_urls(url);
  return channel;
}

dv1::Service CreateService(TestNode& node, const dv1::Service& service) {
  grpc::ClientContext context;
  SetDeadline(context);
  dv1::CreateServiceRequest request;
  *request.mutable_service() = service;
  dv1::Service created;
  grpc::Status status = node.directory().CreateService(&context, request, &created);
  INFO(Describe(status));
  REQUIRE(status.ok());
  REQUIRE(IsCanonicalUuid(created.id()));
  return created;
}

dv1::Service UpdateService(TestNode& node, const dv1::Service& service, int64_t expected) {
  grpc::ClientContext context;
  SetDeadline(context);
  dv1::UpdateServiceRequest request;
  *request.mutable_service() = service;
  request.set_expected_revision(expected);
  dv1::Service updated;
  grpc::Status status = node.directory().UpdateService(&context, request, &updated);
  INFO(Describe(status));
  REQUIRE(status.ok());
  return updated;
}

int64_t DeleteService(TestNode& node, const std::string& id) {
  grpc::ClientContext context;
  SetDeadline(context);
  dv1::DeleteServiceRequest request;
  request.set_id(id);
  dv1::DeleteServiceResponse response;
  grpc::Status status = node.directory().DeleteService(&context, request, &response);
  INFO(Describe(status));
  REQUIRE(status.ok());
  return response.revision();
}

// Waits until a search for `word` finds exactly `ids` (in any order), failing the test otherwise.
Clock::duration WaitForSearch(TestNode& node, const std::string& word,
                              std::set<std::string> ids) {
  std::vector<std::string> last;
  auto took = PollUntil([&] {
    last = SearchIds(node, word);
    return std::set<std::string>(last.begin(), last.end()) == ids && last.size() == ids.size();
  });
  INFO("searching for \"" << word << "\" still finds " << last.size() << " services");
  REQUIRE(took.has_value());
  return *took;
}

// ---------------------------------------------------------------------------------------------
// What the node stored, read from its RocksDB once it has stopped

struct Stored {
  bool exists = false;
  StoredRecommendation recommendation;
  std::string raw;  // the stored JSON
  std::vector<FeedbackEntry> feedback;
  std::vector<std::string> clicks;
};

std::map<int64_t, Stored> ReadStore(const std::string& data_dir, const std::vector<int64_t>& ids) {
  auto database = Database::Open(data_dir + "/rocksdb", {kRecommenderColumnFamily});
  INFO(database.status().ToString());
  REQUIRE(database.ok());
  auto store = FeedbackStore::Open(database->get());
  REQUIRE(store.ok());
  std::map<int64_t, Stored> out;
  for (int64_t id : ids) {
    Stored& s = out[id];
    auto recommendation = (*store)->GetRecommendation(id);
    s.exists = recommendation.ok();
    if (s.exists) s.recommendation = *recommendation;
    (*database)->db()->Get(rocksdb::ReadOptions(), (*database)->family(kRecommenderColumnFamily),
                           absl::StrFormat("r/%016x", id), &s.raw);
    s.feedback = (*store)->FeedbackOf(id);
    s.clicks = (*store)->ClicksOf(id);
  }
  store->reset();
  REQUIRE((*database)->Close().ok());
  return out;
}

std::multiset<std::pair<std::string, int>> AsSet(const std::vector<FeedbackEntry>& entries) {
  std::multiset<std::pair<std::string, int>> out;
  for (const auto& e : entries) out.emplace(e.service_id, e.score);
  return out;
}

rv1::RecordFeedbackRequest Feedback(int64_t id, int score,
                                    std::vector<std::pair<std::string, int>> services = {}) {
  rv1::RecordFeedbackRequest request;
  request.set_recommendation_id(id);
  request.set_score(score);
  for (const auto& [service, s] : services) {
    auto* entry = request.add_services();
    entry->set_service_id(service);
    entry->set_score(s);
  }
  return request;
}

rv1::RecordRedirectRequest Redirect(int64_t id, const std::string& service,
                                    const std::string& channel, int link) {
  rv1::RecordRedirectRequest request;
  request.set_recommendation_id(id);
  request.set_service_id(service);
  request.set_channel_id(channel);
  request.set_link_index(link);
  return request;
}

void CheckRecommendationId(int64_t id) {
  CHECK(id >= 1);
  CHECK(id <= kMaxRecommendationId);
}

// The status must be `code` and its message must contain every one of `parts`.
void CheckError(const grpc::Status& status, grpc::StatusCode code,
                const std::vector<std::string>& parts) {
  INFO(Describe(status));
  CHECK(status.error_code() == code);
  for (const auto& part : parts) CHECK_THAT(status.error_message(), Catch::Contains(part));
}

// Every page of a request, following next_page_token: the services in order.
template <typename Request, typename Response>
std::vector<rv1::RecommendedService> AllPages(TestNode& node, Request request,
                                              std::set<int64_t>* recommendation_ids,
                                              int* pages) {
  std::vector<rv1::RecommendedService> all;
  *pages = 0;
  for (int i = 0; i < 200; ++i) {
    Response response;
    grpc::Status status = Call(node, request, &response);
    INFO("page " << i << ": " << Describe(status));
    REQUIRE(status.ok());
    ++*pages;
    CheckRecommendationId(response.recommendation_id());
    recommendation_ids->insert(response.recommendation_id());
    for (const auto& s : response.services()) all.push_back(s);
    if (response.next_page_token().empty()) return all;
    CHECK(response.services_size() == (request.limit() == 0 ? 5 : request.limit()));
    request.set_page_token(response.next_page_token());
  }
  FAIL("more than 200 pages");
  return all;
}

// Ranks 1..n in order, no service twice, every service explained (the eligibility rule that
// applied is always stated; filters only when the request had some).
void CheckRankedList(const std::vector<rv1::RecommendedService>& all) {
  std::set<std::string> seen;
  for (size_t i = 0; i < all.size(); ++i) {
    INFO("result " << i << ": " << all[i].service().id());
    CHECK(all[i].rank() == static_cast<int>(i + 1));
    CHECK(IsCanonicalUuid(all[i].service().id()));
    CHECK(seen.insert(all[i].service().id()).second);
    CHECK(all[i].has_explanation());
    CHECK(all[i].explanation().eligibility_size() > 0);
  }
}

// =============================================================================================

TEST_CASE("a service created, renamed and deleted in the directory is searchable within a second",
          "[recommender][service][live]") {
  TempDir dir;
  TestNode node(dir.path());
  const std::string organization = RegisterOrganization(node, "Zorblaksin kunta");

  // Nothing matches the words before the service exists.
  CHECK(SearchIds(node, "zorblaksi").empty());
  CHECK(SearchIds(node, "kvantrupi").empty());

  dv1::Service created = CreateService(node, MakeService(organization, "Zorblaksi neuvonta"));
  const auto found_in = WaitForSearch(node, "zorblaksi", {created.id()});
  INFO("found after create in " << Millis(found_in) << " ms");
  CHECK(found_in < 1s);
  {
    rv1::SearchResponse response = SearchOk(node, SearchFor("zorblaksi"));
    REQUIRE(response.services_size() == 1);
    CHECK(response.revision() >= created.revision());
    CHECK(response.services(0).service().name().fi() == "Zorblaksi neuvonta");
    CHECK(response.services(0).service().revision() == created.revision());
    // The explanation names the query word and the field it was found in.
    const auto& terms = response.services(0).explanation().terms();
    REQUIRE_FALSE(terms.empty());
    CHECK(terms[0].query_word() == "zorblaksi");
    CHECK(std::find(terms[0].fields().begin(), terms[0].fields().end(),
                    rv1::Explanation::FIELD_NAME) != terms[0].fields().end());
  }

  dv1::Service renamed = created;
  renamed.mutable_name()->set_fi("Kvantrupi neuvonta");
  dv1::Service updated = UpdateService(node, renamed, created.revision());
  const auto renamed_in = WaitForSearch(node, "kvantrupi", {created.id()});
  INFO("found under the new name in " << Millis(renamed_in) << " ms");
  CHECK(renamed_in < 1s);
  CHECK(SearchIds(node, "zorblaksi").empty());
  {
    rv1::SearchResponse response = SearchOk(node, SearchFor("kvantrupi"));
    REQUIRE(response.services_size() == 1);
    CHECK(response.revision() >= updated.revision());
    CHECK(response.services(0).service().name().fi() == "Kvantrupi neuvonta");
    CHECK(response.services(0).service().revision() == updated.revision());
  }
  // A word both names share finds the service once, not its replaced version too.
  CHECK(SearchIds(node, "zorblaksi kvantrupi neuvonta") == std::vector<std::string>{created.id()});

  const int64_t deleted_at = DeleteService(node, created.id());
  const auto deleted_in = WaitForSearch(node, "kvantrupi", {});
  INFO("gone after delete in " << Millis(deleted_in) << " ms");
  CHECK(deleted_in < 1s);
  CHECK(SearchIds(node, "zorblaksi").empty());
  CHECK(SearchIds(node, "neuvonta").empty());
  CHECK(SearchOk(node, SearchFor("kvantrupi")).revision() >= deleted_at);

  // A recommendation by text finds nothing of it either.
  rv1::RecommendRequest recommend;
  recommend.set_text("kvantrupi");
  CHECK(RecommendOk(node, recommend).services().empty());
}

TEST_CASE("recommend and search: ids, ranks, explanations and paging",
          "[recommender][service][paging]") {
  TempDir dir;
  NodeSetup setup;
  setup.demo = true;
  TestNode node(dir.path(), setup);
  std::set<int64_t> recommendation_ids;
  int calls = 0;

  rv1::RecommendRequest recommend;
  recommend.mutable_life_situation_meters()->add_housing(2);
  recommend.mutable_life_situation_meters()->add_finance(3);
  recommend.mutable_life_situation_meters()->add_finance(1);
  recommend.set_municipality_code("091");
  recommend.set_age(34);

  {  // recommend: the first page, then every page
    rv1::RecommendResponse first = RecommendOk(node, recommend);  // limit 0 means 5
    ++calls;
    CheckRecommendationId(first.recommendation_id());
    recommendation_ids.insert(first.recommendation_id());
    REQUIRE(first.services_size() == 5);
    CHECK_FALSE(first.next_page_token().empty());
    CHECK(first.revision() > 0);
    for (int i = 0; i < first.services_size(); ++i) {
      const auto& s = first.services(i);
      INFO(s.service().id());
      CHECK(s.rank() == i + 1);
      if (i > 0) CHECK(s.score() <= first.services(i - 1).score());
      // A need-driven result says which of the person's needs it serves.
      REQUIRE(s.explanation().life_areas_size() > 0);
      for (const auto& area : s.explanation().life_areas()) {
        CHECK((area.area() == aurora::common::v1::LIFE_AREA_HOUSING ||
               area.area() == aurora::common::v1::LIFE_AREA_FINANCE));
        CHECK(area.need() > 0);
        CHECK(area.relevance() > 0);
      }
      CHECK(s.explanation().life_situation_score() > 0);
      CHECK(s.explanation().eligibility_size() > 0);
      CHECK(s.explanation().filters_size() > 0);
    }

    rv1::RecommendRequest paged = recommend;
    paged.set_limit(7);
    int pages = 0;
    auto all = AllPages<rv1::RecommendRequest, rv1::RecommendResponse>(
        node, paged, &recommendation_ids, &pages);
    calls += pages;
    INFO(all.size() << " results in " << pages << " pages");
    CHECK(pages >= 3);
    REQUIRE(all.size() > 14);
    CheckRankedList(all);
    // Pages concatenate to the same list as one big page.
    rv1::RecommendRequest big = recommend;
    big.set_limit(14);
    rv1::RecommendResponse one = RecommendOk(node, big);
    ++calls;
    recommendation_ids.insert(one.recommendation_id());
    REQUIRE(one.services_size() == 14);
    for (int i = 0; i < 14; ++i) CHECK(one.services(i).service().id() == all[i].service().id());
    for (int i = 0; i < 5; ++i) CHECK(first.services(i).service().id() == all[i].service().id());
  }

  {  // search: every page, without overlap
    rv1::SearchRequest search = SearchFor("työttömyys ja työnhaku", 6);
    int pages = 0;
    auto all = AllPages<rv1::SearchRequest, rv1::SearchResponse>(node, search,
                                                                   &recommendation_ids, &pages);
    calls += pages;
    INFO(all.size() << " results in " << pages << " pages");
    CHECK(pages >= 2);
    REQUIRE(all.size() > 6);
    CheckRankedList(all);
    for (const auto& s : all) {
      INFO(s.service().id());
      // A search result always matched the text, and says which word matched what.
      CHECK(s.explanation().text_score() > 0);
      REQUIRE(s.explanation().terms_size() > 0);
      for (const auto& term : s.explanation().terms()) {
        CHECK((term.query_word() == "työttömyys" || term.query_word() == "työnhaku" ||
               term.query_word() == "ja"));
        CHECK(term.fields_size() > 0);
      }
    }
    for (size_t i = 1; i < all.size(); ++i) CHECK(all[i].score() <= all[i - 1].score());
  }

  {  // recommendation ids are distinct across identical calls
    for (int i = 0; i < 20; ++i) {
      rv1::SearchResponse response = SearchOk(node, SearchFor("asuminen"));
      ++calls;
      CheckRecommendationId(response.recommendation_id());
      recommendation_ids.insert(response.recommendation_id());
      rv1::RecommendResponse r = RecommendOk(node, recommend);
      ++calls;
      CheckRecommendationId(r.recommendation_id());
      recommendation_ids.insert(r.recommendation_id());
    }
  }

  {  // search is never padded with unrelated services
    rv1::SearchResponse none = SearchOk(node, SearchFor("qwxzvbnmk"));
    ++calls;
    CheckRecommendationId(none.recommendation_id());
    recommendation_ids.insert(none.recommendation_id());
    CHECK(none.services().empty());
    CHECK(none.next_page_token().empty());
  }

  {  // a page token only pages the request it was issued for
    rv1::SearchResponse first = SearchOk(node, SearchFor("asuminen", 3));
    REQUIRE_FALSE(first.next_page_token().empty());
    const std::string token = first.next_page_token();

    // The limit and the session may change between pages.
    rv1::SearchRequest same = SearchFor("asuminen", 4);
    same.set_page_token(token);
    same.set_session_id("another session");
    rv1::SearchResponse second = SearchOk(node, same);
    REQUIRE(second.services_size() > 0);
    CHECK(second.services(0).rank() == 4);

    rv1::SearchRequest other_text = SearchFor("työttömyys", 3);
    other_text.set_page_token(token);
    CheckError(CallStatus(node, other_text), grpc::StatusCode::INVALID_ARGUMENT, {"page_token"});

    rv1::SearchRequest other_filter = SearchFor("asuminen", 3);
    other_filter.set_municipality_code("091");
    other_filter.set_page_token(token);
    CheckError(CallStatus(node, other_filter), grpc::StatusCode::INVALID_ARGUMENT,
               {"page_token"});

    rv1::RecommendRequest other_method = recommend;
    other_method.set_page_token(token);
    CheckError(CallStatus(node, other_method), grpc::StatusCode::INVALID_ARGUMENT,
               {"page_token"});

    rv1::SearchRequest garbage = SearchFor("asuminen", 3);
    garbage.set_page_token("not-a-token");
    CheckError(CallStatus(node, garbage), grpc::StatusCode::INVALID_ARGUMENT,
               {"page_token", "not-a-token"});
  }

  CHECK(static_cast<int>(recommendation_ids.size()) == calls);
}

TEST_CASE("the node translates with Debian's dictionaries, and without them does not start",
          "[recommender][service][dictionary]") {
  TempDir dir;
  {
    NodeSetup setup;
    setup.demo = true;
    TestNode node(dir.path() + "/with", setup);
    // An English phrase reaches the Finnish word through the dictionary, and says so.
    rv1::SearchResponse found = SearchOk(node, SearchFor("residence permit", 10));
    bool translated = false;
    for (const auto& s : found.services()) {
      for (const auto& t : s.explanation().terms()) {
        translated |= t.via() == "dictionary" && t.term() == "oleskelulupa";
      }
    }
    CHECK(translated);
  }
  // Missing files stop the start, naming the flag, the file and the package.
  NodeSetup missing;
  missing.dictionary_dir = dir.path() + "/no-such-dir";
  auto started = node::Node::Start(TestConfig(dir.path() + "/missing", missing));
  REQUIRE_FALSE(started.ok());
  CHECK(started.status().code() == absl::StatusCode::kNotFound);
  CHECK_THAT(std::string(started.status().message()),
             Catch::Contains("--dictionary-dir") && Catch::Contains("freedict-swe-fin.index") &&
                 Catch::Contains("dict-freedict-swe-fin"));
  // Turned off ("--dictionary-dir off"): the node runs without, and nothing says "dictionary".
  NodeSetup off;
  off.demo = true;
  off.dictionary_dir = "";
  TestNode node(dir.path() + "/off", off);
  const rv1::SearchResponse untranslated = SearchOk(node, SearchFor("residence permit", 10));
  CHECK(untranslated.services_size() > 0);
  for (const auto& s : untranslated.services()) {
    for (const auto& t : s.explanation().terms()) CHECK(t.via() != "dictionary");
  }
}

TEST_CASE("a page token whose offset lies past the results ends the paging",
          "[recommender][service][paging]") {
  TempDir dir;
  TestNode node(dir.path());
  const std::string organization = RegisterOrganization(node, "Sivutuksen kunta");
  std::set<std::string> ids;
  for (int i = 0; i < 8; ++i) {
    ids.insert(CreateService(node, MakeService(organization, absl::StrCat("Plimsoni palvelu ", i)))
                   .id());
    // Others, so that the word is not in every document (its weight would be next to nothing).
    CreateService(node, MakeService(organization, absl::StrCat("Muu palvelu ", i)));
  }
  WaitForSearch(node, "plimsoni", ids);
  rv1::SearchResponse first = SearchOk(node, SearchFor("plimsoni", 3));
  REQUIRE_FALSE(first.next_page_token().empty());
  // The token's form (base64url of "1:<offset>:<fingerprint>") with another offset, as a client
  // that does not treat it as opaque would send it.
  std::string plain;
  REQUIRE(absl::WebSafeBase64Unescape(first.next_page_token(), &plain));
  std::vector<std::string> parts = absl::StrSplit(plain, ':');
  REQUIRE(parts.size() == 3);
  for (const char* offset : {"8", "1000", "18446744073709551615", "18446744073709551613"}) {
    INFO("offset " << offset);
    rv1::SearchRequest request = SearchFor("plimsoni", 3);
    request.set_page_token(absl::WebSafeBase64Escape(absl::StrCat(parts[0], ":", offset, ":",
                                                                  parts[2])));
    rv1::SearchResponse response;
    grpc::Status status = Call(node, request, &response);
    INFO(Describe(status));
    if (status.ok()) {
      // An empty last page: a client following next_page_token must come to an end (not be
      // handed the token it sent, again and again).
      CHECK(response.services().empty());
      CHECK(response.next_page_token().empty());
      CHECK(response.next_page_token() != request.page_token());
    } else {
      CheckError(status, grpc::StatusCode::INVALID_ARGUMENT, {"page_token"});
    }
  }
}

// A nationwide and a Helsinki-only service sharing a distinctive word, and one unrelated service.
struct AreaCatalogue {
  std::string nationwide, helsinki;
};

AreaCatalogue CreateAreaCatalogue(TestNode& node) {
  const std::string organization = RegisterOrganization(node, "Alueiden kunta");
  AreaCatalogue out;
  out.nationwide = CreateService(node, MakeService(organization, "Vexori valtakunnallinen")).id();
  dv1::Service local = MakeService(organization, "Vexori paikallinen");
  local.set_area_type(dv1::AREA_TYPE_LIMITED);
  local.add_municipality_codes("091");
  out.helsinki = CreateService(node, local).id();
  CreateService(node, MakeService(organization, "Muu palvelu"));
  WaitForSearch(node, "vexori", {out.nationwide, out.helsinki});
  return out;
}

std::set<std::string> SearchArea(TestNode& node, const aurora::common::v1::AreaFilter& area) {
  rv1::SearchRequest request = SearchFor("vexori", 50);
  *request.mutable_filters()->mutable_area() = area;
  auto ids = Ids(SearchOk(node, request));
  return {ids.begin(), ids.end()};
}

TEST_CASE("area filters admit the services common.proto says", "[recommender][service][area]") {
  TempDir dir;
  TestNode node(dir.path());
  const AreaCatalogue catalogue = CreateAreaCatalogue(node);
  using IdSet = std::set<std::string>;
  aurora::common::v1::AreaFilter area;
  CHECK(SearchArea(node, area) == IdSet{catalogue.nationwide, catalogue.helsinki});
  area.add_municipality_codes("091");
  CHECK(SearchArea(node, area) == IdSet{catalogue.nationwide, catalogue.helsinki});
  area.set_include_national_services(false);
  CHECK(SearchArea(node, area) == IdSet{catalogue.helsinki});
  area.Clear();
  area.add_municipality_codes("049");  // Espoo
  CHECK(SearchArea(node, area) == IdSet{catalogue.nationwide});
  area.Clear();
  area.set_include_national_services(false);
  CHECK(SearchArea(node, area) == IdSet{catalogue.helsinki});
  area.Clear();
  area.set_only_national_services(true);
  CHECK(SearchArea(node, area) == IdSet{catalogue.nationwide});
  // The home municipality narrows like an area filter.
  rv1::SearchRequest request = SearchFor("vexori");
  request.set_municipality_code("049");
  CHECK(Ids(SearchOk(node, request)) == std::vector<std::string>{catalogue.nationwide});

  // Forbidden combinations name the field.
  rv1::SearchRequest bad = SearchFor("vexori");
  bad.mutable_filters()->mutable_area()->set_only_national_services(true);
  bad.mutable_filters()->mutable_area()->set_include_national_services(false);
  CheckError(CallStatus(node, bad), grpc::StatusCode::INVALID_ARGUMENT,
             {"filters.area.only_national_services"});
  bad = SearchFor("vexori");
  bad.mutable_filters()->mutable_area()->set_only_national_services(true);
  bad.mutable_filters()->mutable_area()->add_municipality_codes("091");
  CheckError(CallStatus(node, bad), grpc::StatusCode::INVALID_ARGUMENT,
             {"filters.area.only_national_services"});
  bad = SearchFor("vexori");
  bad.mutable_filters()->mutable_area()->add_region_codes("99");
  CheckError(CallStatus(node, bad), grpc::StatusCode::INVALID_ARGUMENT,
             {"filters.area.region_codes[0]", "\"99\""});
}

// common.proto: only_national_services "must not be combined with any area code list or with
// include_national_services = false" -- with include_national_services = true it is consistent,
// and the directory's ListServices accepts the same AreaFilter.
TEST_CASE("only_national_services with include_national_services = true is a valid area filter",
          "[recommender][service][area]") {
  TempDir dir;
  TestNode node(dir.path());
  const AreaCatalogue catalogue = CreateAreaCatalogue(node);
  aurora::common::v1::AreaFilter area;
  area.set_only_national_services(true);
  area.set_include_national_services(true);

  {
    grpc::ClientContext context;
    SetDeadline(context);
    dv1::ListServicesRequest list;
    *list.mutable_area() = area;
    dv1::ListServicesResponse listed;
    grpc::Status status = node.directory().ListServices(&context, list, &listed);
    INFO("directory: " << Describe(status));
    REQUIRE(status.ok());
  }
  rv1::SearchRequest request = SearchFor("vexori");
  *request.mutable_filters()->mutable_area() = area;
  rv1::SearchResponse response;
  grpc::Status status = Call(node, request, &response);
  INFO("recommender: " << Describe(status));
  REQUIRE(status.ok());
  CHECK(Ids(response) == std::vector<std::string>{catalogue.nationwide});
}

TEST_CASE("invalid requests fail with INVALID_ARGUMENT naming the field and the value",
          "[recommender][service][validation]") {
  TempDir dir;
  TestNode node(dir.path());

  auto meters = [] {
    rv1::RecommendRequest r;
    r.mutable_life_situation_meters()->add_housing(3);
    return r;
  };
  // A valid request of each kind succeeds: the failures below are the field's fault.
  REQUIRE(CallStatus(node, meters()).ok());
  REQUIRE(CallStatus(node, SearchFor("asuminen")).ok());

  struct RecommendCase {
    const char* what;
    std::function<void(rv1::RecommendRequest&)> change;
    std::vector<std::string> parts;
  };
  const std::vector<RecommendCase> recommend_cases = {
      {"limit 51", [](auto& r) { r.set_limit(51); }, {"limit", "51"}},
      {"limit -1", [](auto& r) { r.set_limit(-1); }, {"limit", "-1"}},
      {"meter 11", [](auto& r) { r.mutable_life_situation_meters()->add_finance(11); },
       {"life_situation_meters.finance[0]", "11"}},
      {"meter -1", [](auto& r) { r.mutable_life_situation_meters()->add_health(-1); },
       {"life_situation_meters.health[0]", "-1"}},
      {"municipality 999", [](auto& r) { r.set_municipality_code("999"); },
       {"municipality_code", "\"999\""}},
      {"life event KE99", [](auto& r) { r.add_life_events("KE99"); },
       {"life_events[0]", "\"KE99\""}},
      {"second life event unknown",
       [](auto& r) {
         r.add_life_events("KE8");
         r.add_life_events("KE8.99");
       },
       {"life_events[1]", "\"KE8.99\""}},
      {"language de", [](auto& r) { r.set_language("de"); }, {"language", "\"de\""}},
      {"language FI", [](auto& r) { r.set_language("FI"); }, {"language", "\"FI\""}},
      {"age 201", [](auto& r) { r.set_age(201); }, {"age", "201"}},
      {"text over 1024 characters", [](auto& r) { r.set_text(std::string(1025, 'a')); },
       {"text", "1025"}},
      {"text of 1025 two-byte characters",
       [](auto& r) {
         std::string text;
         for (int i = 0; i < 1025; ++i) text += "ä";
         r.set_text(text);
       },
       {"text", "1025"}},
      {"funding type unspecified",
       [](auto& r) { r.mutable_filters()->add_funding_types(dv1::FUNDING_TYPE_UNSPECIFIED); },
       {"filters.funding_types[0]", "0"}},
      {"funding type unknown",
       [](auto& r) {
         r.mutable_filters()->add_funding_types(dv1::FUNDING_TYPE_PUBLICLY_FUNDED);
         r.mutable_filters()->add_funding_types(static_cast<dv1::FundingType>(7));
       },
       {"filters.funding_types[1]", "7"}},
      {"general descriptions unknown",
       [](auto& r) {
         r.mutable_filters()->set_general_descriptions(static_cast<rv1::GeneralDescriptions>(9));
       },
       {"filters.general_descriptions", "9"}},
      {"organization id not a uuid",
       [](auto& r) { r.mutable_filters()->add_organization_ids("not-an-id"); },
       {"filters.organization_ids[0]", "\"not-an-id\""}},
      {"organization id in uppercase",
       [](auto& r) {
         r.mutable_filters()->add_organization_ids("2B7D2C4E-8F3A-5D61-9C0E-4A1F6B3D7E25");
       },
       {"filters.organization_ids[0]", "2B7D2C4E-8F3A-5D61-9C0E-4A1F6B3D7E25"}},
      {"filter municipality 999",
       [](auto& r) { r.mutable_filters()->mutable_area()->add_municipality_codes("999"); },
       {"filters.area.municipality_codes[0]", "\"999\""}},
      {"filter service class", [](auto& r) { r.mutable_filters()->add_service_classes("P999"); },
       {"filters.service_classes[0]", "\"P999\""}},
      {"page token", [](auto& r) { r.set_page_token("%%%"); }, {"page_token", "%%%"}},
  };
  for (const auto& c : recommend_cases) {
    INFO("Recommend: " << c.what);
    rv1::RecommendRequest request = meters();
    c.change(request);
    CheckError(CallStatus(node, request), grpc::StatusCode::INVALID_ARGUMENT, c.parts);
  }

  SECTION("an empty recommendation request") {
    CheckError(CallStatus(node, rv1::RecommendRequest()), grpc::StatusCode::INVALID_ARGUMENT,
               {"life_situation_meters"});
    // Filters, age and municipality alone are not a life situation either; nor is blank text.
    rv1::RecommendRequest request;
    request.set_age(30);
    request.set_municipality_code("091");
    request.set_text("  \n ");
    request.mutable_filters()->add_service_classes("P5");
    CheckError(CallStatus(node, request), grpc::StatusCode::INVALID_ARGUMENT,
               {"life_situation_meters"});
  }

  SECTION("search") {
    CheckError(CallStatus(node, rv1::SearchRequest()), grpc::StatusCode::INVALID_ARGUMENT,
               {"text"});
    CheckError(CallStatus(node, SearchFor("   ")), grpc::StatusCode::INVALID_ARGUMENT, {"text"});
    std::string long_text;
    for (int i = 0; i < 1025; ++i) long_text += "ö";
    CheckError(CallStatus(node, SearchFor(long_text)), grpc::StatusCode::INVALID_ARGUMENT,
               {"text", "1025"});
    // 1024 code points (more than 1024 bytes) are within the limit.
    std::string longest;
    for (int i = 0; i < 204; ++i) longest += "talö ";
    longest += "talö";
    REQUIRE(Utf8Length(longest) == 1024u);
    {
      rv1::SearchResponse response;
      grpc::Status status = Call(node, SearchFor(longest), &response);
      INFO(Describe(status));
      CHECK(status.ok());
    }
    rv1::SearchRequest request = SearchFor("asuminen", 51);
    CheckError(CallStatus(node, request), grpc::StatusCode::INVALID_ARGUMENT, {"limit", "51"});
    request = SearchFor("asuminen");
    request.set_language("de");
    CheckError(CallStatus(node, request), grpc::StatusCode::INVALID_ARGUMENT,
               {"language", "\"de\""});
    request = SearchFor("asuminen");
    request.set_municipality_code("999");
    CheckError(CallStatus(node, request), grpc::StatusCode::INVALID_ARGUMENT,
               {"municipality_code", "\"999\""});
    request = SearchFor("asuminen");
    request.mutable_filters()->add_funding_types(static_cast<dv1::FundingType>(5));
    CheckError(CallStatus(node, request), grpc::StatusCode::INVALID_ARGUMENT,
               {"filters.funding_types[0]", "5"});
    request = SearchFor("asuminen");
    request.mutable_filters()->add_organization_ids("1234");
    CheckError(CallStatus(node, request), grpc::StatusCode::INVALID_ARGUMENT,
               {"filters.organization_ids[0]", "\"1234\""});
    request = SearchFor("asuminen");
    request.mutable_filters()->add_life_events("KE99");
    CheckError(CallStatus(node, request), grpc::StatusCode::INVALID_ARGUMENT,
               {"filters.life_events[0]", "\"KE99\""});
    request = SearchFor("asuminen");
    request.set_session_id(std::string(201, 's'));
    CheckError(CallStatus(node, request), grpc::StatusCode::INVALID_ARGUMENT, {"session_id"});
  }
}

TEST_CASE("feedback on a real recommendation is recorded, and on anything else it is not",
          "[recommender][service][feedback]") {
  TempDir dir;
  TestNode node(dir.path());
  const std::string organization = RegisterOrganization(node, "Palautteen kunta");
  std::set<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.insert(CreateService(node, MakeService(organization, absl::StrCat("Frobnitsi palvelu ", i)))
                   .id());
  }
  const std::string outsider = CreateService(node, MakeService(organization, "Muu palvelu")).id();
  WaitForSearch(node, "frobnitsi", ids);

  rv1::SearchRequest search_request = SearchFor("frobnitsi");
  search_request.set_session_id("sessio-42");
  rv1::SearchResponse searched = SearchOk(node, search_request);
  REQUIRE(searched.services_size() == 3);
  const int64_t id = searched.recommendation_id();
  const std::string s0 = searched.services(0).service().id();
  const std::string s1 = searched.services(1).service().id();
  const std::string s2 = searched.services(2).service().id();

  rv1::RecommendRequest recommend_request;
  recommend_request.set_text("frobnitsi");
  rv1::RecommendResponse recommended = RecommendOk(node, recommend_request);
  REQUIRE(recommended.services_size() > 0);
  const int64_t recommend_id = recommended.recommendation_id();
  REQUIRE(recommend_id != id);

  std::multiset<std::pair<std::string, int>> expected;
  {
    rv1::RecordFeedbackResponse response;
    grpc::Status status = Call(node, Feedback(id, 1, {{s0, 1}, {s1, -1}}), &response);
    INFO(Describe(status));
    REQUIRE(status.ok());
    CHECK(response.recorded() == 3);
    expected.insert({{"", 1}, {s0, 1}, {s1, -1}});
  }
  {
    rv1::RecordFeedbackResponse response;
    REQUIRE(Call(node, Feedback(id, -1), &response).ok());
    CHECK(response.recorded() == 1);
    expected.insert({"", -1});
  }
  {
    rv1::RecordFeedbackResponse response;
    REQUIRE(Call(node, Feedback(id, 0, {{s2, 1}}), &response).ok());
    CHECK(response.recorded() == 1);
    expected.insert({s2, 1});
  }
  {
    rv1::RecordFeedbackResponse response;
    REQUIRE(Call(node, Feedback(recommend_id, 1, {{recommended.services(0).service().id(), 1}}),
                 &response)
                .ok());
    CHECK(response.recorded() == 2);
  }

  // A service that was not part of the recommendation: NOT_FOUND naming it, and none of the
  // request's entries is stored (not even the valid ones before it).
  CheckError(CallStatus(node, Feedback(id, 1, {{s0, 1}, {outsider, -1}, {s1, 1}})),
             grpc::StatusCode::NOT_FOUND, {outsider});
  CheckError(CallStatus(node, Feedback(id, 0, {{outsider, 1}})), grpc::StatusCode::NOT_FOUND,
             {outsider});
  // A service of another recommendation is not part of this one.
  CheckError(CallStatus(node, Feedback(recommend_id, 0, {{outsider, 1}})),
             grpc::StatusCode::NOT_FOUND, {outsider});

  // An unknown recommendation.
  int64_t unknown = 4242424242;
  while (unknown == id || unknown == recommend_id) ++unknown;
  CheckError(CallStatus(node, Feedback(unknown, 1)), grpc::StatusCode::NOT_FOUND,
             {absl::StrCat(unknown)});
  CheckError(CallStatus(node, Feedback(unknown, 0, {{s0, 1}})), grpc::StatusCode::NOT_FOUND,
             {absl::StrCat(unknown)});

  // Invalid input.
  CheckError(CallStatus(node, Feedback(id, 2)), grpc::StatusCode::INVALID_ARGUMENT,
             {"score", "2"});
  CheckError(CallStatus(node, Feedback(id, -2, {{s0, 1}})), grpc::StatusCode::INVALID_ARGUMENT,
             {"score", "-2"});
  CheckError(CallStatus(node, Feedback(id, 1, {{s0, 1}, {s1, 2}})),
             grpc::StatusCode::INVALID_ARGUMENT, {"services[1].score", "2"});
  CheckError(CallStatus(node, Feedback(id, 0, {{s0, 0}})), grpc::StatusCode::INVALID_ARGUMENT,
             {"services[0].score", "0"});
  CheckError(CallStatus(node, Feedback(id, 1, {{"not-a-uuid", 1}})),
             grpc::StatusCode::INVALID_ARGUMENT, {"services[0].service_id", "\"not-a-uuid\""});
  CheckError(CallStatus(node, Feedback(0, 1)), grpc::StatusCode::INVALID_ARGUMENT,
             {"recommendation_id", "0"});
  CheckError(CallStatus(node, Feedback(kMaxRecommendationId + 1, 1)),
             grpc::StatusCode::INVALID_ARGUMENT,
             {"recommendation_id", absl::StrCat(kMaxRecommendationId + 1)});
  {
    std::vector<std::pair<std::string, int>> many(51, {s0, 1});
    CheckError(CallStatus(node, Feedback(id, 0, many)), grpc::StatusCode::INVALID_ARGUMENT,
               {"services", "51"});
  }

  // What was stored is exactly what was acknowledged.
  node.Stop();
  auto stored = ReadStore(dir.path(), {id, recommend_id, unknown});
  CHECK(stored[id].exists);
  CHECK(AsSet(stored[id].feedback) == expected);
  // The recommendation as given (its page of services), who asked, but never what they wrote.
  CHECK(stored[id].recommendation.path == "search");
  CHECK(stored[id].recommendation.session == "sessio-42");
  REQUIRE(stored[id].recommendation.services.size() == 3);
  CHECK(stored[id].recommendation.services[0].id == s0);
  CHECK(stored[id].recommendation.services[1].id == s1);
  CHECK(stored[id].recommendation.services[2].id == s2);
  CHECK_FALSE(stored[id].raw.empty());
  CHECK_THAT(stored[id].raw, !Catch::Contains("frobnitsi", Catch::CaseSensitive::No));
  CHECK(stored[recommend_id].recommendation.path == "recommend");
  CHECK_THAT(stored[recommend_id].raw, !Catch::Contains("frobnitsi", Catch::CaseSensitive::No));
  CHECK(stored[recommend_id].exists);
  CHECK(AsSet(stored[recommend_id].feedback) ==
        std::multiset<std::pair<std::string, int>>{{"", 1},
                                                   {recommended.services(0).service().id(), 1}});
  CHECK_FALSE(stored[unknown].exists);
  CHECK(stored[unknown].feedback.empty());
}

TEST_CASE(
    "a service package over gRPC: needs, ordered steps, feedback on its services, and "
    "bad input refused naming the field",
    "[recommender][service][package]") {
  TempDir dir;
  TestNode node(dir.path());
  const std::string a = RegisterOrganization(node, "Pakettikunta A");
  const std::string b = RegisterOrganization(node, "Pakettikunta B");
  dv1::Service housing = MakeService(a, "Zorblaksi asumisneuvonta");
  housing.add_life_areas(aurora::common::v1::LIFE_AREA_HOUSING);
  dv1::Service money = MakeService(b, "Kvantrupi talousneuvonta");
  money.add_life_areas(aurora::common::v1::LIFE_AREA_FINANCE);
  dv1::Service permit = MakeService(b, "Frobnitsi tuen hakeminen");
  permit.set_type(dv1::SERVICE_TYPE_PERMIT_OR_OBLIGATION);
  permit.add_life_areas(aurora::common::v1::LIFE_AREA_FINANCE);
  permit.add_life_areas(aurora::common::v1::LIFE_AREA_HOUSING);
  housing = CreateService(node, housing);
  money = CreateService(node, money);
  permit = CreateService(node, permit);
  WaitForSearch(node, "zorblaksi", {housing.id()});
  WaitForSearch(node, "kvantrupi", {money.id()});
  WaitForSearch(node, "frobnitsi", {permit.id()});

  rv1::RecommendPackageRequest request;
  request.mutable_life_situation_meters()->add_housing(1);
  request.mutable_life_situation_meters()->add_finance(2);
  request.set_session_id("paketti-1");
  rv1::ServicePackage package;
  {
    grpc::ClientContext context;
    SetDeadline(context);
    grpc::Status status = node.recommender().RecommendPackage(&context, request, &package);
    INFO(Describe(status));
    REQUIRE(status.ok());
  }
  REQUIRE(package.needs_size() == 2);
  CHECK(package.needs(0).id() == "life_area:housing");
  CHECK(package.needs(1).id() == "life_area:finance");
  REQUIRE(package.steps_size() >= 1);
  // The permit serves both needs best (the whole situation), and permits come first.
  CHECK(package.steps(0).step() == 1);
  CHECK(package.steps(0).service().service().id() == permit.id());
  CHECK(
      std::vector<std::string>(package.steps(0).needs().begin(), package.steps(0).needs().end()) ==
      std::vector<std::string>{"life_area:housing", "life_area:finance"});
  CHECK_FALSE(package.steps(0).reasons().empty());
  CHECK(package.needs(0).covered_by(0) == 1);
  CHECK(package.organizations() >= 1);
  CHECK(package.revision() > 0);
  // The package is a recommendation: its steps' services take feedback, others do not.
  rv1::RecordFeedbackRequest feedback;
  feedback.set_recommendation_id(package.recommendation_id());
  auto* entry = feedback.add_services();
  entry->set_service_id(permit.id());
  entry->set_score(1);
  CHECK(CallStatus(node, feedback).ok());
  entry->set_service_id("5e000000-0000-4000-8000-0000000000ff");
  CHECK(CallStatus(node, feedback).error_code() == grpc::StatusCode::NOT_FOUND);

  const auto refused = [&](const rv1::RecommendPackageRequest& bad, const std::string& field) {
    grpc::ClientContext context;
    SetDeadline(context);
    rv1::ServicePackage ignored;
    grpc::Status status = node.recommender().RecommendPackage(&context, bad, &ignored);
    INFO(Describe(status));
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(absl::StartsWith(status.error_message(), field));
  };
  rv1::RecommendPackageRequest bad = request;
  bad.set_max_steps(13);
  refused(bad, "max_steps: must be 1..12 (0 means 6), got 13");
  bad = request;
  bad.set_municipality_code("999");
  refused(bad, "municipality_code");
  refused(rv1::RecommendPackageRequest(), "life_situation_meters");
  bad = request;
  bad.mutable_life_situation_meters()->add_health(11);
  refused(bad, "life_situation_meters.health");
}

TEST_CASE("services that come to the person: a subscription's stream gets a new matching "
          "service within a second; polling, unsubscribing and bad input",
          "[recommender][service][subscriptions]") {
  TempDir dir;
  TestNode node(dir.path());
  const std::string organization = RegisterOrganization(node, "Tilaajien kunta");
  rv1::SubscribeRequest subscribe;
  subscribe.mutable_life_situation_meters()->add_housing(1);
  subscribe.set_consent(true);
  rv1::Subscription subscription;
  {
    grpc::ClientContext context;
    SetDeadline(context);
    grpc::Status status = node.recommender().Subscribe(&context, subscribe, &subscription);
    INFO(Describe(status));
    REQUIRE(status.ok());
  }
  REQUIRE(IsCanonicalUuid(subscription.subscription_id()));
  REQUIRE(subscription.token().size() == 64);
  const auto authorize = [&](grpc::ClientContext& context) {
    context.AddMetadata("authorization", "Bearer " + subscription.token());
  };

  rv1::WatchMatchesRequest watch_request;
  watch_request.set_subscription_id(subscription.subscription_id());
  grpc::ClientContext watch_context;
  authorize(watch_context);
  SetDeadline(watch_context, 60s);
  auto stream = node.recommender().WatchMatches(&watch_context, watch_request);

  dv1::Service housing = MakeService(organization, "Kvasaari asumisneuvonta");
  housing.add_life_areas(aurora::common::v1::LIFE_AREA_HOUSING);
  dv1::Service other = MakeService(organization, "Kvasaari kirjasto");
  other.add_life_areas(aurora::common::v1::LIFE_AREA_FRIENDS);
  const auto created_at = Clock::now();
  CreateService(node, other);
  housing = CreateService(node, housing);
  rv1::ServiceMatch match;
  REQUIRE(stream->Read(&match));
  const auto took = Clock::now() - created_at;
  INFO("matched after " << Millis(took) << " ms");
  CHECK(took < 1s);
  CHECK(match.sequence() == 1);
  CHECK(match.service().service().id() == housing.id());
  CHECK(match.service().explanation().life_areas(0).area() ==
        aurora::common::v1::LIFE_AREA_HOUSING);

  // Polling says the same.
  rv1::ListMatchesRequest list;
  list.set_subscription_id(subscription.subscription_id());
  rv1::ListMatchesResponse listed;
  {
    grpc::ClientContext context;
    authorize(context);
    SetDeadline(context);
    REQUIRE(node.recommender().ListMatches(&context, list, &listed).ok());
  }
  REQUIRE(listed.matches_size() == 1);
  CHECK(listed.matches(0).service().service().id() == housing.id());

  // Unsubscribing deletes it: the stream ends with NOT_FOUND, and so do further calls.
  rv1::UnsubscribeRequest unsubscribe;
  unsubscribe.set_subscription_id(subscription.subscription_id());
  rv1::UnsubscribeResponse unsubscribed;
  {
    grpc::ClientContext context;
    authorize(context);
    SetDeadline(context);
    REQUIRE(node.recommender().Unsubscribe(&context, unsubscribe, &unsubscribed).ok());
  }
  CHECK(unsubscribed.deleted_matches() == 1);
  CHECK_FALSE(stream->Read(&match));
  CHECK(stream->Finish().error_code() == grpc::StatusCode::NOT_FOUND);
  {
    grpc::ClientContext context;
    authorize(context);
    SetDeadline(context);
    CHECK(node.recommender().ListMatches(&context, list, &listed).error_code() ==
          grpc::StatusCode::NOT_FOUND);
  }

  // Bad input, each naming the field.
  const auto refused = [&](const rv1::SubscribeRequest& bad, const std::string& start) {
    grpc::ClientContext context;
    SetDeadline(context);
    rv1::Subscription ignored;
    grpc::Status status = node.recommender().Subscribe(&context, bad, &ignored);
    INFO(Describe(status));
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(absl::StartsWith(status.error_message(), start));
  };
  rv1::SubscribeRequest bad = subscribe;
  bad.set_consent(false);
  refused(bad, "consent: must be true");
  bad = subscribe;
  bad.set_days(400);
  refused(bad, "days: must be 1..365");
  bad = subscribe;
  bad.mutable_life_situation_meters()->Clear();
  refused(bad, "life_situation_meters");
  {
    grpc::ClientContext context;  // no token
    SetDeadline(context);
    CHECK(node.recommender().ListMatches(&context, list, &listed).error_code() ==
          grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext context;
    authorize(context);
    SetDeadline(context);
    rv1::ListMatchesRequest not_an_id;
    not_an_id.set_subscription_id("abc");
    grpc::Status status = node.recommender().ListMatches(&context, not_an_id, &listed);
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(absl::StartsWith(status.error_message(), "subscription_id"));
  }

  // A node that shuts down ends open streams with UNAVAILABLE (the subscriber resumes later).
  rv1::Subscription second;
  {
    grpc::ClientContext context;
    SetDeadline(context);
    REQUIRE(node.recommender().Subscribe(&context, subscribe, &second).ok());
  }
  grpc::ClientContext second_context;
  second_context.AddMetadata("authorization", "Bearer " + second.token());
  SetDeadline(second_context, 60s);
  watch_request.set_subscription_id(second.subscription_id());
  auto open = node.recommender().WatchMatches(&second_context, watch_request);
  std::thread stopper([&] { node.Stop(); });
  CHECK_FALSE(open->Read(&match));
  CHECK(open->Finish().error_code() == grpc::StatusCode::UNAVAILABLE);
  stopper.join();
}

TEST_CASE("learning from feedback: a model trained on it re-ranks, is reported in explanations, "
          "is kept across a restart and can be rolled back by the operators only",
          "[recommender][service][learning]") {
  TempDir dir;
  NodeSetup setup;
  setup.learning.training.min_impressions = 50;
  setup.learning.training.min_positives = 5;
  setup.learning.rerank.epsilon = 0;  // deterministic answers for the test
  auto node = std::make_unique<TestNode>(dir.path(), setup);
  const std::string organization = RegisterOrganization(*node, "Oppivan kunta");
  std::set<std::string> ids;
  for (int i = 0; i < 12; ++i) {
    ids.insert(CreateService(*node, MakeService(organization, "Pelikaani neuvonta")).id());
    // Others, so that the word is not in every service (where it would weigh nothing).
    CreateService(*node, MakeService(organization, absl::StrCat("Kirjasto ", i)));
  }
  WaitForSearch(*node, "pelikaani", ids);
  const auto models = [&] { return rv1::RankingModels::NewStub(grpc::CreateChannel(
                                absl::StrCat("127.0.0.1:", node->grpc_port()),
                                grpc::InsecureChannelCredentials())); };

  // The plain order: equal scores, by id. People keep liking the fifth.
  const std::vector<std::string> plain = SearchIds(*node, "pelikaani");
  REQUIRE(plain.size() >= 5);
  const std::string liked = plain[4];
  for (int i = 0; i < 20; ++i) {
    rv1::SearchResponse searched = SearchOk(*node, SearchFor("pelikaani", 10));
    rv1::RecordFeedbackRequest feedback;
    feedback.set_recommendation_id(searched.recommendation_id());
    auto* entry = feedback.add_services();
    entry->set_service_id(liked);
    entry->set_score(1);
    REQUIRE(CallStatus(*node, feedback).ok());
  }
  // Too little is refused; here there is enough.
  rv1::RankingModelInfo trained;
  {
    grpc::ClientContext context;
    SetDeadline(context);
    grpc::Status status = models()->TrainModel(&context, rv1::TrainModelRequest(), &trained);
    INFO(Describe(status));
    REQUIRE(status.ok());
  }
  CHECK(trained.version() == 1);
  CHECK(trained.active());
  CHECK(trained.impressions() >= 200);
  CHECK(trained.positives() == 20);

  rv1::SearchResponse learnt = SearchOk(*node, SearchFor("pelikaani", 10));
  REQUIRE(learnt.services_size() > 0);
  CHECK(learnt.services(0).service().id() == liked);
  CHECK(learnt.services(0).explanation().model_version() == 1);
  CHECK(learnt.services(0).explanation().learned_score() >
        learnt.services(1).explanation().learned_score());

  // Operators only.
  {
    grpc::ClientContext context;
    SetDeadline(context);
    context.AddMetadata("x-aurora-organization-id", organization);
    rv1::ListModelsResponse listed;
    CHECK(models()->ListModels(&context, rv1::ListModelsRequest(), &listed).error_code() ==
          grpc::StatusCode::PERMISSION_DENIED);
  }
  // Kept across a restart.
  node->Stop();
  node = std::make_unique<TestNode>(dir.path(), setup);
  WaitForSearch(*node, "pelikaani", ids);
  CHECK(SearchIds(*node, "pelikaani").front() == liked);
  {
    grpc::ClientContext context;
    SetDeadline(context);
    rv1::ListModelsResponse listed;
    REQUIRE(models()->ListModels(&context, rv1::ListModelsRequest(), &listed).ok());
    CHECK(listed.active_version() == 1);
    REQUIRE(listed.models_size() == 1);
    CHECK(listed.models(0).active());
  }
  // Rolled back to none: the ranker's order again; a version not kept is NOT_FOUND.
  {
    grpc::ClientContext context;
    SetDeadline(context);
    rv1::ActivateModelRequest none;
    rv1::RankingModelInfo info;
    REQUIRE(models()->ActivateModel(&context, none, &info).ok());
    CHECK(info.version() == 0);
  }
  rv1::SearchResponse rolled = SearchOk(*node, SearchFor("pelikaani", 50));
  CHECK(Ids(rolled) == plain);
  CHECK(rolled.services(0).explanation().model_version() == 0);
  {
    grpc::ClientContext context;
    SetDeadline(context);
    rv1::ActivateModelRequest missing;
    missing.set_version(9);
    rv1::RankingModelInfo info;
    grpc::Status status = models()->ActivateModel(&context, missing, &info);
    CHECK(status.error_code() == grpc::StatusCode::NOT_FOUND);
    CHECK_THAT(status.error_message(), Catch::Contains("9"));
  }
  {
    grpc::ClientContext context;
    SetDeadline(context);
    rv1::ActivateModelRequest back;
    back.set_version(1);
    rv1::RankingModelInfo info;
    REQUIRE(models()->ActivateModel(&context, back, &info).ok());
  }
  CHECK(SearchIds(*node, "pelikaani").front() == liked);
}

TEST_CASE("a redirect returns the recommended channel link and records the click",
          "[recommender][service][redirect]") {
  TempDir dir;
  TestNode node(dir.path());
  const std::string organization = RegisterOrganization(node, "Ohjauksen kunta");
  const std::string web = "7a1c3e5f-0b2d-4c6e-8f1a-3b5d7f9a1c3e";
  const std::string form = "1f2e3d4c-5b6a-4798-8a6b-5c4d3e2f1a0b";
  const std::string unknown_channel = "00000000-0000-4000-8000-000000000000";
  dv1::Service service = MakeService(organization, "Glarpetti asiointi");
  AddChannel(service, web, {"https://example.fi/glarpetti", "https://example.fi/glarpetti/sv"});
  AddChannel(service, form, {"https://example.fi/lomake"});
  dv1::Service created = CreateService(node, service);
  dv1::Service other = CreateService(node, MakeService(organization, "Muu asiointi"));
  WaitForSearch(node, "glarpetti", {created.id()});

  rv1::SearchResponse searched = SearchOk(node, SearchFor("glarpetti"));
  REQUIRE(searched.services_size() == 1);
  const int64_t id = searched.recommendation_id();
  REQUIRE(searched.services(0).service().channels_size() == 2);

  auto redirect = [&](const rv1::RecordRedirectRequest& request) {
    rv1::RecordRedirectResponse response;
    grpc::Status status = Call(node, request, &response);
    INFO(Describe(status));
    REQUIRE(status.ok());
    return response.url();
  };
  CHECK(redirect(Redirect(id, created.id(), web, 0)) == "https://example.fi/glarpetti");
  CHECK(redirect(Redirect(id, created.id(), web, 1)) == "https://example.fi/glarpetti/sv");
  CHECK(redirect(Redirect(id, created.id(), form, 0)) == "https://example.fi/lomake");

  // The links as they were recommended, even after the directory changed them.
  dv1::Service changed = created;
  changed.mutable_channels(0)->set_urls(0, "https://example.fi/uusi");
  dv1::Service updated = UpdateService(node, changed, created.revision());
  REQUIRE(PollUntil([&] {
    return SearchOk(node, SearchFor("glarpetti")).revision() >= updated.revision();
  }));
  CHECK(redirect(Redirect(id, created.id(), web, 0)) == "https://example.fi/glarpetti");

  // Wrong link, channel, service or recommendation: NOT_FOUND naming what did not match.
  CheckError(CallStatus(node, Redirect(id, created.id(), web, 2)), grpc::StatusCode::NOT_FOUND,
             {"2"});
  CheckError(CallStatus(node, Redirect(id, created.id(), form, 1)), grpc::StatusCode::NOT_FOUND,
             {"1"});
  CheckError(CallStatus(node, Redirect(id, created.id(), unknown_channel, 0)),
             grpc::StatusCode::NOT_FOUND, {unknown_channel});
  CheckError(CallStatus(node, Redirect(id, other.id(), web, 0)), grpc::StatusCode::NOT_FOUND,
             {other.id()});
  int64_t unknown = 77777777777;
  while (unknown == id) ++unknown;
  CheckError(CallStatus(node, Redirect(unknown, created.id(), web, 0)),
             grpc::StatusCode::NOT_FOUND, {absl::StrCat(unknown)});
  // Malformed: INVALID_ARGUMENT naming the field.
  CheckError(CallStatus(node, Redirect(id, created.id(), "web", 0)),
             grpc::StatusCode::INVALID_ARGUMENT, {"channel_id", "\"web\""});
  CheckError(CallStatus(node, Redirect(id, "x", web, 0)), grpc::StatusCode::INVALID_ARGUMENT,
             {"service_id", "\"x\""});
  CheckError(CallStatus(node, Redirect(id, created.id(), web, -1)),
             grpc::StatusCode::INVALID_ARGUMENT, {"link_index", "-1"});
  CheckError(CallStatus(node, Redirect(0, created.id(), web, 0)),
             grpc::StatusCode::INVALID_ARGUMENT, {"recommendation_id"});

  node.Stop();
  auto stored = ReadStore(dir.path(), {id});
  std::vector<std::string> clicks = stored[id].clicks;
  std::sort(clicks.begin(), clicks.end());
  CHECK(clicks == std::vector<std::string>{"https://example.fi/glarpetti",
                                           "https://example.fi/glarpetti",
                                           "https://example.fi/glarpetti/sv",
                                           "https://example.fi/lomake"});
}

TEST_CASE("rankings run on gRPC's threads only where gRPC has a callback thread for each slot",
          "[recommender][overload]") {
  EngineOptions options;
  options.ranking_threads = 4;
  options.inline_rankings = 1;
  CHECK(InlineRankings(options) == 1);  // as configured
  options.inline_rankings = 9;
  CHECK(InlineRankings(options) == 4);  // at most the slots
  options.inline_rankings = 0;
  CHECK(InlineRankings(options) == 0);
  // By default: gRPC 1.51 has at least 2 and at most 16 callback threads.
  options.inline_rankings = -1;
  options.ranking_threads = 1;
  CHECK(InlineRankings(options) == 1);
  options.ranking_threads = 2;
  CHECK(InlineRankings(options) == 2);
  options.ranking_threads = 17;
  CHECK(InlineRankings(options) == 0);  // the rankings would hold every callback thread
}

TEST_CASE("overload: calls past the queue fail fast with retry-after, and no slot leaks",
          "[recommender][service][overload]") {
  TempDir dir;
  EngineOptions engine;
  engine.ranking_threads = 1;
  engine.max_queued_calls = 1;
  NodeSetup setup;
  setup.demo = true;
  setup.engine = engine;
  TestNode node(dir.path(), setup);
  // A query that matches much of the catalogue, so that each ranking takes a while.
  const rv1::SearchRequest request = SearchFor(
      "palvelu tuki neuvonta apu asuminen terveys työ perhe lapsi opiskelu raha hakemus", 50);
  REQUIRE(SearchOk(node, request).services_size() > 0);

  constexpr int kCalls = 200;
  struct AsyncCall {
    grpc::ClientContext context;
    rv1::SearchResponse response;
    grpc::Status status;
  };
  for (int round = 0; round < 3; ++round) {
    INFO("round " << round);
    std::vector<std::unique_ptr<AsyncCall>> calls;
    std::mutex mu;
    std::condition_variable cv;
    int done = 0;
    for (int i = 0; i < kCalls; ++i) {
      calls.push_back(std::make_unique<AsyncCall>());
      AsyncCall* call = calls.back().get();
      SetDeadline(call->context, 60s);
      node.recommender().async()->Search(&call->context, &request, &call->response,
                                         [&, call](grpc::Status status) {
                                           std::lock_guard lock(mu);
                                           call->status = std::move(status);
                                           ++done;
                                           cv.notify_all();
                                         });
    }
    bool all_done;
    {
      std::unique_lock lock(mu);
      all_done = cv.wait_for(lock, 60s, [&] { return done == kCalls; });
    }
    if (!all_done) {  // cancel what is left, and wait for it, before the calls go out of scope
      for (auto& call : calls) call->context.TryCancel();
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return done == kCalls; });
    }
    REQUIRE(all_done);
    int ok = 0, exhausted = 0;
    for (const auto& call : calls) {
      if (call->status.ok()) {
        ++ok;
        CHECK(call->response.services_size() > 0);
        CheckRecommendationId(call->response.recommendation_id());
      } else {
        INFO(Describe(call->status));
        REQUIRE(call->status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
        ++exhausted;
        const auto& trailers = call->context.GetServerTrailingMetadata();
        auto it = trailers.find("retry-after");
        REQUIRE(it != trailers.end());
        const std::string value(it->second.data(), it->second.size());
        int seconds = 0;
        CHECK(absl::SimpleAtoi(value, &seconds));
        CHECK(seconds >= 1);
      }
    }
    INFO(ok << " succeeded, " << exhausted << " refused");
    CHECK(ok + exhausted == kCalls);
    CHECK(ok >= 1);
    CHECK(exhausted > 0);

    // Afterwards every call is served again: no slot was leaked by the refusals.
    for (int i = 0; i < 10; ++i) {
      rv1::SearchResponse response;
      grpc::Status status = Call(node, request, &response);
      INFO("sequential call " << i << ": " << Describe(status));
      REQUIRE(status.ok());
    }
    rv1::RecommendRequest recommend;
    recommend.mutable_life_situation_meters()->add_health(2);
    REQUIRE(CallStatus(node, recommend).ok());
  }
}

TEST_CASE("recommendations survive a restart: feedback and redirects on them still work",
          "[recommender][service][persistence]") {
  TempDir dir;
  const std::string web = "3c5e7a9b-1d2f-4a6b-8c0d-2e4f6a8b0c1d";
  std::string service_id, other_id;
  int64_t searched_id = 0, recommended_id = 0;
  {
    TestNode node(dir.path());
    const std::string organization = RegisterOrganization(node, "Pysyvyyden kunta");
    dv1::Service service = MakeService(organization, "Wombrilli palvelupiste");
    AddChannel(service, web, {"https://example.fi/wombrilli"});
    service_id = CreateService(node, service).id();
    other_id = CreateService(node, MakeService(organization, "Toinen palvelupiste")).id();
    WaitForSearch(node, "wombrilli", {service_id});
    rv1::SearchResponse searched = SearchOk(node, SearchFor("wombrilli"));
    REQUIRE(searched.services_size() == 1);
    searched_id = searched.recommendation_id();
    rv1::RecommendRequest recommend;
    recommend.set_text("wombrilli");
    rv1::RecommendResponse recommended = RecommendOk(node, recommend);
    REQUIRE(Ids(recommended) == std::vector<std::string>{service_id});
    recommended_id = recommended.recommendation_id();
    rv1::RecordFeedbackResponse response;
    REQUIRE(Call(node, Feedback(searched_id, 1), &response).ok());
    CHECK(response.recorded() == 1);
    node.Stop();
  }

  {
    TestNode node(dir.path());
    // The index is rebuilt from the directory.
    CHECK(SearchIds(node, "wombrilli") == std::vector<std::string>{service_id});
    {
      rv1::RecordFeedbackResponse response;
      grpc::Status status = Call(node, Feedback(searched_id, -1, {{service_id, 1}}), &response);
      INFO(Describe(status));
      REQUIRE(status.ok());
      CHECK(response.recorded() == 2);
    }
    {
      rv1::RecordFeedbackResponse response;
      grpc::Status status = Call(node, Feedback(recommended_id, 0, {{service_id, -1}}), &response);
      INFO(Describe(status));
      REQUIRE(status.ok());
      CHECK(response.recorded() == 1);
    }
    // Still only the services that were recommended.
    CheckError(CallStatus(node, Feedback(searched_id, 0, {{other_id, 1}})),
               grpc::StatusCode::NOT_FOUND, {other_id});
    {
      rv1::RecordRedirectResponse response;
      grpc::Status status = Call(node, Redirect(recommended_id, service_id, web, 0), &response);
      INFO(Describe(status));
      REQUIRE(status.ok());
      CHECK(response.url() == "https://example.fi/wombrilli");
    }
    // New recommendations get ids of their own.
    rv1::SearchResponse again = SearchOk(node, SearchFor("wombrilli"));
    CHECK(again.recommendation_id() != searched_id);
    CHECK(again.recommendation_id() != recommended_id);
    node.Stop();
  }

  auto stored = ReadStore(dir.path(), {searched_id, recommended_id});
  CHECK(AsSet(stored[searched_id].feedback) ==
        std::multiset<std::pair<std::string, int>>{{"", 1}, {"", -1}, {service_id, 1}});
  CHECK(AsSet(stored[recommended_id].feedback) ==
        std::multiset<std::pair<std::string, int>>{{service_id, -1}});
  CHECK(stored[recommended_id].clicks == std::vector<std::string>{"https://example.fi/wombrilli"});
}

TEST_CASE("a directory behind the recommender (restored, or replaced) is followed from a fresh "
          "snapshot", "[recommender][service][follower]") {
  TempDir dir;
  NodeSetup directory_only;
  directory_only.components = {"directory"};
  auto directory = std::make_unique<TestNode>(dir.path() + "/directory-a", directory_only);
  const int port = directory->grpc_port();
  NodeSetup follower_setup;
  follower_setup.components = {"recommender"};
  follower_setup.directory_target = absl::StrCat("127.0.0.1:", port);
  TestNode follower(dir.path() + "/follower", follower_setup);

  // The first directory: several services (its revision runs ahead of the second's).
  const std::string organization = RegisterOrganization(*directory, "Ensimmäinen kunta");
  std::set<std::string> old_ids;
  for (int i = 0; i < 6; ++i) {
    old_ids.insert(
        CreateService(*directory, MakeService(organization, absl::StrCat("Quorvela ", i))).id());
    // Others, so that the word is not in every document (its weight would be next to nothing).
    CreateService(*directory, MakeService(organization, absl::StrCat("Muu palvelu ", i)));
  }
  WaitForSearch(follower, "quorvela", old_ids);

  // Replaced by an empty directory at the same address: its revisions start again from 0, so
  // the follower's resume point is ahead of it (OUT_OF_RANGE).
  directory->Stop();
  directory.reset();
  directory_only.grpc_listen = absl::StrCat("127.0.0.1:", port);
  directory = std::make_unique<TestNode>(dir.path() + "/directory-b", directory_only);
  const std::string other = RegisterOrganization(*directory, "Toinen kunta");
  for (int i = 0; i < 3; ++i) {
    CreateService(*directory, MakeService(other, absl::StrCat("Toinen palvelu ", i)));
  }
  const std::string fresh = CreateService(*directory, MakeService(other, "Quorvela uusi")).id();
  // The old services are gone (they are not in the new directory's snapshot), the new one is in.
  WaitForSearch(follower, "quorvela", {fresh});
  // And changes after the fresh snapshot keep flowing.
  const std::string later = CreateService(*directory, MakeService(other, "Quorvela myöhempi")).id();
  WaitForSearch(follower, "quorvela", {fresh, later});
}

TEST_CASE("a response borrows the ranked services instead of copying them, and gives them back",
          "[recommender][service]") {
  auto service = std::make_shared<dv1::Service>();
  service->set_id("00000000-0000-4000-8000-000000000001");
  service->mutable_name()->set_fi("Lainattu palvelu");
  service->mutable_description()->set_fi(std::string(4000, 'x'));
  Outcome outcome;
  outcome.recommendation_id = 7;
  outcome.result.revision = 3;
  RankedService ranked;
  ranked.service = service;
  ranked.score = 0.5;
  ranked.rank = 1;
  ranked.explanation.add_filters("area: nationwide");
  outcome.result.services.push_back(std::move(ranked));

  rv1::SearchRequest request;
  auto response = std::make_unique<rv1::SearchResponse>();
  FillResponse(outcome, request, 0, response.get());
  REQUIRE(response->services_size() == 1);
  CHECK(&response->services(0).service() == service.get());  // the same message, not a copy
  CHECK(response->services(0).explanation().filters(0) == "area: nationwide");
  CHECK(response->recommendation_id() == 7);

  rv1::SearchResponse sent;
  REQUIRE(sent.ParseFromString(response->SerializeAsString()));
  CHECK(sent.services(0).service().SerializeAsString() == service->SerializeAsString());

  ReturnServices(response.get());
  CHECK_FALSE(response->services(0).has_service());
  response.reset();  // under ASan a service freed by the response would show here or below
  CHECK(service.use_count() == 2);  // `service` and the outcome: nothing took or dropped one
  CHECK(service->name().fi() == "Lainattu palvelu");
}

}  // namespace
}  // namespace aurora::recommender
