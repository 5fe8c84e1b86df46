#pragma once
// Node: one `aurora serve` process — opens the data dir's RocksDB, starts the chosen components
// behind one gRPC server (health per component, reflection, metrics), optionally loads the demo
// catalogue, and shuts down gracefully (NOT_SERVING, drain, stop, close RocksDB).
//
// Start/Stop from one thread.

#include <atomic>
#include <memory>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/codelists.h"
#include "common/database.h"
#include "common/metrics.h"
#include "common/server.h"
#include "common/tls.h"
#include "directory/directory_service.h"
#include "directory/registry_service.h"
#include "directory/store.h"
#include "gateway/gateway.h"
#include "network/discovery_service.h"
#include "network/registry_copy.h"
#include "network/service_proxy.h"
#include "profile/attributes.h"
#include "profile/client_directory.h"
#include "profile/dev_issuer.h"
#include "profile/jwks_source.h"
#include "profile/jwt.h"
#include "profile/profile_service.h"
#include "profile/pseudonym.h"
#include "profile/store.h"
#include "profile/vault.h"
#include "recommender/area_labeller.h"
#include "recommender/catalogue_index.h"
#include "recommender/compat_service.h"
#include "recommender/directory_follower.h"
#include "recommender/engine.h"
#include "recommender/feedback_store.h"
#include "recommender/learning_loop.h"
#include "recommender/models_service.h"
#include "recommender/situation_service.h"
#include "recommender/ranker.h"
#include "recommender/recommender_service.h"

namespace aurora::node {

// Components compiled into this build; `--components all` means these.
inline const std::set<std::string>& AvailableComponents() {
  static const std::set<std::string> kComponents = {"directory", "gateway", "profile",
                                                    "recommender"};
  return kComponents;
}

struct NodeConfig {
  std::string data_dir = "./aurora-data";
  std::string grpc_listen = "127.0.0.1:50051";
  // A plaintext listener with only gRPC health (the same statuses), for the kubelet's native gRPC
  // probes when the gRPC port requires mutual TLS; empty: none.
  std::string probe_listen;
  // Mutual TLS on the gRPC port and on the node's calls to other nodes (--directory-target),
  // with a certificate from the network CA (`aurora ca`); not enabled: plaintext. With TLS, the
  // node enforces the network registry's access rights on other organisations' calls; a node
  // that runs the directory signs the registry with this certificate's key (it must carry the
  // role "registry").
  TlsFiles tls;
  // The organisation's own gRPC services this node offers to the network (published in the
  // registry): calls other members may make are forwarded to these backends.
  std::vector<network::ServiceBackend> service_backends;
  // How long a signed registry copy is valid (a directory node's setting).
  absl::Duration registry_validity = absl::Hours(1);
  std::string metrics_listen = "127.0.0.1:9464";  // empty: no /metrics
  std::string http_listen = "127.0.0.1:8080";     // the gateway's address
  gateway::GatewayOptions gateway;
  std::set<std::string> components = AvailableComponents();
  std::string codelists_dir = "../shared/data/codelists";
  // The directory the recommender follows; empty: this node's own (it must run the directory).
  std::string directory_target;
  // The recommender's other replicas, HOST:PORT,... (recommender/peers.h); empty: none.
  std::string recommender_peers;
  // The gateway's address as browsers see it (the compat API's channel links); empty: from
  // http_listen.
  std::string public_url;
  recommender::EngineOptions recommender;
  // The recommender's FreeDict dictionaries (recommender::BilingualDictionary); empty: none.
  std::string dictionary_dir = "/usr/share/dictd";
  absl::Duration recommender_sync_timeout = absl::Seconds(120);
  // Infer the life areas of services without hand labels (recommender::AreaLabeller).
  bool area_classifier = false;
  recommender::AreaLabellerOptions area_labeller;
  // The learnt re-ranking (recommender::LearningLoop, RankingModels).
  bool learning = true;
  recommender::LearningOptions learning_options;
  // The situational picture (recommender::SituationStats).
  recommender::SituationOptions situation;
  // Set (by a stop signal) while Start is still waiting for the recommender's snapshot: Start
  // gives up with CANCELLED instead of waiting out recommender_sync_timeout. May be null.
  const std::atomic<bool>* stop_requested = nullptr;
  // Empty: no demo. Otherwise the folder with services.ndjson to load into an empty directory.
  std::string demo_data_dir;
  absl::Duration drain = absl::Seconds(5);   // NOT_SERVING before the server stops accepting
  absl::Duration grace = absl::Seconds(10);  // for running calls to finish
  int secret_hash_iterations = 600000;
  // Profile: the secret keys file (profile_keys.h); empty: <data_dir>/profile-keys.json, made on
  // first start.
  std::string profile_keys_file;
  // The identity provider people sign in with: its "iss", its keys (a JWKS file) and the "aud"
  // its tokens carry for this node. With dev_issuer, the node's own development issuer instead.
  std::string token_issuer;
  std::string jwks_file;
  // Or its JWKS URL (https://), fetched at start and every jwks_refresh.
  std::string jwks_url;
  absl::Duration jwks_refresh = absl::Minutes(5);
  std::string jwks_ca_file;  // empty: the system's CA store
  std::string token_audience = "aurora";
  bool dev_issuer = false;
  // Attribute definitions beyond the built-ins (attributes.h); empty: none.
  std::string attributes_file;
  // How long a session transfer token may wait to be redeemed (at most 10 minutes).
  absl::Duration transfer_lifetime = absl::Minutes(10);
  profile::ProfileServiceOptions profile;
  size_t block_cache_bytes = 128u << 20;
};

// Parses "all" or a comma-separated list; INVALID_ARGUMENT names an unknown component.
absl::StatusOr<std::set<std::string>> ParseComponents(const std::string& list);

class Node {
 public:
  static absl::StatusOr<std::unique_ptr<Node>> Start(const NodeConfig& config);
  ~Node();

