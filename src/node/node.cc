#include "node/node.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/log.h"
#include "common/text.h"
#include "network/access_guard.h"
#include "network/access_policy.h"
#include "node/import_client.h"
#include "profile/profile_keys.h"
#include "profile/transfer_source.h"

namespace aurora::node {
namespace {

namespace v1 = aurora::directory::v1;

constexpr char kDemoCredentialsFile[] = "demo-credentials.json";
constexpr char kDemoPendingFile[] = "demo-import.pending";
// The "iss" of the development issuer's tokens and of the node's receipt signatures.
constexpr char kDevIssuerName[] = "urn:aurora:dev-issuer";
constexpr char kReceiptIssuerName[] = "urn:aurora:profile-receipts";
// Fixed so that the demo organisation has the same id in every demo node.
constexpr char kDemoOrganizationId[] = "2b7d2c4e-8f3a-5d61-9c0e-4a1f6b3d7e25";

// "http://<host>:<bound port>" for a listen address "host:port"; a wildcard host ("0.0.0.0",
// "[::]", "") becomes 127.0.0.1, since links need a host a client can reach (deployments set
// --public-url to the name users reach).
std::string DefaultPublicUrl(const std::string& listen, int port) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host.empty() || host == "0.0.0.0" || host == "[::]" || host == "::") host = "127.0.0.1";
  return absl::StrCat("http://", host, ":", port);
}

}  // namespace

