// Tests of ProfileVault, the profile node's logic, over a real RocksDB, real tokens from the
// development issuer and the official code lists: pseudonyms, consent enforcement, receipts, the
// access log, export, erasure and bad input.

#include "profile/vault.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "common/codelists.h"
#include "common/database.h"
#include "common/text.h"
#include "nlohmann/json.hpp"
#include "profile/crypto.h"
#include "profile_test_support.h"

namespace aurora::profile {
namespace {

namespace fs = std::filesystem;

constexpr char kAudience[] = "aurora-profile";
const absl::Time kStart = absl::FromUnixSeconds(1800000000);

using testing::Codes;

// How a TestNode takes part in a network (default: a node outside one).
struct NetworkSetup {
  // The node's organisation (its certificate's); empty outside a network.
  std::string organization;
  // Redeems transfers held at other organisations' nodes (ProfileVaultOptions::redeem_at_source).
  SourceRedeem redeem_at_source;
};

// One organisation's profile node: its own RocksDB, master key, pseudonym key and token issuer.
// The directory it asks knows the API clients of two organisations: kOrganization's and
// kPartnerOrganization's (whose channel kPartnerChannel takes transfers for kPartnerClient).
class TestNode {
 public:
  explicit TestNode(NetworkSetup network = {})
      : dir_(fs::temp_directory_path() / ("aurora-vault-" + NewRandomUuid())),
        clients_({{kChatbot, {kChatbot, "Chatbot", kOrganization, "Helsinki", true}},
                  {kClinic, {kClinic, "Health centre", kOrganization, "Helsinki", true}},
                  {kRevoked, {kRevoked, "Old app", kOrganization, "Helsinki", false}},
                  {kPartnerClient,
                   {kPartnerClient, "Benefits desk", kPartnerOrganization, "Kela", true}},
                  {kPartnerRevoked,
                   {kPartnerRevoked, "Old desk", kPartnerOrganization, "Kela", false}}}) {
    fs::create_directories(dir_);
    auto database = Database::Open(dir_.string(), {kProfileColumnFamily});
    REQUIRE(database.ok());
    database_ = *std::move(database);
    auto store = ProfileStore::Open(database_.get(), RandomBytes(kAeadKeyBytes));
    REQUIRE(store.ok());
    store_ = *std::move(store);
    auto registry = AttributeRegistry::Create(&Codes());
    REQUIRE(registry.ok());
    registry_ = std::make_unique<AttributeRegistry>(*std::move(registry));
    auto keyring = PseudonymKeyring::Create({{1, RandomBytes(32)}}, 1);
    REQUIRE(keyring.ok());
    keyring_ = std::make_unique<PseudonymKeyring>(*std::move(keyring));
    auto issuer = DevIssuer::Create("https://id.test");
    REQUIRE(issuer.ok());
    issuer_ = *std::move(issuer);
    JwtVerifierOptions verify;
    verify.issuer = "https://id.test";
    verify.audience = kAudience;
    verifier_ = std::make_unique<JwtVerifier>(issuer_->Keys(), verify);
    auto signer = DevIssuer::Create("https://node.test/receipts");
    REQUIRE(signer.ok());
    signer_ = *std::move(signer);
    ProfileVaultOptions options;
    options.now = [this] { return now; };
    options.own_organization_id = network.organization;
    options.redeem_at_source = std::move(network.redeem_at_source);
    vault_ = std::make_unique<ProfileVault>(
        store_.get(), registry_.get(), keyring_.get(), verifier_.get(), signer_.get(),
        [this](const std::string& id) -> absl::StatusOr<ServiceClient> {
          auto it = clients_.find(id);
          if (it == clients_.end()) return absl::NotFoundError("no such client");
          return it->second;
        },
        [](const std::string& id) -> absl::StatusOr<ChannelTarget> {
          ChannelTarget target;
          target.service_id = kService;
          target.organization_id = kOrganization;
          target.channel_id = id;
          target.electronic = true;
          target.web_page = "https://palvelu.example/aloitus";
          if (id == kTransferChannel) {
            target.client_id = kClinic;
            target.accepted_attributes = {"age", "life_situation_meters"};
          } else if (id == kPartnerChannel) {
            target.service_id = kPartnerService;
            target.organization_id = kPartnerOrganization;
            target.web_page = "https://etuudet.example/hae";
            target.client_id = kPartnerClient;
            target.accepted_attributes = {"age", "municipality_code"};
          } else if (id == kRevokedChannel) {
            target.client_id = kRevoked;
            target.accepted_attributes = {"age"};
          } else if (id != kPlainChannel) {
            return absl::NotFoundError("no service has the channel");
          }
          return target;
        },
        options);
  }
  ~TestNode() {
    vault_.reset();
    store_.reset();
    database_.reset();
    fs::remove_all(dir_);
  }