  // Graceful shutdown; idempotent.
  void Stop();

  int grpc_port() const { return server_.port(); }
  int probe_port() const { return server_.probe_port(); }
  int metrics_port() const { return metrics_.exposer_port(); }
  int http_port() const { return gateway_ != nullptr ? gateway_->port() : 0; }
  directory::DirectoryStore* directory_store() const { return directory_store_.get(); }
  const network::RegistryCopy* registry_copy() const { return registry_copy_.get(); }
  recommender::DirectoryFollower* recommender_follower() const { return follower_.get(); }

 private:
  explicit Node(NodeConfig config) : config_(std::move(config)) {}
  absl::Status StartImpl();
  absl::Status LoadDemo();
  absl::Status StartRecommender();
  absl::Status StartProfile();
  // The channel to --directory-target (one, shared by the follower and the gateway).
  std::shared_ptr<grpc::Channel> DirectoryChannel();

  NodeConfig config_;
  std::unique_ptr<CodeLists> codes_;
  std::unique_ptr<Database> database_;
  Metrics metrics_;
  std::unique_ptr<directory::DirectoryStore> directory_store_;
  std::unique_ptr<directory::DirectoryService> directory_service_;
  std::unique_ptr<directory::RegistryService> registry_service_;
  // The network: this node's copy of the registry, discovery from it, and the proxy to the
  // organisation's own backends.
  std::unique_ptr<network::RegistryCopy> registry_copy_;
  std::unique_ptr<network::DiscoveryService> discovery_service_;
  std::unique_ptr<network::ServiceProxy> proxy_;
  std::unique_ptr<recommender::TextAnalyzer> analyzer_;
  std::unique_ptr<recommender::CrisisLexicon> crisis_;
  std::unique_ptr<recommender::BilingualDictionary> dictionary_;
  std::unique_ptr<recommender::CatalogueIndex> index_;
  std::unique_ptr<recommender::Ranker> ranker_;
  std::unique_ptr<recommender::FeedbackStore> feedback_store_;
  std::unique_ptr<recommender::RecommenderPeers> recommender_peers_;  // outlives engine_
  std::unique_ptr<recommender::RecommenderEngine> engine_;
  std::unique_ptr<recommender::ConversationEngine> conversation_;
  std::unique_ptr<recommender::RecommenderService> recommender_service_;
  std::unique_ptr<recommender::CompatService> compat_service_;
  std::unique_ptr<profile::ProfileStore> profile_store_;
  std::unique_ptr<profile::AttributeRegistry> attributes_;
  std::unique_ptr<profile::PseudonymKeyring> pseudonyms_;
  std::unique_ptr<profile::DevIssuer> dev_issuer_;
  std::unique_ptr<profile::DevIssuer> receipt_signer_;
  std::unique_ptr<profile::JwksSource> jwks_source_;
  std::unique_ptr<profile::JwtVerifier> token_verifier_;
  std::unique_ptr<profile::ClientDirectory> client_directory_;
  std::unique_ptr<profile::ProfileVault> vault_;
  std::unique_ptr<profile::ProfileCalls> profile_calls_;
  std::unique_ptr<profile::ProfileService> profile_service_;
  std::unique_ptr<profile::ProfileAccessService> profile_access_service_;
  std::unique_ptr<profile::DevIdentityService> dev_identity_service_;
  std::unique_ptr<profile::CompatSessionService> compat_session_service_;
  std::shared_ptr<grpc::Channel> directory_channel_;
  std::unique_ptr<recommender::DirectoryFollower> follower_;
  std::unique_ptr<recommender::AreaLabeller> labeller_;
  std::unique_ptr<recommender::Subscriptions> subscriptions_;
  std::unique_ptr<recommender::LearningLoop> learning_;
  std::unique_ptr<recommender::RankingModelsService> models_service_;
  std::unique_ptr<recommender::SituationStats> situation_;
  std::unique_ptr<recommender::SituationReportsService> situation_service_;
  GrpcServer server_;
  std::unique_ptr<gateway::Gateway> gateway_;  // after server_: stopped and destroyed first
  bool stopped_ = false;
  bool served_ = false;  // reached SERVING (a start that failed before has nothing to drain)
};

}  // namespace aurora::node