absl::StatusOr<std::set<std::string>> ParseComponents(const std::string& list) {
  if (list == "all" || list.empty()) return AvailableComponents();
  std::set<std::string> out;
  for (absl::string_view part : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    const std::string name(part);
    if (!AvailableComponents().contains(name)) {
      std::string available;
      for (const auto& c : AvailableComponents()) absl::StrAppend(&available, c, " ");
      return absl::InvalidArgumentError(
          absl::StrCat("--components: unknown or not built component \"", name,
                       "\"; this build has: ", available, "(or \"all\")"));
    }
    out.insert(name);
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Node>> Node::Start(const NodeConfig& config) {
  std::unique_ptr<Node> node(new Node(config));
  if (auto s = node->StartImpl(); !s.ok()) {
    node->Stop();
    return s;
  }
  return node;
}

absl::Status Node::StartImpl() {
  std::string own_organization;
  // The node's copy of the network registry: from the directory it follows, or from its own.
  network::RegistryCopyOptions copy_options;
  copy_options.cache_path = config_.data_dir + "/network-registry.pb";
  copy_options.metrics = &metrics_;
  if (config_.tls.enabled()) {
    copy_options.trust.ca = config_.tls.ca;
    copy_options.trust.crl_dir = config_.tls.crl_dir;
  }
  registry_copy_ = std::make_unique<network::RegistryCopy>(copy_options);
  if (config_.tls.enabled()) {
    // Fail here, naming the file and the problem, rather than in every handshake later.
    auto own = CheckTlsFiles(config_.tls);
    if (!own.ok()) return own.status();
    own_organization = own->organization_id;
    const bool signer =
        std::find(own->roles.begin(), own->roles.end(), kRegistryRole) != own->roles.end();
    if (config_.components.contains("directory") && !signer) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--tls-cert ", QuoteForMessage(config_.tls.cert),
          ": a node that runs the directory signs the network registry, and its certificate must "
          "carry the role \"",
          kRegistryRole, "\" (aurora ca issue --role ", kRegistryRole, ")"));
    }
    // Every call from another organisation passes the access guard before any service sees it.
    auto credentials = ServerCredentials(config_.tls);
    credentials->SetAuthMetadataProcessor(
        std::make_shared<network::AccessGuard>(registry_copy_.get(), own_organization, &metrics_));
    server_.SetCredentials(credentials, own_organization);
    LogInfo(
        "node", "mutual TLS on the gRPC port",
        {{"organization", own->organization_id},
         {"certificate_serial", own->serial_hex},
         {"not_after", absl::FormatTime(absl::RFC3339_sec, own->not_after, absl::UTCTimeZone())},
         {"crl_dir", config_.tls.crl_dir.empty() ? "none" : config_.tls.crl_dir}});
    const std::string cert_file = config_.tls.cert;
    metrics_.AddGaugeCallback(
        "aurora_tls_certificate_expiry_timestamp_seconds",
        "When the node's TLS certificate (as it is on disk now) expires, in Unix seconds",
        [cert_file] {
          auto pem = ReadFile(cert_file);
          auto info = pem.ok() ? InspectCertificate(*pem, cert_file)
                               : absl::StatusOr<CertificateInfo>(pem.status());
          return info.ok() ? static_cast<double>(absl::ToUnixSeconds(info->not_after)) : 0.0;
        });
  }
  auto codes = CodeLists::LoadFromDirectory(config_.codelists_dir);
  if (!codes.ok()) {
    return absl::Status(codes.status().code(),
                        absl::StrCat("--codelists: ", codes.status().message()));
  }
  codes_ = std::make_unique<CodeLists>(std::move(*codes));

  std::error_code ec;
  std::filesystem::create_directories(config_.data_dir, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("--data-dir: cannot create ", config_.data_dir, ": ", ec.message()));
  }
  DatabaseOptions db_options;
  db_options.block_cache_bytes = config_.block_cache_bytes;
  auto database =
      Database::Open(config_.data_dir + "/rocksdb",
                     {directory::kDirectoryColumnFamily, recommender::kRecommenderColumnFamily,
                      profile::kProfileColumnFamily},
                     db_options);
  if (!database.ok()) return database.status();
  database_ = std::move(*database);
  metrics_.AddDatabase(database_.get());
  metrics_.SetBuildInfo(config_.gateway.version);

  if (config_.components.contains("directory")) {
    directory::DirectoryStoreOptions store_options;
    store_options.secret_hash_iterations = config_.secret_hash_iterations;
    auto store = directory::DirectoryStore::Open(database_.get(), codes_.get(), store_options);
    if (!store.ok()) return store.status();
    directory_store_ = std::move(*store);
    directory_service_ =
        std::make_unique<directory::DirectoryService>(directory_store_.get(), codes_.get());
    server_.AddService(directory_service_.get(), v1::Directory::service_full_name());
    directory::RegistryServiceOptions registry_options;
    if (config_.tls.enabled()) {
      registry_options.signer_cert_file = config_.tls.cert;
      registry_options.signer_key_file = config_.tls.key;
    }
    registry_options.validity = config_.registry_validity;
    registry_service_ =
        std::make_unique<directory::RegistryService>(directory_store_.get(), registry_options);
    server_.AddService(registry_service_.get(),
                       aurora::network::v1::NetworkRegistry::service_full_name());
    auto* store_ptr = directory_store_.get();
    metrics_.AddGaugeCallback(
        "aurora_directory_revision", "The directory's newest durable revision",
        [store_ptr] { return static_cast<double>(store_ptr->durable_revision()); });
    metrics_.AddGaugeCallback(
        "aurora_directory_services", "Live services in the directory",
        [store_ptr] { return static_cast<double>(store_ptr->index().size()); });
  }

  if (config_.components.contains("recommender")) {
    if (config_.directory_target.empty() && !config_.components.contains("directory")) {
      return absl::InvalidArgumentError(
          "--directory-target: the recommender needs a directory to follow; give its address or "
          "run the directory component in this node");
    }
    auto analyzer = recommender::TextAnalyzer::Create();
    if (!analyzer.ok()) return analyzer.status();
    analyzer_ = std::move(*analyzer);
    crisis_ = std::make_unique<recommender::CrisisLexicon>(*analyzer_);
    if (!config_.dictionary_dir.empty()) {
      auto dictionary = recommender::BilingualDictionary::Load(config_.dictionary_dir, *analyzer_);
      if (!dictionary.ok()) {
        return absl::Status(dictionary.status().code(),
                            absl::StrCat("--dictionary-dir: ", dictionary.status().message()));
      }
      dictionary_ = std::move(*dictionary);
    }
    index_ = std::make_unique<recommender::CatalogueIndex>(codes_.get(), analyzer_.get(),
                                                           crisis_.get());
    ranker_ = std::make_unique<recommender::Ranker>(index_.get(), recommender::RankingParameters{},
                                                    dictionary_.get());
    auto store = recommender::FeedbackStore::Open(database_.get());
    if (!store.ok()) return store.status();
    feedback_store_ = std::move(*store);
    auto subscriptions =
        recommender::Subscriptions::Open(database_.get(), ranker_.get(), codes_.get());
    if (!subscriptions.ok()) return subscriptions.status();
    subscriptions_ = std::move(*subscriptions);
    engine_ = std::make_unique<recommender::RecommenderEngine>(
        index_.get(), ranker_.get(), feedback_store_.get(), config_.recommender);
    recommender_service_ = std::make_unique<recommender::RecommenderService>(
        engine_.get(), codes_.get(), subscriptions_.get());
    conversation_ = std::make_unique<recommender::ConversationEngine>(
        ranker_.get(), analyzer_.get(), codes_.get());
    recommender_service_->SetConversation(conversation_.get());
    engine_->SetMetrics(&metrics_.registry());
    if (!config_.recommender_peers.empty()) {
      auto peers = recommender::RecommenderPeers::Create(
          config_.recommender_peers, ChannelCredentialsOrInsecure(config_.tls),
          config_.tls.enabled());
      if (!peers.ok()) return peers.status();
      recommender_peers_ = std::move(*peers);
      engine_->SetPeers(recommender_peers_.get());
    }
    recommender::SituationOptions situation = config_.situation;
    situation.metrics = &metrics_.registry();
    auto situation_stats =
        recommender::SituationStats::Open(database_.get(), codes_.get(), situation);
    if (!situation_stats.ok()) return situation_stats.status();
    situation_ = std::move(*situation_stats);
    engine_->SetSituation(situation_.get());
    situation_service_ =
        std::make_unique<recommender::SituationReportsService>(situation_.get(), codes_.get());
    server_.AddService(situation_service_.get(),
                       aurora::recommender::v1::SituationReports::service_full_name());
    situation_->Start();
    if (config_.learning) {
      recommender::LearningOptions learning = config_.learning_options;
      learning.metrics = &metrics_.registry();
      auto loop =
          recommender::LearningLoop::Open(database_.get(), feedback_store_.get(), learning);
      if (!loop.ok()) return loop.status();
      learning_ = std::move(*loop);
      engine_->SetLearning(learning_.get());
      models_service_ =
          std::make_unique<recommender::RankingModelsService>(engine_.get(), learning_.get());
      server_.AddService(models_service_.get(),
                         aurora::recommender::v1::RankingModels::service_full_name());
      learning_->Start();
    }
    recommender::CompatOptions compat;
    // Without --public-url the links point at the gateway's bound port (set below, once bound).
    if (!config_.public_url.empty()) compat.public_url = config_.public_url;
    compat_service_ =
        std::make_unique<recommender::CompatService>(engine_.get(), codes_.get(), compat);
    server_.AddService(recommender_service_.get(),
                       aurora::recommender::v1::Recommender::service_full_name());
    server_.AddService(compat_service_.get(),
                       aurora::compat::v1::ServiceRecommender::service_full_name());
    auto* index = index_.get();
    metrics_.AddGaugeCallback("aurora_recommender_index_services",
                              "Live services in the recommender's index",
                              [index] { return static_cast<double>(index->size()); });
    metrics_.AddGaugeCallback("aurora_recommender_index_tombstones",
                              "Replaced or deleted services awaiting compaction in the index",
                              [index] { return static_cast<double>(index->tombstones()); });
    metrics_.AddGaugeCallback("aurora_recommender_revision",
                              "The directory revision the recommender's index has applied",
                              [index] { return static_cast<double>(index->revision()); });
    auto* engine = engine_.get();
    metrics_.AddGaugeCallback("aurora_recommender_queued_rankings",
                              "Rankings waiting for a free ranking slot",
                              [engine] { return static_cast<double>(engine->queued()); });
  }

  if (config_.components.contains("profile")) {
    if (auto s = StartProfile(); !s.ok()) return s;
  }

  discovery_service_ =
      std::make_unique<network::DiscoveryService>(registry_copy_.get(), own_organization);
  server_.AddService(discovery_service_.get(), aurora::network::v1::Discovery::service_full_name());
  proxy_ = std::make_unique<network::ServiceProxy>(config_.service_backends, nullptr, &metrics_);
  server_.SetGenericService(proxy_.get());

  server_.SetProbeAddress(config_.probe_listen);
  if (auto s = server_.Start(config_.grpc_listen, &metrics_); !s.ok()) return s;
  if (directory_store_ != nullptr || !config_.directory_target.empty()) {
    if (auto s = registry_copy_->Start(directory_store_ != nullptr ? server_.InProcessChannel()
                                                                   : DirectoryChannel());
        !s.ok()) {
      return s;
    }
  } else if (config_.tls.enabled()) {
    LogWarning("node",
               "no directory to follow (--directory-target): without the network registry, "
               "other organisations' calls are refused");
  }
  if (!config_.service_backends.empty()) {
    std::string services;
    for (const auto& backend : config_.service_backends) {
      absl::StrAppend(&services, services.empty() ? "" : ",", backend.service, "=", backend.target);
    }
    LogInfo("node", "forwarding the organisation's services", {{"backends", services}});
  }
  if (!config_.metrics_listen.empty()) {
    if (auto s = metrics_.StartExposer(config_.metrics_listen); !s.ok()) return s;
  }
  if (!config_.demo_data_dir.empty() && directory_store_ != nullptr) {
    if (auto s = LoadDemo(); !s.ok()) return s;
  }
  if (engine_ != nullptr) {
    if (auto s = StartRecommender(); !s.ok()) return s;
  }
  if (config_.components.contains("gateway")) {
    // Without a directory here, its calls (and API client credentials) go to --directory-target.
    std::map<std::string, std::shared_ptr<grpc::Channel>> elsewhere;
    if (directory_store_ == nullptr && !config_.directory_target.empty()) {
      elsewhere[v1::Directory::service_full_name()] = DirectoryChannel();
    }
    auto gateway = gateway::Gateway::Create(config_.gateway, server_.InProcessChannel(),
                                            metrics_.shared_registry(), nullptr, elsewhere);
    if (!gateway.ok()) return gateway.status();
    gateway_ = std::move(*gateway);
    if (auto s = gateway_->Start(config_.http_listen); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("--http-listen: ", s.message()));
    }
    if (config_.public_url.empty()) {
      const std::string url = DefaultPublicUrl(config_.http_listen, http_port());
      if (compat_service_ != nullptr) compat_service_->mapper().SetPublicUrl(url);
      if (compat_session_service_ != nullptr) compat_session_service_->SetPublicUrl(url);
    }
  }
  server_.SetServing(true);
  served_ = true;
  std::string components;
  for (const auto& c : config_.components)
    absl::StrAppend(&components, components.empty() ? "" : ",", c);
  LogInfo(
      "node", "serving",
      {{"grpc_port", absl::StrCat(server_.port())},
       {"probe_port", absl::StrCat(server_.probe_port())},
       {"http_port", absl::StrCat(http_port())},
       {"metrics_port", absl::StrCat(metrics_.exposer_port())},
       {"components", components},
       {"data_dir", config_.data_dir},
       {"revision", absl::StrCat(directory_store_ ? directory_store_->durable_revision() : 0)}});
  return absl::OkStatus();
}