  std::string Token(const std::string& subject, std::string audience = kAudience) const {
    DevTokenRequest request;
    request.subject = subject;
    request.audience = std::move(audience);
    auto token = issuer_->Issue(request, now);
    REQUIRE(token.ok());
    return *token;
  }
  Person SignIn(const std::string& subject) const {
    auto person = vault_->Authenticate(Token(subject));
    REQUIRE(person.ok());
    return *person;
  }
  // Every key in the profile column family.
  std::vector<std::string> Keys() const {
    std::vector<std::string> keys;
    std::unique_ptr<rocksdb::Iterator> it(database_->db()->NewIterator(
        rocksdb::ReadOptions(), database_->family(kProfileColumnFamily)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) keys.push_back(it->key().ToString());
    return keys;
  }

  // The UUIDs the keys hold (pseudonyms, consent and receipt ids, client ids).
  std::set<std::string> IdsInKeys() const {
    static const std::regex kUuid("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
    std::set<std::string> ids;
    for (const auto& key : Keys()) {
      for (std::sregex_iterator it(key.begin(), key.end(), kUuid), end; it != end; ++it) {
        ids.insert(it->str());
      }
    }
    return ids;
  }

  static constexpr char kChatbot[] = "0b8c7d1e-1111-4a2b-9c3d-000000000001";
  static constexpr char kClinic[] = "0b8c7d1e-2222-4a2b-9c3d-000000000002";
  static constexpr char kRevoked[] = "0b8c7d1e-3333-4a2b-9c3d-000000000003";
  static constexpr char kOrganization[] = "7f000000-0000-4000-8000-000000000091";
  static constexpr char kService[] = "5e000000-0000-4000-8000-000000000001";
  static constexpr char kTransferChannel[] = "c4000000-0000-4000-8000-000000000001";
  static constexpr char kPlainChannel[] = "c4000000-0000-4000-8000-000000000002";
  static constexpr char kRevokedChannel[] = "c4000000-0000-4000-8000-000000000003";
  static constexpr char kPartnerOrganization[] = "7f000000-0000-4000-8000-0000000000b0";
  static constexpr char kPartnerClient[] = "0b8c7d1e-4444-4a2b-9c3d-000000000004";
  static constexpr char kPartnerRevoked[] = "0b8c7d1e-5555-4a2b-9c3d-000000000005";
  static constexpr char kPartnerService[] = "5e000000-0000-4000-8000-0000000000b1";
  static constexpr char kPartnerChannel[] = "c4000000-0000-4000-8000-0000000000b2";

  absl::Time now = kStart;
  ProfileVault& vault() { return *vault_; }
  const DevIssuer& signer() const { return *signer_; }

 private:
  fs::path dir_;
  std::map<std::string, ServiceClient> clients_;
  std::unique_ptr<Database> database_;
  std::unique_ptr<ProfileStore> store_;
  std::unique_ptr<AttributeRegistry> registry_;
  std::unique_ptr<PseudonymKeyring> keyring_;
  std::unique_ptr<DevIssuer> issuer_;
  std::unique_ptr<JwtVerifier> verifier_;
  std::unique_ptr<DevIssuer> signer_;
  std::unique_ptr<ProfileVault> vault_;
};

google::protobuf::Value Json(const std::string& text) {
  auto value = AttributeRegistry::ParseJsonValue(text);
  REQUIRE(value.ok());
  return *value;
}

v1::PutAttributesRequest Attributes(std::map<std::string, std::string> json) {
  v1::PutAttributesRequest request;
  for (const auto& [name, text] : json) (*request.mutable_attributes())[name] = Json(text);
  return request;
}

v1::GrantConsentRequest Grant(const std::string& client, std::vector<std::string> attributes,
                              const std::string& purpose,
                              v1::Consent::Access access = v1::Consent::ACCESS_READ) {
  v1::GrantConsentRequest request;
  request.set_client_id(client);
  for (auto& a : attributes) request.add_attributes(a);
  request.set_purpose(purpose);
  request.set_access(access);
  return request;
}

v1::ReadAttributesRequest Read(const std::string& user_id, std::vector<std::string> attributes,
                               const std::string& purpose) {
  v1::ReadAttributesRequest request;
  request.set_user_id(user_id);
  for (auto& a : attributes) request.add_attributes(a);
  request.set_purpose(purpose);
  return request;
}

std::string Message(const absl::Status& status) { return std::string(status.message()); }

absl::Time FromUnixSeconds(const google::protobuf::Timestamp& time) {
  return absl::FromUnixSeconds(time.seconds()) + absl::Nanoseconds(time.nanos());
}

TEST_CASE("each service sees its own stable pseudonym, and the store never sees the subject",
          "[profile][vault]") {
  TestNode node;
  const Person person = node.SignIn("010190-123A");
  REQUIRE(node.vault().PutAttributes(person, Attributes({{"age", "34"}})).ok());
  auto chatbot = node.vault().GrantConsent(person, Grant(TestNode::kChatbot, {"age"}, "chat"));
  auto clinic = node.vault().GrantConsent(person, Grant(TestNode::kClinic, {"age"}, "care"));
  auto again = node.vault().GrantConsent(person, Grant(TestNode::kChatbot, {"age"}, "other"));
  REQUIRE(chatbot.ok());
  REQUIRE(clinic.ok());
  REQUIRE(again.ok());
  const std::string chatbot_id = chatbot->consent().user_id();
  CHECK(IsCanonicalUuid(chatbot_id));
  CHECK(chatbot_id != clinic->consent().user_id());
  CHECK(again->consent().user_id() == chatbot_id);  // stable per service
  CHECK(chatbot_id != person.user);

  // Signing in again gives the same store pseudonym; another person another one.
  CHECK(node.SignIn("010190-123A").user == person.user);
  CHECK(node.SignIn("010190-999B").user != person.user);

  auto profile = node.vault().GetMyProfile(person);
  REQUIRE(profile.ok());
  REQUIRE(profile->services_size() == 2);

  for (const auto& key : node.Keys()) {
    INFO(key);
    CHECK(key.find("010190-123A") == std::string::npos);
  }
}

TEST_CASE("two nodes' stores share no joinable identifier for the same person",
          "[profile][vault]") {
  TestNode a, b;
  std::set<std::string> ids[2];
  TestNode* nodes[2] = {&a, &b};
  for (int n = 0; n < 2; ++n) {
    const Person person = nodes[n]->SignIn("same-person");
    REQUIRE(nodes[n]->vault().PutAttributes(person, Attributes({{"age", "50"}})).ok());
    REQUIRE(nodes[n]->vault().GrantConsent(person, Grant(TestNode::kChatbot, {"age"}, "x")).ok());
    ids[n] = nodes[n]->IdsInKeys();
  }
  // Only the service's client id (public, the same in the whole network) is in both.
  std::vector<std::string> shared;
  for (const auto& id : ids[0]) {
    if (ids[1].contains(id)) shared.push_back(id);
  }
  CHECK(shared == std::vector<std::string>{TestNode::kChatbot});
  CHECK(ids[0].size() >= 3);  // store pseudonym, consent id, service pseudonym
}

TEST_CASE("a service reads only under a live consent for that attribute, purpose and access",
          "[profile][vault]") {
  TestNode node;
  const Person person = node.SignIn("user-1");
  REQUIRE(node.vault()
              .PutAttributes(person, Attributes({{"age", "34"},
                                                 {"municipality_code", "\"091\""},
                                                 {"life_situation_meters", R"({"health":[3]})"}}))
              .ok());
  auto granted = node.vault().GrantConsent(
      person, Grant(TestNode::kChatbot, {"age", "municipality_code"}, "recommend services"));
  REQUIRE(granted.ok());
  const std::string user_id = granted->consent().user_id();

  auto read = node.vault().ReadAttributes(
      TestNode::kChatbot, Read(user_id, {"age", "municipality_code"}, "recommend services"));
  REQUIRE(read.ok());
  REQUIRE(read->attributes_size() == 2);
  CHECK(read->attributes(0).name() == "age");
  CHECK(read->attributes(0).value().number_value() == 34);
  CHECK(read->attributes(1).value().string_value() == "091");

  auto denied = [&](const std::string& client, const v1::ReadAttributesRequest& request) {
    auto result = node.vault().ReadAttributes(client, request);
    CHECK(result.status().code() == absl::StatusCode::kPermissionDenied);
    return Message(result.status());
  };
  // An attribute outside the consent, another purpose, another service, an unknown person.
  CHECK(denied(TestNode::kChatbot,
               Read(user_id, {"age", "life_situation_meters"}, "recommend services"))
            .find("covering life_situation_meters") != std::string::npos);
  denied(TestNode::kChatbot, Read(user_id, {"age"}, "marketing"));
  denied(TestNode::kClinic, Read(user_id, {"age"}, "recommend services"));
  // Whether the person exists or not, the answer is the same.
  CHECK(denied(TestNode::kChatbot, Read(NewRandomUuid(), {"age"}, "advertising")) ==
        denied(TestNode::kChatbot, Read(user_id, {"age"}, "advertising")));
  // A consented attribute without a value: absent from the answer, not an error.
  auto clinic = node.vault().GrantConsent(
      person, Grant(TestNode::kClinic, {"life_situation_meters", "age"}, "care"));
  REQUIRE(clinic.ok());
  v1::DeleteAttributesRequest forget;
  forget.add_names("life_situation_meters");
  REQUIRE(node.vault().DeleteAttributes(person, forget).ok());
  auto partial = node.vault().ReadAttributes(
      TestNode::kClinic,
      Read(clinic->consent().user_id(), {"life_situation_meters", "age"}, "care"));
  REQUIRE(partial.ok());
  REQUIRE(partial->attributes_size() == 1);
  CHECK(partial->attributes(0).name() == "age");

  // Expired: a consent granted with a one-hour expiry.
  auto hour = Grant(TestNode::kChatbot, {"age"}, "short");
  *hour.mutable_expire_time() = [&] {
    google::protobuf::Timestamp t;
    t.set_seconds(absl::ToUnixSeconds(node.now + absl::Hours(1)));
    return t;
  }();
  REQUIRE(node.vault().GrantConsent(person, hour).ok());
  CHECK(node.vault().ReadAttributes(TestNode::kChatbot, Read(user_id, {"age"}, "short")).ok());
  node.now += absl::Hours(2);
  denied(TestNode::kChatbot, Read(user_id, {"age"}, "short"));
  // The 90-day default still holds.
  CHECK(node.vault()
            .ReadAttributes(TestNode::kChatbot, Read(user_id, {"age"}, "recommend services"))
            .ok());
  node.now += absl::Hours(24 * 90);
  denied(TestNode::kChatbot, Read(user_id, {"age"}, "recommend services"));
}

TEST_CASE("withdrawal stops reads at once; receipts are signed and verify", "[profile][vault]") {
  TestNode node;
  const Person person = node.SignIn("user-2");
  REQUIRE(node.vault().PutAttributes(person, Attributes({{"age", "71"}})).ok());
  auto granted = node.vault().GrantConsent(person, Grant(TestNode::kClinic, {"age"}, "care"));
  REQUIRE(granted.ok());
  const std::string user_id = granted->consent().user_id();
  REQUIRE(node.vault().ReadAttributes(TestNode::kClinic, Read(user_id, {"age"}, "care")).ok());

  auto payload = VerifyJws(node.signer().Keys(), granted->signed_receipt());
  REQUIRE(payload.ok());
  const auto receipt = nlohmann::json::parse(*payload);
  CHECK(receipt["receipt_id"] == granted->receipt_id());
  CHECK(receipt["event"] == "grant");
  CHECK(receipt["principal"] == user_id);
  CHECK(receipt["controller"]["name"] == "Helsinki");
  CHECK(receipt["service"]["client_id"] == TestNode::kClinic);
  CHECK(receipt["consent"]["attributes"] == nlohmann::json::array({"age"}));
  CHECK(receipt["consent"]["purpose"] == "care");
  CHECK(receipt["consent"]["access"] == "read");
  CHECK(receipt["consent"]["expires_at"] == "2027-04-15T08:00:00Z");  // 90 days on
  // Another key, or an altered receipt, does not verify.
  auto other = DevIssuer::Create("x");
  REQUIRE(other.ok());
  CHECK_FALSE(VerifyJws((*other)->Keys(), granted->signed_receipt()).ok());
  std::string altered = granted->signed_receipt();
  const size_t payload_start = altered.find('.') + 1;
  altered[payload_start + 5] = altered[payload_start + 5] == 'A' ? 'B' : 'A';
  CHECK_FALSE(VerifyJws(node.signer().Keys(), altered).ok());

  v1::WithdrawConsentRequest withdraw;
  withdraw.set_consent_id(granted->consent().consent_id());
  node.now += absl::Minutes(5);
  auto withdrawn = node.vault().WithdrawConsent(person, withdraw);
  REQUIRE(withdrawn.ok());
  CHECK(withdrawn->event() == "withdrawal");
  CHECK(withdrawn->receipt_id() != granted->receipt_id());
  auto withdrawal =
      nlohmann::json::parse(*VerifyJws(node.signer().Keys(), withdrawn->signed_receipt()));
  CHECK(withdrawal["consent"]["withdrawn_at"] == "2027-01-15T08:05:00Z");
  CHECK(node.vault()
            .ReadAttributes(TestNode::kClinic, Read(user_id, {"age"}, "care"))
            .status()
            .code() == absl::StatusCode::kPermissionDenied);
  // Twice: refused, and nothing changes.
  auto twice = node.vault().WithdrawConsent(person, withdraw);
  CHECK(twice.status().code() == absl::StatusCode::kFailedPrecondition);
  // Another person cannot withdraw it (nor learn it exists).
  CHECK(node.vault().WithdrawConsent(node.SignIn("user-3"), withdraw).status().code() ==
        absl::StatusCode::kNotFound);

  v1::ListConsentsRequest live;
  CHECK(node.vault().ListConsents(person, live)->consents_size() == 0);
  live.set_include_inactive(true);
  auto all = node.vault().ListConsents(person, live);
  REQUIRE(all.ok());
  CHECK(all->consents_size() == 1);
  CHECK(all->receipts_size() == 2);
}

TEST_CASE("the access log lists every read and store, and the export holds everything",
          "[profile][vault]") {
  TestNode node;
  const Person person = node.SignIn("user-4");
  REQUIRE(node.vault().PutAttributes(person, Attributes({{"age", "19"}})).ok());
  auto read = node.vault().GrantConsent(person, Grant(TestNode::kChatbot, {"age"}, "chat"));
  auto store = node.vault().GrantConsent(person, Grant(TestNode::kClinic, {"life_situation_meters"},
                                                       "care", v1::Consent::ACCESS_STORE));
  REQUIRE(read.ok());
  REQUIRE(store.ok());
  for (int i = 0; i < 3; ++i) {
    node.now += absl::Seconds(1);
    REQUIRE(
        node.vault()
            .ReadAttributes(TestNode::kChatbot, Read(read->consent().user_id(), {"age"}, "chat"))
            .ok());
  }
  // A read consent does not let a service store, nor a store consent read.
  v1::StoreAttributesRequest write;
  write.set_user_id(read->consent().user_id());
  (*write.mutable_attributes())["age"] = Json("20");
  write.set_purpose("chat");
  CHECK(node.vault().StoreAttributes(TestNode::kChatbot, write).status().code() ==
        absl::StatusCode::kPermissionDenied);
  write.set_user_id(store->consent().user_id());
  write.clear_attributes();
  (*write.mutable_attributes())["life_situation_meters"] = Json(R"({"housing":[2,4]})");
  write.set_purpose("care");
  auto stored = node.vault().StoreAttributes(TestNode::kClinic, write);
  REQUIRE(stored.ok());
  CHECK(node.vault()
            .ReadAttributes(TestNode::kClinic,
                            Read(store->consent().user_id(), {"life_situation_meters"}, "care"))
            .status()
            .code() == absl::StatusCode::kPermissionDenied);
  // A value a service stores is validated like the person's own.
  (*write.mutable_attributes())["life_situation_meters"] = Json(R"({"housing":[11]})");
  CHECK(node.vault().StoreAttributes(TestNode::kClinic, write).status().code() ==
        absl::StatusCode::kInvalidArgument);

  auto log = node.vault().ListAccessLog(person, {});
  REQUIRE(log.ok());
  REQUIRE(log->entries_size() == 4);
  CHECK(log->entries(0).operation() == "store");  // newest first
  CHECK(log->entries(0).client_name() == "Health centre");
  CHECK(log->entries(0).attributes(0) == "life_situation_meters");
  for (int i = 1; i < 4; ++i) {
    CHECK(log->entries(i).operation() == "read");
    CHECK(log->entries(i).client_name() == "Chatbot");
    CHECK(log->entries(i).client_id() == TestNode::kChatbot);
    CHECK(log->entries(i).purpose() == "chat");
    CHECK(log->entries(i).consent_ids(0) == read->consent().consent_id());
  }
  v1::ListAccessLogRequest two;
  two.set_limit(2);
  CHECK(node.vault().ListAccessLog(person, two)->entries_size() == 2);
  two.set_limit(501);
  CHECK(Message(node.vault().ListAccessLog(person, two).status()).find("501") != std::string::npos);

  auto exported = node.vault().Export(person);
  REQUIRE(exported.ok());
  CHECK(exported->attributes_size() == 2);
  CHECK(exported->attributes(1).name() == "life_situation_meters");
  CHECK(exported->attributes(1).source() == TestNode::kClinic);
  CHECK(exported->services_size() == 2);
  CHECK(exported->consents_size() == 2);
  CHECK(exported->receipts_size() == 2);
  CHECK(exported->access_log_size() == 4);
}

TEST_CASE("erasure removes the person; their pseudonyms stop working", "[profile][vault]") {
  TestNode node;
  const Person person = node.SignIn("user-5");
  REQUIRE(node.vault().PutAttributes(person, Attributes({{"age", "44"}})).ok());
  auto granted = node.vault().GrantConsent(person, Grant(TestNode::kChatbot, {"age"}, "chat"));
  REQUIRE(granted.ok());
  auto erased = node.vault().Erase(person);
  REQUIRE(erased.ok());
  CHECK(erased->deleted_records() == 6);  // key, attribute, service, index, consent, receipt
  auto profile = node.vault().GetMyProfile(person);
  REQUIRE(profile.ok());
  CHECK(profile->attributes_size() == 0);
  CHECK(profile->services_size() == 0);
  CHECK(node.vault()
            .ReadAttributes(TestNode::kChatbot, Read(granted->consent().user_id(), {"age"}, "chat"))
            .status()
            .code() == absl::StatusCode::kPermissionDenied);
  CHECK(node.Keys() == std::vector<std::string>{"m/format"});
}

TEST_CASE("bad input is refused with a clear error and stores nothing", "[profile][vault]") {
  TestNode node;
  const Person person = node.SignIn("user-6");
  auto refused = [&](const absl::Status& status, absl::StatusCode code, const std::string& text) {
    CHECK(status.code() == code);
    CHECK_THAT(Message(status), Catch::Contains(text));
  };
  refused(node.vault().PutAttributes(person, Attributes({{"shoe_size", "42"}})).status(),
          absl::StatusCode::kInvalidArgument, "shoe_size");
  refused(node.vault()
              .PutAttributes(person, Attributes({{"age", "30"},
                                                 {"life_situation_meters", R"({"health":[11]})"}}))
              .status(),
          absl::StatusCode::kInvalidArgument, "11");
  refused(node.vault().PutAttributes(person, {}).status(), absl::StatusCode::kInvalidArgument,
          "attributes");
  refused(node.vault().GrantConsent(person, Grant("not-a-uuid", {"age"}, "x")).status(),
          absl::StatusCode::kInvalidArgument, "not-a-uuid");
  refused(node.vault()
              .GrantConsent(person, Grant("0b8c7d1e-9999-4a2b-9c3d-000000000009", {"age"}, "x"))
              .status(),
          absl::StatusCode::kNotFound, "0b8c7d1e-9999");
  refused(node.vault().GrantConsent(person, Grant(TestNode::kRevoked, {"age"}, "x")).status(),
          absl::StatusCode::kFailedPrecondition, "revoked");
  refused(
      node.vault().GrantConsent(person, Grant(TestNode::kChatbot, {"age", "age"}, "x")).status(),
      absl::StatusCode::kInvalidArgument, "twice");
  refused(node.vault().GrantConsent(person, Grant(TestNode::kChatbot, {"age"}, "")).status(),
          absl::StatusCode::kInvalidArgument, "purpose");
  refused(node.vault()
              .GrantConsent(
                  person, Grant(TestNode::kChatbot, {"age"}, "x", v1::Consent::ACCESS_UNSPECIFIED))
              .status(),
          absl::StatusCode::kInvalidArgument, "ACCESS_UNSPECIFIED");
  auto far = Grant(TestNode::kChatbot, {"age"}, "x");
  far.mutable_expire_time()->set_seconds(absl::ToUnixSeconds(node.now + absl::Hours(24 * 400)));
  refused(node.vault().GrantConsent(person, far).status(), absl::StatusCode::kInvalidArgument,
          "expire_time");
  refused(node.vault().ReadAttributes(TestNode::kChatbot, Read("x", {"age"}, "p")).status(),
          absl::StatusCode::kInvalidArgument, "user_id");
  CHECK(node.Keys() == std::vector<std::string>{"m/format"});

  // Tokens: malformed, expired, another audience, a tampered signature.
  refused(node.vault().Authenticate("not.a.jwt").status(), absl::StatusCode::kUnauthenticated, "");
  const std::string token = node.Token("user-6");
  node.now += absl::Hours(1);
  refused(node.vault().Authenticate(token).status(), absl::StatusCode::kUnauthenticated, "exp");
  refused(node.vault().Authenticate(node.Token("user-6", "another-audience")).status(),
          absl::StatusCode::kUnauthenticated, "aud");
  std::string tampered = node.Token("user-6");
  tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
  refused(node.vault().Authenticate(tampered).status(), absl::StatusCode::kUnauthenticated,
          "signature");
}

v1::CreateTransferRequest TransferTo(const std::string& channel,
                                     std::map<std::string, std::string> values,
                                     std::vector<std::string> stored = {}) {
  v1::CreateTransferRequest request;
  request.set_service_channel_id(channel);
  for (const auto& [name, text] : values) (*request.mutable_attributes())[name] = Json(text);
  for (auto& name : stored) request.add_attribute_names(name);
  return request;
}

TEST_CASE("a session transfer is single use, for the channel's client, with only what it accepts",
          "[profile][vault][transfer]") {
  TestNode node;
  // An anonymous person, through a chatbot: the municipality is not accepted by the channel.
  auto created = node.vault().CreateAnonymousTransfer(
      TestNode::kChatbot,
      TransferTo(TestNode::kTransferChannel, {{"age", "17"}, {"municipality_code", "\"091\""}}));
  REQUIRE(created.ok());
  const std::string token = created->access_token();
  CHECK(token.size() == 64);
  REQUIRE(created->attributes_size() == 1);
  CHECK(created->attributes(0) == "age");
  CHECK(created->client_id() == TestNode::kClinic);
  CHECK(created->redirect_url() ==
        "https://palvelu.example/aloitus?auroraai_access_token=" + token);
  CHECK(FromUnixSeconds(created->expire_time()) == node.now + absl::Minutes(10));
  // Stored only as a hash.
  for (const auto& key : node.Keys()) CHECK(key.find(token) == std::string::npos);

  // Another client may not redeem it, and that does not use it up.
  auto wrong = node.vault().RedeemTransfer(TestNode::kChatbot, token);
  CHECK(wrong.status().code() == absl::StatusCode::kPermissionDenied);
  auto redeemed = node.vault().RedeemTransfer(TestNode::kClinic, token);
  REQUIRE(redeemed.ok());
  REQUIRE(redeemed->attributes_size() == 1);
  CHECK(redeemed->attributes(0).name() == "age");
  CHECK(redeemed->attributes(0).value().number_value() == 17);
  CHECK(redeemed->service_channel_id() == TestNode::kTransferChannel);
  // Once only, also in compatibility mode.
  CHECK(node.vault().RedeemTransfer(TestNode::kClinic, token).status().code() ==
        absl::StatusCode::kNotFound);
  CHECK(node.vault().RedeemTransfer("", token).status().code() == absl::StatusCode::kNotFound);

  // Expired: not redeemable, and swept away.
  auto late = node.vault().CreateAnonymousTransfer(
      TestNode::kChatbot, TransferTo(TestNode::kTransferChannel, {{"age", "40"}}));
  REQUIRE(late.ok());
  node.now += absl::Minutes(11);
  CHECK(node.vault().RedeemTransfer("", late->access_token()).status().code() ==
        absl::StatusCode::kNotFound);
  auto other = node.vault().CreateAnonymousTransfer(
      TestNode::kChatbot, TransferTo(TestNode::kTransferChannel, {{"age", "41"}}));
  REQUIRE(other.ok());
  node.now += absl::Minutes(11);
  REQUIRE(node.vault()
              .CreateAnonymousTransfer(TestNode::kChatbot,
                                       TransferTo(TestNode::kTransferChannel, {{"age", "42"}}))
              .ok());
  size_t transfers = 0;
  for (const auto& key : node.Keys()) transfers += key.rfind("t/", 0) == 0 ? 1 : 0;
  CHECK(transfers == 1);  // the one just made; the expired one was swept

  // Nothing the channel accepts: no token, the channel's own page.
  auto nothing = node.vault().CreateAnonymousTransfer(
      TestNode::kChatbot,
      TransferTo(TestNode::kTransferChannel, {{"municipality_code", "\"091\""}}));
  REQUIRE(nothing.ok());
  CHECK(nothing->access_token().empty());
  CHECK(nothing->redirect_url() == "https://palvelu.example/aloitus");
}

TEST_CASE("a signed-in person transfers stored attributes, and the access log shows it",
          "[profile][vault][transfer]") {
  TestNode node;
  const Person person = node.SignIn("user-7");
  REQUIRE(node.vault()
              .PutAttributes(person, Attributes({{"age", "23"},
                                                 {"life_situation_meters", R"({"health":[4]})"},
                                                 {"municipality_code", "\"564\""}}))
              .ok());
  auto created = node.vault().CreateTransfer(
      person, TransferTo(TestNode::kTransferChannel, {{"age", "24"}},
                         {"age", "life_situation_meters", "municipality_code"}));
  REQUIRE(created.ok());
  CHECK(created->attributes_size() == 2);
  auto redeemed = node.vault().RedeemTransfer(TestNode::kClinic, created->access_token());
  REQUIRE(redeemed.ok());
  REQUIRE(redeemed->attributes_size() == 2);
  CHECK(redeemed->attributes(0).name() == "age");
  CHECK(redeemed->attributes(0).value().number_value() == 24);  // the given value wins
  CHECK(redeemed->attributes(1).name() == "life_situation_meters");
  auto log = node.vault().ListAccessLog(person, {});
  REQUIRE(log.ok());
  REQUIRE(log->entries_size() == 1);
  CHECK(log->entries(0).operation() == "transfer");
  CHECK(log->entries(0).client_name() == "Health centre");
  CHECK(log->entries(0).attributes_size() == 2);
}

TEST_CASE("session transfer input is checked", "[profile][vault][transfer]") {
  TestNode node;
  auto refused = [&](const absl::StatusOr<v1::Transfer>& result, absl::StatusCode code,
                     const std::string& text) {
    CHECK(result.status().code() == code);
    CHECK_THAT(Message(result.status()), Catch::Contains(text));
  };
  refused(node.vault().CreateAnonymousTransfer(TestNode::kChatbot,
                                               TransferTo(TestNode::kPlainChannel, {{"age", "5"}})),
          absl::StatusCode::kNotFound, "takes no session transfers");
  refused(
      node.vault().CreateAnonymousTransfer(
          TestNode::kChatbot, TransferTo("c4000000-0000-4000-8000-00000000000f", {{"age", "5"}})),
      absl::StatusCode::kNotFound, "no service has the channel");
  refused(node.vault().CreateAnonymousTransfer(
              TestNode::kChatbot, TransferTo(TestNode::kRevokedChannel, {{"age", "5"}})),
          absl::StatusCode::kFailedPrecondition, "revoked");
  refused(
      node.vault().CreateAnonymousTransfer(TestNode::kChatbot, TransferTo("nope", {{"age", "5"}})),
      absl::StatusCode::kInvalidArgument, "service_channel_id");
  refused(node.vault().CreateAnonymousTransfer(
              TestNode::kChatbot, TransferTo(TestNode::kTransferChannel, {{"age", "201"}})),
          absl::StatusCode::kInvalidArgument, "201");
  refused(node.vault().CreateAnonymousTransfer(TestNode::kChatbot,
                                               TransferTo(TestNode::kTransferChannel, {})),
          absl::StatusCode::kInvalidArgument, "at least one");
  refused(node.vault().CreateAnonymousTransfer(TestNode::kChatbot,
                                               TransferTo(TestNode::kTransferChannel, {}, {"age"})),
          absl::StatusCode::kInvalidArgument, "signed-in");
  auto wrong_service = TransferTo(TestNode::kTransferChannel, {{"age", "5"}});
  wrong_service.set_service_id("5e000000-0000-4000-8000-00000000000f");
  refused(node.vault().CreateAnonymousTransfer(TestNode::kChatbot, wrong_service),
          absl::StatusCode::kInvalidArgument, "belongs to service");
  CHECK(node.vault().RedeemTransfer("", "abc").status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(node.vault().RedeemTransfer("", std::string(64, 'A')).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(node.vault().RedeemTransfer("", std::string(64, 'a')).status().code() ==
        absl::StatusCode::kNotFound);
  CHECK(node.Keys() == std::vector<std::string>{"m/format"});
}

// A network of two organisations' nodes, in one process: the citizen's node (kOrganization) holds
// transfers; the partner's node (kPartnerOrganization) receives them, redeeming at the source as
// the partner organisation (what TransferSourceClient does over mutual TLS, where the source node
// takes the organisation from the certificate).
struct TwoNodes {
  TestNode source{{.organization = TestNode::kOrganization, .redeem_at_source = {}}};
  std::string calling_organization = TestNode::kPartnerOrganization;
  int redemptions_at_source = 0;
  TestNode receiver{{.organization = TestNode::kPartnerOrganization,
                     .redeem_at_source = [this](const std::string& organization,
                                                const v1::RedeemTransferRequest& request)
                         -> absl::StatusOr<v1::RedeemTransferResponse> {
                       ++redemptions_at_source;
                       if (organization != TestNode::kOrganization) {
                         return absl::FailedPreconditionError("not a member: " + organization);
                       }
                       return source.vault().RedeemTransferForOrganization(calling_organization,
                                                                           request);
                     }}};
};

v1::ReceiveTransferRequest Receive(const std::string& token, const std::string& source) {
  v1::ReceiveTransferRequest request;
  request.set_access_token(token);
  request.set_source_organization_id(source);
  return request;
}

// The query parameters of a URL.
std::map<std::string, std::string> QueryOf(const std::string& url) {
  std::map<std::string, std::string> out;
  const auto question = url.find('?');
  if (question == std::string::npos) return out;
  std::stringstream parts(url.substr(question + 1));
  for (std::string part; std::getline(parts, part, '&');) {
    const auto equals = part.find('=');
    out[part.substr(0, equals)] = equals == std::string::npos ? "" : part.substr(equals + 1);
  }
  return out;
}

TEST_CASE(
    "a session transfer crosses organisations: redeemed once at the source, kept only at "
    "the receiver under an identifier of its own",
    "[profile][vault][transfer]") {
  TwoNodes network;
  const Person person = network.source.SignIn("010190-123A");
  REQUIRE(network.source.vault()
              .PutAttributes(person, Attributes({{"age", "31"},
                                                 {"municipality_code", "\"564\""},
                                                 {"life_situation_meters", R"({"health":[3]})"}}))
              .ok());
  // The person at the source consents to a service of the source's own, for comparison below.
  REQUIRE(
      network.source.vault().GrantConsent(person, Grant(TestNode::kChatbot, {"age"}, "x")).ok());
  auto created = network.source.vault().CreateTransfer(
      person, TransferTo(TestNode::kPartnerChannel, {},
                         {"age", "municipality_code", "life_situation_meters"}));
  REQUIRE(created.ok());
  // Only what the partner's channel accepts; the link says where the token is held.
  CHECK(std::vector<std::string>(created->attributes().begin(), created->attributes().end()) ==
        std::vector<std::string>{"age", "municipality_code"});
  CHECK(created->client_id() == TestNode::kPartnerClient);
  CHECK(created->source_organization_id() == TestNode::kOrganization);
  const auto query = QueryOf(created->redirect_url());
  CHECK(created->redirect_url().rfind("https://etuudet.example/hae?", 0) == 0);
  CHECK(query.at("auroraai_access_token") == created->access_token());
  CHECK(query.at("aurora_transfer_source") == TestNode::kOrganization);
  const std::set<std::string> source_ids_before = network.source.IdsInKeys();

  auto received = network.receiver.vault().ReceiveTransfer(
      TestNode::kPartnerClient, Receive(created->access_token(), TestNode::kOrganization));
  REQUIRE(received.ok());
  CHECK(network.redemptions_at_source == 1);
  CHECK(IsCanonicalUuid(received->user_id()));
  CHECK(received->source_organization_id() == TestNode::kOrganization);
  CHECK(received->service_channel_id() == TestNode::kPartnerChannel);
  REQUIRE(received->attributes_size() == 2);
  CHECK(received->attributes(0).name() == "age");
  CHECK(received->attributes(0).value().number_value() == 31);
  CHECK(received->attributes(0).source() == TestNode::kPartnerClient);
  CHECK(received->attributes(1).name() == "municipality_code");
  REQUIRE(received->consents_size() == 2);
  for (const auto& consent : received->consents()) {
    CHECK(consent.purpose() == "session transfer");
    CHECK(consent.client_id() == TestNode::kPartnerClient);
    CHECK(consent.user_id() == received->user_id());
  }
  CHECK(received->consents(0).access() == v1::Consent::ACCESS_READ);
  CHECK(received->consents(1).access() == v1::Consent::ACCESS_STORE);

  // The partner's service works with it at once, under the consents that came with it.
  auto read = network.receiver.vault().ReadAttributes(
      TestNode::kPartnerClient,
      Read(received->user_id(), {"age", "municipality_code"}, "session transfer"));
  REQUIRE(read.ok());
  REQUIRE(read->attributes_size() == 2);
  CHECK(read->attributes(1).value().string_value() == "564");
  v1::StoreAttributesRequest store;
  store.set_user_id(received->user_id());
  store.set_purpose("session transfer");
  (*store.mutable_attributes())["age"] = Json("32");
  CHECK(network.receiver.vault().StoreAttributes(TestNode::kPartnerClient, store).ok());
  // Not under another purpose, and not for another client.
  CHECK(network.receiver.vault()
            .ReadAttributes(TestNode::kPartnerClient, Read(received->user_id(), {"age"}, "other"))
            .status()
            .code() == absl::StatusCode::kPermissionDenied);

  // Used up at the source: the source keeps no trace of the transfer, and it cannot be received
  // again (also not at the source itself).
  for (const auto& key : network.source.Keys()) CHECK(key.rfind("t/", 0) != 0);
  CHECK(network.source.IdsInKeys() == source_ids_before);
  CHECK(network.receiver.vault()
            .ReceiveTransfer(TestNode::kPartnerClient,
                             Receive(created->access_token(), TestNode::kOrganization))
            .status()
            .code() == absl::StatusCode::kNotFound);
  // The source's access log tells the person where their attributes went.
  auto log = network.source.vault().ListAccessLog(person, {});
  REQUIRE(log.ok());
  REQUIRE(log->entries_size() >= 1);
  CHECK(log->entries(0).operation() == "transfer");
  CHECK(log->entries(0).client_id() == TestNode::kPartnerClient);

  // Unlinkable: the two stores share at most public client ids (the directory's), never the
  // person's identifiers; the receiver's person is none of the source's pseudonyms.
  const std::set<std::string> source_ids = network.source.IdsInKeys();
  const std::set<std::string> client_ids = {TestNode::kChatbot, TestNode::kClinic,
                                            TestNode::kPartnerClient};
  std::vector<std::string> shared;
  for (const auto& id : network.receiver.IdsInKeys()) {
    if (source_ids.contains(id) && !client_ids.contains(id)) shared.push_back(id);
  }
  CHECK(shared.empty());
  CHECK(!source_ids.contains(received->user_id()));
  // The same person sending again is a new, unrelated person at the receiver.
  auto second = network.source.vault().CreateTransfer(
      person, TransferTo(TestNode::kPartnerChannel, {}, {"age"}));
  REQUIRE(second.ok());
  auto again = network.receiver.vault().ReceiveTransfer(
      TestNode::kPartnerClient, Receive(second->access_token(), TestNode::kOrganization));
  REQUIRE(again.ok());
  CHECK(again->user_id() != received->user_id());
}

TEST_CASE(
    "a cross-organisation transfer goes only to the receiving organisation's own client, "
    "and a refused attempt uses nothing up",
    "[profile][vault][transfer]") {
  TwoNodes network;
  auto created = network.source.vault().CreateAnonymousTransfer(
      TestNode::kChatbot, TransferTo(TestNode::kPartnerChannel, {{"age", "44"}}));
  REQUIRE(created.ok());
  const std::string token = created->access_token();
  const auto receiver_keys = network.receiver.Keys();
  auto refused = [&](const absl::Status& status, absl::StatusCode code, const std::string& text) {
    CHECK(status.code() == code);
    CHECK_THAT(Message(status), Catch::Contains(text));
    CHECK(network.receiver.Keys() == receiver_keys);
  };

  // At the receiving node: a client of another organisation, a revoked client, a bad source.
  refused(network.receiver.vault()
              .ReceiveTransfer(TestNode::kChatbot, Receive(token, TestNode::kOrganization))
              .status(),
          absl::StatusCode::kPermissionDenied, TestNode::kOrganization);
  refused(network.receiver.vault()
              .ReceiveTransfer(TestNode::kPartnerRevoked, Receive(token, TestNode::kOrganization))
              .status(),
          absl::StatusCode::kPermissionDenied, "revoked");
  refused(network.receiver.vault()
              .ReceiveTransfer(TestNode::kPartnerClient, Receive(token, "not-an-organisation"))
              .status(),
          absl::StatusCode::kInvalidArgument, "source_organization_id");
  refused(network.receiver.vault()
              .ReceiveTransfer(TestNode::kPartnerClient, Receive(token.substr(1), ""))
              .status(),
          absl::StatusCode::kInvalidArgument, "access_token");
  CHECK(network.redemptions_at_source == 0);
  // Held here it is not: the receiver's own store has no such transfer.
  refused(network.receiver.vault()
              .ReceiveTransfer(TestNode::kPartnerClient, Receive(token, ""))
              .status(),
          absl::StatusCode::kNotFound, "no such transfer");

  // At the source: another organisation's node asking for the partner's client, a client that
  // is not a UUID or unknown, a revoked client, another client of the right organisation.
  v1::RedeemTransferRequest redeem;
  redeem.set_access_token(token);
  redeem.set_client_id(TestNode::kPartnerClient);
  auto at_source = [&](const std::string& organization, const std::string& client) {
    v1::RedeemTransferRequest request = redeem;
    request.set_client_id(client);
    return network.source.vault().RedeemTransferForOrganization(organization, request).status();
  };
  const std::string intruder = "7f000000-0000-4000-8000-0000000000c0";
  CHECK(at_source(intruder, TestNode::kPartnerClient).code() ==
        absl::StatusCode::kPermissionDenied);
  CHECK_THAT(Message(at_source(intruder, TestNode::kPartnerClient)), Catch::Contains(intruder));
  CHECK(at_source(TestNode::kPartnerOrganization, "desk").code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(at_source(TestNode::kPartnerOrganization, "0b8c7d1e-9999-4a2b-9c3d-000000000009").code() ==
        absl::StatusCode::kPermissionDenied);
  CHECK(at_source(TestNode::kPartnerOrganization, TestNode::kPartnerRevoked).code() ==
        absl::StatusCode::kPermissionDenied);
  // The source's own client may not take the partner's transfer by asking as an organisation.
  CHECK(at_source(TestNode::kOrganization, TestNode::kChatbot).code() ==
        absl::StatusCode::kPermissionDenied);

  // A node that answers with something the receiver does not take: nothing is stored.
  TestNode liar{{.organization = TestNode::kPartnerOrganization,
                 .redeem_at_source = [](const std::string&, const v1::RedeemTransferRequest& r)
                     -> absl::StatusOr<v1::RedeemTransferResponse> {
                   v1::RedeemTransferResponse response;
                   response.set_client_id(r.client_id());
                   response.set_service_channel_id(TestNode::kPartnerChannel);
                   auto* attribute = response.add_attributes();
                   attribute->set_name("age");
                   *attribute->mutable_value() = Json("999");
                   return response;
                 }}};
  const auto liar_keys = liar.Keys();
  auto lied = liar.vault().ReceiveTransfer(TestNode::kPartnerClient,
                                           Receive(token, TestNode::kOrganization));
  CHECK(lied.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(Message(lied.status()), Catch::Contains("nothing was stored"));
  CHECK(liar.Keys() == liar_keys);
  // A node outside a network cannot receive from another organisation.
  TestNode outside;
  CHECK(outside.vault()
            .ReceiveTransfer(TestNode::kPartnerClient, Receive(token, TestNode::kOrganization))
            .status()
            .code() == absl::StatusCode::kFailedPrecondition);

  // After all that, the partner's own client still receives it.
  auto received = network.receiver.vault().ReceiveTransfer(TestNode::kPartnerClient,
                                                           Receive(token, TestNode::kOrganization));
  REQUIRE(received.ok());
  REQUIRE(received->attributes_size() == 1);
  CHECK(received->attributes(0).value().number_value() == 44);
}

TEST_CASE("a node receives a transfer held at its own node like one from elsewhere",
          "[profile][vault][transfer]") {
  TestNode node{{.organization = TestNode::kOrganization, .redeem_at_source = {}}};
  auto created = node.vault().CreateAnonymousTransfer(
      TestNode::kChatbot, TransferTo(TestNode::kTransferChannel, {{"age", "19"}}));
  REQUIRE(created.ok());
  // The wrong client leaves it for the right one.
  CHECK(node.vault()
            .ReceiveTransfer(TestNode::kChatbot, Receive(created->access_token(), ""))
            .status()
            .code() == absl::StatusCode::kPermissionDenied);
  auto received = node.vault().ReceiveTransfer(
      TestNode::kClinic, Receive(created->access_token(), TestNode::kOrganization));
  REQUIRE(received.ok());
  CHECK(received->source_organization_id() == TestNode::kOrganization);
  auto read = node.vault().ReadAttributes(TestNode::kClinic,
                                          Read(received->user_id(), {"age"}, "session transfer"));
  REQUIRE(read.ok());
  CHECK(read->attributes(0).value().number_value() == 19);
}

}  // namespace
}  // namespace aurora::profile
