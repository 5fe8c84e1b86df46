// Tests of ProfileVault, the profile node's logic, over a real RocksDB, real tokens from the
// development issuer and the official code lists: pseudonyms, consent enforcement, receipts, the
// access log, export, erasure and bad input.

#include "profile/vault.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
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

// One organisation's profile node: its own RocksDB, master key, pseudonym key and token issuer.
class TestNode {
 public:
  TestNode()
      : dir_(fs::temp_directory_path() / ("aurora-vault-" + NewRandomUuid())),
        clients_({{kChatbot, {kChatbot, "Chatbot", kOrganization, "Helsinki", true}},
                  {kClinic, {kClinic, "Health centre", kOrganization, "Helsinki", true}},
                  {kRevoked, {kRevoked, "Old app", kOrganization, "Helsinki", false}}}) {
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

  static constexpr char kChatbot[] = "0b8c7d1e-1111-4a2b-9c3d-000000000001";
  static constexpr char kClinic[] = "0b8c7d1e-2222-4a2b-9c3d-000000000002";
  static constexpr char kRevoked[] = "0b8c7d1e-3333-4a2b-9c3d-000000000003";
  static constexpr char kOrganization[] = "7f000000-0000-4000-8000-000000000091";
  static constexpr char kService[] = "5e000000-0000-4000-8000-000000000001";
  static constexpr char kTransferChannel[] = "c4000000-0000-4000-8000-000000000001";
  static constexpr char kPlainChannel[] = "c4000000-0000-4000-8000-000000000002";
  static constexpr char kRevokedChannel[] = "c4000000-0000-4000-8000-000000000003";

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
    static const std::regex kUuid("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
    for (const auto& key : nodes[n]->Keys()) {
      for (std::sregex_iterator it(key.begin(), key.end(), kUuid), end; it != end; ++it) {
        ids[n].insert(it->str());
      }
    }
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

}  // namespace
}  // namespace aurora::profile