absl::Status Node::StartProfile() {
  if (config_.directory_target.empty() && !config_.components.contains("directory")) {
    return absl::InvalidArgumentError(
        "--directory-target: the profile node needs the directory (for API clients); give its "
        "address or run the directory component in this node");
  }
  const std::string keys_file = config_.profile_keys_file.empty()
                                    ? config_.data_dir + "/profile-keys.json"
                                    : config_.profile_keys_file;
  auto keys = profile::ProfileKeys::LoadOrCreate(keys_file, config_.profile_keys_file.empty());
  if (!keys.ok()) {
    return absl::Status(keys.status().code(),
                        absl::StrCat("--profile-keys: ", keys.status().message()));
  }
  auto store = profile::ProfileStore::Open(database_.get(), keys->master_key);
  if (!store.ok()) return store.status();
  profile_store_ = std::move(*store);
  auto keyring =
      profile::PseudonymKeyring::Create(keys->pseudonym_keys, keys->pseudonym_key_version);
  if (!keyring.ok()) return keyring.status();
  pseudonyms_ = std::make_unique<profile::PseudonymKeyring>(std::move(*keyring));
  auto attributes =
      config_.attributes_file.empty()
          ? profile::AttributeRegistry::Create(codes_.get())
          : profile::AttributeRegistry::LoadFile(codes_.get(), config_.attributes_file);
  if (!attributes.ok()) {
    return absl::Status(attributes.status().code(),
                        absl::StrCat("--attributes-file: ", attributes.status().message()));
  }
  attributes_ = std::make_unique<profile::AttributeRegistry>(std::move(*attributes));

  // Who signs people in: the development issuer, or a configured identity provider.
  if (config_.dev_issuer) {
    auto issuer =
        profile::DevIssuer::LoadOrCreate(kDevIssuerName, config_.data_dir + "/dev-issuer-key.pem");
    if (!issuer.ok()) return issuer.status();
    dev_issuer_ = std::move(*issuer);
    profile::JwtVerifierOptions options;
    options.issuer = dev_issuer_->issuer();
    options.audience = config_.token_audience;
    token_verifier_ = std::make_unique<profile::JwtVerifier>(dev_issuer_->Keys(), options);
    dev_identity_service_ =
        std::make_unique<profile::DevIdentityService>(dev_issuer_.get(), config_.token_audience);
    server_.AddService(dev_identity_service_.get(),
                       aurora::profile::v1::DevIdentity::service_full_name());
    LogWarning("profile", "the development identity issuer is on: anyone can sign in as anyone",
               {{"issuer", dev_issuer_->issuer()}});
  } else if (!config_.jwks_file.empty() || !config_.jwks_url.empty() ||
             !config_.token_issuer.empty()) {
    if (config_.token_issuer.empty() || config_.jwks_file.empty() == config_.jwks_url.empty()) {
      return absl::InvalidArgumentError(
          "--token-issuer with one of --jwks-file or --jwks-url: the identity provider's "
          "\"iss\" and where its keys are");
    }
    if (!config_.jwks_file.empty()) {
      auto source = profile::JwksSource::FromFile(config_.jwks_file);
      if (!source.ok()) {
        return absl::Status(source.status().code(),
                            absl::StrCat("--jwks-file: ", source.status().message()));
      }
      jwks_source_ = std::move(*source);
    } else {
      profile::JwksUrlOptions url_options;
      url_options.refresh = config_.jwks_refresh;
      url_options.ca_file = config_.jwks_ca_file;
      auto source = profile::JwksSource::FromUrl(config_.jwks_url, url_options);
      if (!source.ok()) {
        return absl::Status(source.status().code(),
                            absl::StrCat("--jwks-url: ", source.status().message()));
      }
      jwks_source_ = std::move(*source);
    }
    profile::JwtVerifierOptions options;
    options.issuer = config_.token_issuer;
    options.audience = config_.token_audience;
    auto* source = jwks_source_.get();
    token_verifier_ = std::make_unique<profile::JwtVerifier>(
        std::function<profile::JwkSet()>([source] { return source->Keys(); }), options);
  } else {
    LogWarning("profile",
               "no identity provider: people cannot sign in to their profiles (give "
               "--token-issuer and --jwks-file, or --dev-issuer)",
               {});
  }
  auto signer = profile::DevIssuer::LoadOrCreate(kReceiptIssuerName,
                                                 config_.data_dir + "/receipt-signing-key.pem");
  if (!signer.ok()) return signer.status();
  receipt_signer_ = std::move(*signer);

  std::shared_ptr<grpc::Channel> remote =
      config_.directory_target.empty() ? nullptr : DirectoryChannel();
  client_directory_ = std::make_unique<profile::ClientDirectory>(
      [this, remote] { return remote != nullptr ? remote : server_.InProcessChannel(); });
  profile::ProfileVaultOptions vault_options;
  vault_options.transfer_lifetime = config_.transfer_lifetime;
  if (config_.tls.enabled()) {
    // A member node: its transfer links name its organisation, and it redeems transfers held at
    // other members' nodes there, over mutual TLS with its certificate, at the address its
    // registry copy gives. The vault keeps the client (the lambda owns it).
    auto own = CheckTlsFiles(config_.tls);
    if (!own.ok()) return own.status();
    vault_options.own_organization_id = own->organization_id;
    profile::TransferSourceOptions source_options;
    source_options.tls = config_.tls;
    source_options.node_address = [registry = registry_copy_.get()](const std::string& org) {
      return network::NodeAddressOf(registry->Current().get(), absl::Now(), org);
    };
    auto sources = std::make_shared<profile::TransferSourceClient>(std::move(source_options));
    vault_options.redeem_at_source = [sources](const std::string& organization_id,
                                               const profile::v1::RedeemTransferRequest& request) {
      return sources->Redeem(organization_id, request);
    };
  }
  vault_ = std::make_unique<profile::ProfileVault>(
      profile_store_.get(), attributes_.get(), pseudonyms_.get(), token_verifier_.get(),
      receipt_signer_.get(), client_directory_->AsLookup(), client_directory_->AsChannelLookup(),
      vault_options);
  profile_calls_ = std::make_unique<profile::ProfileCalls>(config_.profile);
  profile_service_ = std::make_unique<profile::ProfileService>(vault_.get(), profile_calls_.get());
  profile_access_service_ =
      std::make_unique<profile::ProfileAccessService>(vault_.get(), profile_calls_.get());
  server_.AddService(profile_service_.get(), aurora::profile::v1::Profile::service_full_name());
  server_.AddService(profile_access_service_.get(),
                     aurora::profile::v1::ProfileAccess::service_full_name());
  compat_session_service_ =
      std::make_unique<profile::CompatSessionService>(vault_.get(), profile_calls_.get());
  if (!config_.public_url.empty()) compat_session_service_->SetPublicUrl(config_.public_url);
  server_.AddService(compat_session_service_.get(),
                     aurora::compat::v1::SessionAttributes::service_full_name());
  return absl::OkStatus();
}

std::shared_ptr<grpc::Channel> Node::DirectoryChannel() {
  if (directory_channel_ == nullptr) {
    // A watch message carries up to 256 whole services: more than gRPC's default 4 MiB limit.
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(256 << 20);
    // The watch streams (catalogue, registry) are long-lived: notice a dead connection within
    // seconds, and reconnect within seconds once the directory is back (gRPC's default backoff
    // grows to two minutes).
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
    directory_channel_ = grpc::CreateCustomChannel(config_.directory_target,
                                                   ChannelCredentialsOrInsecure(config_.tls), args);
  }
  return directory_channel_;
}

absl::Status Node::StartRecommender() {
  std::shared_ptr<grpc::Channel> channel =
      config_.directory_target.empty() ? server_.InProcessChannel() : DirectoryChannel();
  follower_ = std::make_unique<recommender::DirectoryFollower>(channel, index_.get());
  // New and changed services are matched against the saved situations (subscriptions).
  subscriptions_->Start();
  follower_->SetChangeListener(
      [subscriptions = subscriptions_.get()](int64_t revision, std::vector<std::string> ids) {
        subscriptions->OnChanges(revision, std::move(ids));
      });
  follower_->Start();
  if (directory_store_ != nullptr) {
    auto* store = directory_store_.get();
    auto* follower = follower_.get();
    metrics_.AddGaugeCallback(
        "aurora_recommender_watch_lag_revisions",
        "Directory revisions committed but not yet applied by the recommender's index",
        [store, follower] {
          return static_cast<double>(store->durable_revision() - follower->applied_revision());
        });
  }
  // Waited for in short steps, so that a stop signal ends the wait (a node whose directory is
  // unreachable must still stop when Kubernetes asks it to).
  const absl::Time deadline = absl::Now() + config_.recommender_sync_timeout;
  while (!follower_->WaitUntilSynced(
      std::max(absl::ZeroDuration(), std::min(absl::Milliseconds(100), deadline - absl::Now())))) {
    if (config_.stop_requested != nullptr && config_.stop_requested->load()) {
      return absl::CancelledError(
          "stopped while the recommender was loading the directory's snapshot");
    }
    if (absl::Now() >= deadline) {
      return absl::UnavailableError(
          absl::StrCat("the recommender could not load the directory's snapshot from ",
                       config_.directory_target.empty() ? "this node" : config_.directory_target,
                       " within ", absl::FormatDuration(config_.recommender_sync_timeout)));
    }
  }
  LogInfo("recommender", "index loaded",
          {{"services", absl::StrCat(index_->size())},
           {"revision", absl::StrCat(index_->revision())}});
  if (config_.area_classifier) {
    recommender::AreaLabellerOptions options = config_.area_labeller;
    options.metrics = &metrics_.registry();
    options.classifier.scratch_dir = config_.data_dir;  // writable wherever the node runs
    labeller_ = std::make_unique<recommender::AreaLabeller>(index_.get(), options);
    labeller_->Start();
  }
  return absl::OkStatus();
}

absl::Status Node::LoadDemo() {
  auto stub = v1::Directory::NewStub(server_.InProcessChannel());
  // The demo catalogue goes into an empty directory. A marker file covers a node stopped during
  // that first import: the next start completes it (the import is idempotent).
  const std::string pending = config_.data_dir + "/" + kDemoPendingFile;
  if (directory_store_->durable_revision() == 0 || std::filesystem::exists(pending)) {
    if (auto s = WriteFileAtomically(pending, "loading the demo catalogue\n", 0600); !s.ok()) {
      return s;
    }
    const std::string file = config_.demo_data_dir + "/services.ndjson";
    LogInfo("node", "loading the demo catalogue", {{"file", file}});
    ImportOptions options;
    auto summary = ImportCatalogueFiles(stub.get(), {file}, *codes_, options);
    if (!summary.ok()) {
      return absl::Status(summary.status().code(), absl::StrCat("--demo: importing ", file, ": ",
                                                                summary.status().message()));
    }
    LogInfo("node", "demo catalogue loaded",
            {{"records", absl::StrCat(summary->records)},
             {"created", absl::StrCat(summary->created)},
             {"unchanged", absl::StrCat(summary->unchanged)},
             {"rejected", absl::StrCat(summary->rejected)},
             {"organizations", absl::StrCat(summary->organizations_registered)},
             {"revision", absl::StrCat(summary->revision)}});
    for (const auto& problem : summary->problems) {
      LogWarning("node", "demo record not loaded", {{"problem", problem}});
    }
    std::error_code ec;
    std::filesystem::remove(pending, ec);
  } else {
    LogInfo("node", "the data dir is not empty; the demo catalogue is not loaded again",
            {{"revision", absl::StrCat(directory_store_->durable_revision())}});
  }

  const std::string credentials_path = config_.data_dir + "/" + kDemoCredentialsFile;
  if (std::filesystem::exists(credentials_path)) return absl::OkStatus();
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(30);
  {
    grpc::ClientContext context;
    context.set_deadline(deadline);
    v1::RegisterOrganizationRequest request;
    request.mutable_organization()->set_id(kDemoOrganizationId);
    request.mutable_organization()->mutable_name()->set_fi("Aurora-demo-organisaatio");
    request.mutable_organization()->mutable_name()->set_sv("Aurora demoorganisation");
    request.mutable_organization()->mutable_name()->set_en("Aurora demo organisation");
    v1::Organization organization;
    grpc::Status status = stub->RegisterOrganization(&context, request, &organization);
    if (!status.ok() && status.error_code() != grpc::StatusCode::ALREADY_EXISTS) {
      return absl::InternalError(
          absl::StrCat("--demo: registering the demo organisation: ", status.error_message()));
    }
  }
  grpc::ClientContext context;
  context.set_deadline(deadline);
  v1::RegisterApiClientRequest request;
  request.set_organization_id(kDemoOrganizationId);
  request.set_display_name("Demo client");
  v1::ApiClientCredentials credentials;
  grpc::Status status = stub->RegisterApiClient(&context, request, &credentials);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("--demo: registering the demo API client: ", status.error_message()));
  }
  const std::string json =
      absl::StrCat("{\"client_id\": ", JsonQuote(credentials.client().client_id()),
                   ", \"client_secret\": ", JsonQuote(credentials.client_secret()),
                   ", \"organization_id\": ", JsonQuote(kDemoOrganizationId), "}\n");
  if (auto s = WriteFileAtomically(credentials_path, json, 0600); !s.ok()) return s;
  LogInfo(
      "node", "demo API client registered",
      {{"client_id", credentials.client().client_id()}, {"credentials_file", credentials_path}});
  return absl::OkStatus();
}

void Node::Stop() {
  if (stopped_) return;
  stopped_ = true;
  const absl::Duration drain = served_ ? config_.drain : absl::ZeroDuration();
  LogInfo("node", "shutting down: NOT_SERVING, draining",
          {{"drain_seconds", absl::StrCat(absl::ToDoubleSeconds(drain))}});
  server_.SetServing(false);
  if (server_.server() != nullptr && drain > absl::ZeroDuration()) {
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(drain));
  }
  // Watch streams end first (UNAVAILABLE, resume later), then the gateway, whose requests under
  // way finish through the still running gRPC server.
  if (follower_) follower_->Stop();
  if (labeller_) labeller_->Stop();
  if (subscriptions_) subscriptions_->Stop();
  if (learning_) learning_->Stop();
  if (situation_) situation_->Stop();
  if (registry_copy_) registry_copy_->Stop();
  if (registry_service_) registry_service_->Shutdown();
  if (directory_service_) directory_service_->Shutdown();
  if (recommender_service_) recommender_service_->Shutdown();
  if (gateway_) gateway_->Shutdown(config_.grace);
  server_.Shutdown(config_.grace);
  gateway_.reset();
  metrics_.StopExposer();
  discovery_service_.reset();
  proxy_.reset();
  registry_service_.reset();
  directory_service_.reset();
  directory_store_.reset();
  if (engine_) engine_->Shutdown();
  follower_.reset();
  labeller_.reset();
  compat_service_.reset();
  recommender_service_.reset();
  models_service_.reset();
  subscriptions_.reset();
  engine_.reset();
  learning_.reset();
  situation_service_.reset();
  situation_.reset();
  feedback_store_.reset();
  // The pool finishes what it accepted (synced writes) before the store closes.
  if (profile_calls_) profile_calls_->Shutdown();
  profile_service_.reset();
  profile_access_service_.reset();
  dev_identity_service_.reset();
  compat_session_service_.reset();
  profile_calls_.reset();
  vault_.reset();
  client_directory_.reset();
  token_verifier_.reset();
  jwks_source_.reset();
  profile_store_.reset();
  if (database_) {
    if (auto s = database_->Close(); !s.ok()) {
      LogError("node", "closing RocksDB failed", {{"error", std::string(s.message())}});
    }
    database_.reset();
  }
  LogInfo("node", "stopped");
}

Node::~Node() { Stop(); }

}  // namespace aurora::node
