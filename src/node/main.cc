// aurora: the Aurora Network node. Subcommands: serve, gateway, import, ca, version (DESIGN.md
// §10).

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "common/metrics.h"
#include "directory/catalogue_format.h"
#include "gateway/gateway.h"
#include "gateway/route_table.h"
#include "node/chat_client.h"
#include "node/import_client.h"
#include "node/network_ca.h"
#include "node/node.h"
#include "node/options.h"

#ifndef AURORA_VERSION
#define AURORA_VERSION "0.0.0"
#endif

namespace aurora::node {
namespace {

constexpr char kTopHelp[] =
    "Usage: aurora <command> [options]\n\n"
    "Aurora Network node: the service directory of an AuroraAI network over gRPC and HTTP/JSON.\n\n"
    "Commands:\n"
    "  serve     run a node (gRPC, health, reflection, the HTTP/JSON gateway, /metrics)\n"
    "  gateway   run the HTTP/JSON gateway alone, in front of a node's gRPC address\n"
    "  ca        the network CA: init, issue node certificates, revoke, refresh the CRL\n"
    "  import    import catalogue files into a running node's directory\n"
    "  chat      talk with the service-finding chatbot of a running node\n"
    "  version   print the version\n\n"
    "Run 'aurora <command> --help' for the options of a command.\n";

int Fail(const absl::Status& status) {
  const std::string_view message(status.message().data(), status.message().size());
  // Messages from the command line already say "aurora <command>: ".
  std::cerr << (message.rfind("aurora", 0) == 0 ? "" : "aurora: ") << message << "\n";
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

// Parses a subcommand's options. Returns an exit code when the command is already done (--help
// printed: 0; a bad option reported: 2), nullopt when it should run with *options.
std::optional<int> ParseOrExit(const CommandLine& cli, const std::vector<std::string>& args,
                               ParsedOptions* options) {
  auto parsed = cli.Parse(args);
  if (!parsed.ok()) return Fail(parsed.status());
  if (!parsed->has_value()) {
    std::cout << cli.Help();
    return 0;
  }
  *options = std::move(**parsed);
  return std::nullopt;
}

// Mutual TLS with the network CA's certificates, shared by every command that listens on or calls
// a node's gRPC port.
std::vector<OptionSpec> WithTlsOptions(std::vector<OptionSpec> specs) {
  std::vector<OptionSpec> tls = {
      {"tls-cert", "FILE", "",
       "this node's certificate from the network CA (`aurora ca issue`); with --tls-key and "
       "--tls-ca every gRPC connection is mutual TLS"},
      {"tls-key", "FILE", "", "the certificate's private key (PEM)"},
      {"tls-ca", "FILE", "", "the network CA's certificate that peers must chain to"},
      {"tls-crl-dir", "DIR", "", "revoked certificates: the CA's crl/ folder (`aurora ca revoke`)"},
      {"tls-refresh-seconds", "N", "60",
       "how often the certificate, key, CA and CRL files are re-read (renewal without restart)"},
  };
  specs.insert(specs.end(), tls.begin(), tls.end());
  return specs;
}

absl::Status ApplyTlsOptions(const ParsedOptions& o, TlsFiles* tls) {
  tls->cert = o.Get("tls-cert");
  tls->key = o.Get("tls-key");
  tls->ca = o.Get("tls-ca");
  tls->crl_dir = o.Get("tls-crl-dir");
  auto refresh = o.GetInt("tls-refresh-seconds", 1, 86400);
  if (!refresh.ok()) return refresh.status();
  tls->refresh = absl::Seconds(*refresh);
  if (!tls->enabled() && !tls->crl_dir.empty()) {
    return absl::InvalidArgumentError("--tls-crl-dir needs --tls-cert, --tls-key and --tls-ca");
  }
  return absl::OkStatus();
}

// A client's TLS files, checked before the first call so that a wrong file is named at once.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ClientCredentials(
    const ParsedOptions& o) {
  TlsFiles tls;
  if (auto s = ApplyTlsOptions(o, &tls); !s.ok()) return s;
  if (tls.enabled()) {
    if (auto own = CheckTlsFiles(tls); !own.ok()) return own.status();
  }
  return ChannelCredentialsOrInsecure(tls);
}

// The gateway's options, shared by `serve` and `gateway`.
std::vector<OptionSpec> GatewayOptionSpecs() {
  return {
      {"http-cors-origins", "LIST", "",
       "comma-separated origins allowed to call from browsers (\"*\": any); empty: no CORS"},
      {"http-io-threads", "N", "2", "the gateway's HTTP I/O threads"},
      {"http-max-body-kb", "N", "16384", "largest request body (more: 413)"},
      {"http-timeout-seconds", "N", "10",
       "deadline of an upstream call when neither the route nor the caller sets one"},
      {"http-max-timeout-seconds", "N", "300",
       "cap on the deadline callers ask for with grpc-timeout or X-Request-Timeout"},
      {"http-idle-seconds", "N", "60", "an idle keep-alive connection is closed after this"},
      {"http-auth-cache-seconds", "N", "60",
       "how long a verified API client secret is trusted (a revoked client keeps working for "
       "at most this long)"},
      {"web-root", "DIR", "",
       "serve the files of DIR (the reference web UIs: web/) at their paths, / being "
       "index.html, where no API route matches; empty: none"},
      {"http-metrics", "on|off", "on",
       "serve GET /metrics on the HTTP address too (off where that address is public and "
       "monitoring scrapes --metrics-listen)"},
  };
}

absl::Status ApplyGatewayOptions(const ParsedOptions& o, gateway::GatewayOptions* options) {
  options->version = AURORA_VERSION;
  options->cors_origins.clear();
  for (absl::string_view origin :
       absl::StrSplit(o.Get("http-cors-origins"), ',', absl::SkipWhitespace())) {
    options->cors_origins.emplace_back(origin);
  }
  auto threads = o.GetInt("http-io-threads", 1, 64);
  if (!threads.ok()) return threads.status();
  options->http.io_threads = *threads;
  auto body = o.GetInt("http-max-body-kb", 1, 1 << 20);
  if (!body.ok()) return body.status();
  options->http.max_body_bytes = static_cast<size_t>(*body) << 10;
  auto timeout = o.GetInt("http-timeout-seconds", 1, 3600);
  if (!timeout.ok()) return timeout.status();
  options->default_timeout = absl::Seconds(*timeout);
  auto max_timeout = o.GetInt("http-max-timeout-seconds", 1, 86400);
  if (!max_timeout.ok()) return max_timeout.status();
  options->max_timeout = absl::Seconds(*max_timeout);
  auto idle = o.GetInt("http-idle-seconds", 1, 3600);
  if (!idle.ok()) return idle.status();
  options->http.idle_timeout = absl::Seconds(*idle);
  auto cache = o.GetInt("http-auth-cache-seconds", 0, 3600);
  if (!cache.ok()) return cache.status();
  options->auth_cache_ttl = absl::Seconds(*cache);
  options->web_root = o.Get("web-root");
  if (const std::string v = o.Get("http-metrics"); v == "on" || v == "off") {
    options->serve_metrics = v == "on";
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--http-metrics: expected on or off, got \"", v, "\""));
  }
  return absl::OkStatus();
}

std::vector<OptionSpec> WithGatewayOptions(std::vector<OptionSpec> specs) {
  for (OptionSpec& spec : GatewayOptionSpecs()) specs.push_back(std::move(spec));
  return specs;
}

sigset_t BlockStopSignals() {
  // Block the stop signals in every thread; the main thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

int Serve(const std::vector<std::string>& args) {
  CommandLine cli(
      "serve", "[options]",
      "Runs a node: the chosen components behind one gRPC server with health (one status per "
      "component), server reflection and Prometheus metrics, and the HTTP/JSON gateway in front "
      "of them; RocksDB in --data-dir. SIGTERM or SIGINT: NOT_SERVING, drain, finish running "
      "calls, close RocksDB (before the node serves: stop at once).",
      WithTlsOptions(WithGatewayOptions({
          {"data-dir", "DIR", "./aurora-data", "where the node keeps its RocksDB and files"},
          {"grpc-listen", "HOST:PORT", "127.0.0.1:50051", "gRPC address (port 0: any free port)"},
          {"http-listen", "HOST:PORT", "127.0.0.1:8080",
           "HTTP/JSON gateway address (port 0: any free port)"},
          {"probe-listen", "HOST:PORT", "off",
           "a plaintext port with only gRPC health, for probes without a client certificate "
           "(the kubelet's gRPC probes when --tls-* makes the gRPC port mutual TLS); \"off\": none"},
          {"metrics-listen", "HOST:PORT", "127.0.0.1:9464",
           "Prometheus /metrics address; \"off\" to disable"},
          {"components", "LIST", "all",
           "comma-separated components to run (this build: directory, gateway, profile, "
           "recommender)"},
          {"directory-target", "HOST:PORT", "",
           "the directory the recommender and the network registry copy follow (default: this "
           "node's own)"},
          {"recommender-peers", "LIST", "",
           "the recommender's other replicas, HOST:PORT,... (a host name stands for all its "
           "addresses, e.g. a headless Service's): feedback and clicks on a recommendation "
           "another replica answered are forwarded to it"},
          {"service-backends", "LIST", "",
           "the organisation's own gRPC services this node offers to the network: "
           "comma-separated NAME=HOST:PORT (full service name = its backend)"},
          {"registry-validity-minutes", "N", "60",
           "how long a signed network registry copy is valid (the directory's node)"},
          {"public-url", "URL", "",
           "the gateway's address as browsers see it, for the AuroraAI-compatible API's channel "
           "links (default: http://<http-listen>)"},
          {"recommender-threads", "N", "0",
           "rankings at a time, and the recommender's threads (0: one per CPU); more wait in a "
           "bounded queue"},
          {"recommender-queue", "N", "256",
           "rankings that may wait for a free slot; past that calls get RESOURCE_EXHAUSTED / 429"},
          {"recommender-queue-wait-ms", "N", "50",
           "the longest a ranking may expect to wait for a slot (queued rankings times their "
           "mean run time); past that calls get RESOURCE_EXHAUSTED / 429 at once (0: no bound "
           "but --recommender-queue)"},
          {"dictionary-dir", "DIR", "/usr/share/dictd",
           "FreeDict Swedish->Finnish and English->Finnish dictionaries (Debian packages "
           "dict-freedict-swe-fin, dict-freedict-eng-fin) for cross-lingual search; \"off\": "
           "none"},
          {"area-classifier", "on|off", "off",
           "infer the life areas of services without hand labels from their texts (fastText, "
           "trained on the hand labels in the background, retrained when they change)"},
          {"learning", "on|off", "on",
           "re-rank recommendations with a model learnt from feedback and clicks (trained in "
           "the background; operators manage its versions with RankingModels)"},
          {"learning-interval-seconds", "N", "600",
           "how often the re-ranking model is trained again when something new was logged"},
          {"learning-exploration", "E", "0.1",
           "share of first pages on which a rarely shown service is put (0..0.5), while a "
           "model is active"},
          {"situation-k", "K", "10",
           "the situational picture's k-anonymity: cells of fewer requests are suppressed"},
          {"situation-epsilon", "E", "0",
           "the situational picture's differential privacy: Laplace noise of scale 1/E on every "
           "published count (0: none)"},
          {"situation-window-hours", "H", "24",
           "the situational picture's time window (fractions for trials: 0.01 is 36 s)"},
          {"profile-keys", "FILE", "",
           "the profile node's secret keys (master key, pseudonym keys; JSON, see README); "
           "default: <data-dir>/profile-keys.json, made on first start"},
          {"token-issuer", "ISS", "",
           "the identity provider people sign in with: the \"iss\" of its tokens (with "
           "--jwks-file)"},
          {"jwks-file", "FILE", "", "the identity provider's public keys (a JWKS document)"},
          {"jwks-url", "URL", "",
           "or where the identity provider publishes them (https://; fetched at start and every "
           "--jwks-refresh-seconds)"},
          {"jwks-refresh-seconds", "N", "300", "how often the --jwks-url keys are fetched again"},
          {"jwks-ca-file", "FILE", "",
           "CA certificates for --jwks-url (default: the system's CA store)"},
          {"token-audience", "AUD", "aurora", "the \"aud\" the tokens must carry for this node"},
          {"dev-issuer", "", "false",
           "run the built-in development identity issuer (POST /v1/dev-identity/token signs a "
           "token for any subject) instead of --token-issuer; never where real people sign in"},
          {"transfer-minutes", "N", "10",
           "how long a session transfer token may wait to be redeemed (1..10 minutes)"},
          {"attributes-file", "FILE", "",
           "more profile attribute definitions (JSON, see README) beside age, "
           "municipality_code and life_situation_meters"},
          {"demo", "PATH", "",
           "load the demo catalogue PATH/services.ndjson into an empty data dir "
           "and write <data-dir>/demo-credentials.json",
           std::string("../shared/data")},
          {"codelists", "DIR", "",
           "official code lists (default: <demo PATH>/codelists, else "
           "../shared/data/codelists)"},
          {"drain-seconds", "N", "5",
           "seconds NOT_SERVING before the server stops accepting calls"},
          {"grace-seconds", "N", "10", "seconds running calls get to finish on shutdown"},
          {"secret-hash-iterations", "N", "600000", "PBKDF2 iterations for API client secrets"},
          {"block-cache-mb", "N", "128", "RocksDB block cache size"},
          {"log-level", "LEVEL", "info", "debug, info, warning or error"},
      })));
  ParsedOptions o;
  if (auto exit_code = ParseOrExit(cli, args, &o)) return *exit_code;
  if (!o.positional().empty()) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("aurora serve: unexpected argument \"", o.positional().front(), "\"")));
  }
  LogLevel level;
  if (!ParseLogLevel(o.Get("log-level"), &level)) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "--log-level: expected debug, info, warning or error, got \"", o.Get("log-level"), "\"")));
  }
  SetLogLevel(level);
  NodeConfig config;
  config.data_dir = o.Get("data-dir");
  config.grpc_listen = o.Get("grpc-listen");
  if (o.Get("probe-listen") != "off") config.probe_listen = o.Get("probe-listen");
  if (auto s = ApplyTlsOptions(o, &config.tls); !s.ok()) return Fail(s);
  config.metrics_listen = o.Get("metrics-listen") == "off" ? "" : o.Get("metrics-listen");
  config.http_listen = o.Get("http-listen");
  if (auto s = ApplyGatewayOptions(o, &config.gateway); !s.ok()) return Fail(s);
  auto components = ParseComponents(o.Get("components"));
  if (!components.ok()) return Fail(components.status());
  config.components = *components;
  if (o.Has("demo")) config.demo_data_dir = o.Get("demo");
  config.codelists_dir = !o.Get("codelists").empty() ? o.Get("codelists")
                         : o.Has("demo")             ? o.Get("demo") + "/codelists"
                                                     : "../shared/data/codelists";
  for (auto [name, target] :
       {std::pair{"drain-seconds", &config.drain}, std::pair{"grace-seconds", &config.grace}}) {
    auto seconds = o.GetInt(name, 0, 3600);
    if (!seconds.ok()) return Fail(seconds.status());
    *target = absl::Seconds(*seconds);
  }
  config.directory_target = o.Get("directory-target");
  config.recommender_peers = o.Get("recommender-peers");
  for (const std::string& item : std::vector<std::string>(
           absl::StrSplit(o.Get("service-backends"), ',', absl::SkipEmpty()))) {
    auto backend = network::ParseServiceBackend(item);
    if (!backend.ok()) return Fail(backend.status());
    config.service_backends.push_back(*backend);
  }
  auto validity = o.GetInt("registry-validity-minutes", 1, 7 * 24 * 60);
  if (!validity.ok()) return Fail(validity.status());
  config.registry_validity = absl::Minutes(*validity);
  config.public_url = o.Get("public-url");
  auto threads = o.GetInt("recommender-threads", 0, 256);
  if (!threads.ok()) return Fail(threads.status());
  config.recommender.ranking_threads = *threads;
  auto queue = o.GetInt("recommender-queue", 1, 100000);
  if (!queue.ok()) return Fail(queue.status());
  config.recommender.max_queued_calls = static_cast<size_t>(*queue);
  auto queue_wait = o.GetInt("recommender-queue-wait-ms", 0, 60000);
  if (!queue_wait.ok()) return Fail(queue_wait.status());
  config.recommender.max_queue_wait = std::chrono::milliseconds(*queue_wait);
  config.dictionary_dir = o.Get("dictionary-dir") == "off" ? "" : o.Get("dictionary-dir");
  if (const std::string v = o.Get("learning"); v == "on" || v == "off") {
    config.learning = v == "on";
  } else {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--learning: expected on or off, got \"", v, "\"")));
  }
  auto learning_interval = o.GetInt("learning-interval-seconds", 10, 86400);
  if (!learning_interval.ok()) return Fail(learning_interval.status());
  config.learning_options.interval = absl::Seconds(*learning_interval);
  {
    double e = 0;
    const std::string v = o.Get("learning-exploration");
    if (!absl::SimpleAtod(v, &e) || !(e >= 0 && e <= 0.5)) {
      return Fail(absl::InvalidArgumentError(absl::StrCat(
          "--learning-exploration: expected a number in 0..0.5, got \"", v, "\"")));
    }
    config.learning_options.rerank.epsilon = e;
  }
  auto situation_k = o.GetInt("situation-k", 2, 1000000);
  if (!situation_k.ok()) return Fail(situation_k.status());
  config.situation.k = static_cast<int>(*situation_k);
  {
    // Fractions of an hour are for tests and trials (0.01: 36 s); a whole number of seconds.
    double hours = 0;
    const std::string v = o.Get("situation-window-hours");
    if (!absl::SimpleAtod(v, &hours) || !(hours >= 0.001 && hours <= 24 * 31)) {
      return Fail(absl::InvalidArgumentError(absl::StrCat(
          "--situation-window-hours: expected a number of hours in 0.001..744, got \"", v, "\"")));
    }
    config.situation.window = absl::Seconds(std::llround(hours * 3600));
    config.situation.flush_interval =
        std::min(config.situation.flush_interval, config.situation.window / 4);
  }
  {
    double e = 0;
    const std::string v = o.Get("situation-epsilon");
    if (!absl::SimpleAtod(v, &e) || !(e >= 0 && e <= 100)) {
      return Fail(absl::InvalidArgumentError(absl::StrCat(
          "--situation-epsilon: expected a number in 0..100 (0: no noise), got \"", v, "\"")));
    }
    config.situation.epsilon = e;
  }
  if (const std::string v = o.Get("area-classifier"); v == "on" || v == "off") {
    config.area_classifier = v == "on";
  } else {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--area-classifier: expected on or off, got \"", v, "\"")));
  }
  config.profile_keys_file = o.Get("profile-keys");
  config.token_issuer = o.Get("token-issuer");
  config.jwks_file = o.Get("jwks-file");
  config.jwks_url = o.Get("jwks-url");
  config.jwks_ca_file = o.Get("jwks-ca-file");
  auto jwks_refresh = o.GetInt("jwks-refresh-seconds", 10, 86400);
  if (!jwks_refresh.ok()) return Fail(jwks_refresh.status());
  config.jwks_refresh = absl::Seconds(*jwks_refresh);
  config.token_audience = o.Get("token-audience");
  config.dev_issuer = o.Flag("dev-issuer");
  config.attributes_file = o.Get("attributes-file");
  auto transfer_minutes = o.GetInt("transfer-minutes", 1, 10);
  if (!transfer_minutes.ok()) return Fail(transfer_minutes.status());
  config.transfer_lifetime = absl::Minutes(*transfer_minutes);
  auto iterations = o.GetInt("secret-hash-iterations", 1000, 10000000);
  if (!iterations.ok()) return Fail(iterations.status());
  config.secret_hash_iterations = *iterations;
  auto cache = o.GetInt("block-cache-mb", 1, 65536);
  if (!cache.ok()) return Fail(cache.status());
  config.block_cache_bytes = static_cast<size_t>(*cache) << 20;

  // A stop signal is taken from the start on: one that arrives while the node is still starting
  // (waiting for a remote directory's snapshot) cancels the start.
  sigset_t signals = BlockStopSignals();
  std::atomic<bool> stop_requested{false};
  int signal = 0;
  std::thread signal_waiter([&] {
    sigwait(&signals, &signal);
    stop_requested = true;
  });
  config.stop_requested = &stop_requested;
  auto node = Node::Start(config);
  if (!node.ok()) {
    if (node.status().code() == absl::StatusCode::kCancelled && stop_requested) {
      signal_waiter.join();
      LogInfo("node", "stop signal received while starting; stopped",
              {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"},
               {"reason", std::string(node.status().message())}});
      return 0;
    }
    pthread_kill(signal_waiter.native_handle(), SIGTERM);  // ends its wait
    signal_waiter.join();
    LogError("node", "start failed", {{"error", std::string(node.status().message())}});
    return Fail(node.status());
  }
  signal_waiter.join();
  LogInfo("node", "stop signal received", {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"}});
  (*node)->Stop();
  return 0;
}

int Gateway(const std::vector<std::string>& args) {
  CommandLine cli(
      "gateway", "--upstream HOST:PORT [options]",
      "Runs the HTTP/JSON gateway alone, in front of a node's gRPC address (e.g. one gateway "
      "Deployment for many component pods). It serves /healthz, /readyz (the upstream's gRPC "
      "health), /metrics, /openapi.json and /docs on its HTTP address. SIGTERM or SIGINT: stop "
      "accepting, let requests under way finish.",
      WithTlsOptions(WithGatewayOptions({
          {"upstream", "HOST:PORT", "", "the gRPC address of the node (or Service) to call"},
          {"metrics-listen", "HOST:PORT", "off",
           "a Prometheus /metrics address of its own (\"off\": only GET /metrics on the HTTP "
           "address, see --http-metrics)"},
          {"service-upstreams", "LIST", "",
           "gRPC services served elsewhere than --upstream, NAME=HOST:PORT,... with full service "
           "names (e.g. aurora.directory.v1.Directory=directory:50051); API client credentials "
           "are verified at the directory's"},
          {"http-listen", "HOST:PORT", "127.0.0.1:8080",
           "HTTP/JSON address (port 0: any free port)"},
          {"grace-seconds", "N", "10", "seconds requests under way get to finish on shutdown"},
          {"log-level", "LEVEL", "info", "debug, info, warning or error"},
      })));
  ParsedOptions o;
  if (auto exit_code = ParseOrExit(cli, args, &o)) return *exit_code;
  if (!o.positional().empty()) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("aurora gateway: unexpected argument \"", o.positional().front(), "\"")));
  }
  if (o.Get("upstream").empty()) {
    return Fail(absl::InvalidArgumentError(
        "aurora gateway: --upstream HOST:PORT is required (the node's gRPC address)"));
  }
  LogLevel level;
  if (!ParseLogLevel(o.Get("log-level"), &level)) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "--log-level: expected debug, info, warning or error, got \"", o.Get("log-level"), "\"")));
  }
  SetLogLevel(level);
  gateway::GatewayOptions options;
  if (auto s = ApplyGatewayOptions(o, &options); !s.ok()) return Fail(s);
  auto grace = o.GetInt("grace-seconds", 0, 3600);
  if (!grace.ok()) return Fail(grace.status());

  auto credentials = ClientCredentials(o);
  if (!credentials.ok()) return Fail(credentials.status());

  sigset_t signals = BlockStopSignals();
  grpc::ChannelArguments channel_args;
  channel_args.SetMaxReceiveMessageSize(64 << 20);
  auto channel = grpc::CreateCustomChannel(o.Get("upstream"), *credentials, channel_args);
  std::map<std::string, std::shared_ptr<grpc::Channel>> elsewhere;
  if (!o.Get("service-upstreams").empty()) {
    auto contracts = gateway::ContractSet::BuiltIn();
    if (!contracts.ok()) return Fail(contracts.status());
    for (const std::string& item : std::vector<std::string>(
             absl::StrSplit(o.Get("service-upstreams"), ',', absl::SkipEmpty()))) {
      const size_t equals = item.find('=');
      const std::string name = item.substr(0, equals);
      const std::string target = equals == std::string::npos ? "" : item.substr(equals + 1);
      bool known = false;
      for (const auto* service : (*contracts)->services()) known |= service->full_name() == name;
      if (equals == std::string::npos || target.find(':') == std::string::npos || !known) {
        return Fail(absl::InvalidArgumentError(absl::StrCat(
            "--service-upstreams \"", item,
            "\": expected NAME=HOST:PORT with the full name of a service the gateway serves "
            "(e.g. aurora.directory.v1.Directory=directory:50051)")));
      }
      elsewhere[name] = grpc::CreateCustomChannel(target, *credentials, channel_args);
    }
  }
  Metrics metrics;
  metrics.SetBuildInfo(AURORA_VERSION);
  if (o.Get("metrics-listen") != "off") {
    if (auto s = metrics.StartExposer(o.Get("metrics-listen")); !s.ok()) return Fail(s);
  }
  auto gateway = gateway::Gateway::Create(options, channel, metrics.shared_registry(), nullptr,
                                          std::move(elsewhere));
  if (!gateway.ok()) return Fail(gateway.status());
  if (auto s = (*gateway)->Start(o.Get("http-listen")); !s.ok()) {
    return Fail(absl::Status(s.code(), absl::StrCat("--http-listen: ", s.message())));
  }
  LogInfo("gateway", "serving",
          {{"http_port", absl::StrCat((*gateway)->port())},
           {"metrics_port", absl::StrCat(metrics.exposer_port())},
           {"upstream", o.Get("upstream")},
           {"service_upstreams", o.Get("service-upstreams")},
           {"routes", absl::StrCat((*gateway)->routes().routes().size())}});
  int signal = 0;
  sigwait(&signals, &signal);
  LogInfo("gateway", "stop signal received",
          {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"}});
  (*gateway)->Shutdown(absl::Seconds(*grace));
  metrics.StopExposer();
  LogInfo("gateway", "stopped");
  return 0;
}

int Import(const std::vector<std::string>& args) {
  CommandLine cli(
      "import", "FILE... [options]",
      "Imports catalogue files into the directory of a running node: registers the organisations "
      "the records name, then streams the services (created, updated, unchanged or rejected, "
      "with the reason). Formats: ndjson (../shared/data/services.ndjson) and ptv (raw PTV Open "
      "API records; servicechannels.ndjson and organizations.ndjson beside the file are used).",
      WithTlsOptions({
          {"format", "ndjson|ptv", "ndjson", "format of the files"},
          {"grpc-target", "HOST:PORT", "127.0.0.1:50051", "the node's gRPC address"},
          {"codelists", "DIR", "../shared/data/codelists",
           "code lists used to map old PTV URIs to codes"},
          {"batch", "N", "500", "services per import message (1..1000)"},
          {"timeout-seconds", "N", "600", "deadline of the whole import"},
      }));
  ParsedOptions o;
  if (auto exit_code = ParseOrExit(cli, args, &o)) return *exit_code;
  if (o.positional().empty()) {
    return Fail(absl::InvalidArgumentError("aurora import: give at least one FILE (see --help)"));
  }
  auto format = directory::ParseCatalogueFormat(o.Get("format"));
  if (!format.ok()) return Fail(format.status());
  auto batch = o.GetInt("batch", 1, 1000);
  if (!batch.ok()) return Fail(batch.status());
  auto timeout = o.GetInt("timeout-seconds", 1, 86400);
  if (!timeout.ok()) return Fail(timeout.status());
  auto codes = CodeLists::LoadFromDirectory(o.Get("codelists"));
  if (!codes.ok()) return Fail(codes.status());

  auto credentials = ClientCredentials(o);
  if (!credentials.ok()) return Fail(credentials.status());
  grpc::ChannelArguments channel_args;
  channel_args.SetMaxReceiveMessageSize(64 << 20);
  auto channel = grpc::CreateCustomChannel(o.Get("grpc-target"), *credentials, channel_args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
    return Fail(absl::UnavailableError(
        absl::StrCat("--grpc-target: no node answers at ", o.Get("grpc-target"))));
  }
  auto stub = directory::v1::Directory::NewStub(channel);
  ImportOptions options;
  options.format = *format;
  options.batch_size = *batch;
  options.timeout = std::chrono::seconds(*timeout);
  const bool terminal = isatty(STDERR_FILENO);
  if (terminal) {
    options.progress = [](int64_t done, int64_t total) {
      std::cerr << ProgressBar(done, total) << std::flush;
    };
  }
  auto summary = ImportCatalogueFiles(stub.get(), o.positional(), *codes, options);
  if (terminal) std::cerr << "\n";
  if (!summary.ok()) return Fail(summary.status());
  std::cout << "records read: " << summary->records << " (unreadable lines: " << summary->unreadable
            << ")\norganisations registered: " << summary->organizations_registered
            << "\nservices created: " << summary->created << ", updated: " << summary->updated
            << ", unchanged: " << summary->unchanged << ", rejected: " << summary->rejected
            << "\ndirectory revision: " << summary->revision << "\n";
  const size_t shown = std::min<size_t>(summary->problems.size(), 50);
  for (size_t i = 0; i < shown; ++i) std::cout << "  " << summary->problems[i] << "\n";
  if (summary->problems.size() > shown) {
    std::cout << "  ... and " << summary->problems.size() - shown << " more\n";
  }
  return summary->rejected + summary->unreadable > 0 ? 3 : 0;
}

int Chat(const std::vector<std::string>& args) {
  CommandLine cli(
      "chat", "[options]",
      "Talks with the service-finding chatbot of a running node (Recommender.Converse, the "
      "conversation engine of the web widget): type what you need help with; the bot asks for "
      "your municipality or age when the services depend on them, and answers with services and "
      "why. /clear forgets the conversation, /quit (or the end of input) ends. Nothing of the "
      "conversation is kept anywhere.",
      WithTlsOptions({
          {"grpc-target", "HOST:PORT", "127.0.0.1:50051", "the node's gRPC address"},
          {"language", "fi|sv|en", "fi", "the language to talk in"},
          {"timeout-seconds", "N", "30", "deadline of each answer"},
      }));
  ParsedOptions o;
  if (auto exit_code = ParseOrExit(cli, args, &o)) return *exit_code;
  ChatOptions options;
  options.language = o.Get("language");
  if (options.language != "fi" && options.language != "sv" && options.language != "en") {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--language: expected fi, sv or en, got \"", options.language, "\"")));
  }
  auto timeout = o.GetInt("timeout-seconds", 1, 600);
  if (!timeout.ok()) return Fail(timeout.status());
  options.timeout_seconds = static_cast<int>(*timeout);
  options.prompt = isatty(STDIN_FILENO);
  auto credentials = ClientCredentials(o);
  if (!credentials.ok()) return Fail(credentials.status());
  auto channel = grpc::CreateChannel(o.Get("grpc-target"), *credentials);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
    return Fail(absl::UnavailableError(
        absl::StrCat("--grpc-target: no node answers at ", o.Get("grpc-target"))));
  }
  auto stub = recommender::v1::Recommender::NewStub(channel);
  return RunChat(stub.get(), std::cin, std::cout, std::cerr, options);
}

void PrintCertificate(const CertificateInfo& info) {
  std::cout << "subject: " << info.subject << "\nserial: " << info.serial_hex << "\nnot after: "
            << absl::FormatTime(absl::RFC3339_sec, info.not_after, absl::UTCTimeZone()) << "\n";
  if (!info.organization_id.empty()) std::cout << "organisation: " << info.organization_id << "\n";
  if (!info.roles.empty()) std::cout << "roles: " << absl::StrJoin(info.roles, ", ") << "\n";
}

int Ca(const std::vector<std::string>& args) {
  constexpr char kCaHelp[] =
      "Usage: aurora ca <init|issue|revoke|crl> [options]\n\n"
      "The network CA every member node's certificate chains to (see README, \"Join the "
      "network\").\n"
      "  init    --dir DIR [--name NAME] [--days N]    a new root: DIR/ca.key (keep it offline), "
      "DIR/ca.crt, DIR/crl/\n"
      "  issue   --dir DIR --org ID --out DIR [--dns NAMES] [--ip ADDRS] [--role ROLES] [--days N]\n"
      "          a node certificate for organisation ID: OUT/node.key, OUT/node.crt, OUT/ca.crt;\n"
      "          --role registry for the directory's node, whose key signs the registry\n"
      "  revoke  --dir DIR CERT-FILE|SERIAL           revoke and rewrite the CRL in DIR/crl/\n"
      "  crl     --dir DIR                             re-sign the CRL (valid 90 days)\n";
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << kCaHelp;
    return args.empty() ? 2 : 0;
  }
  const std::string action = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  std::vector<OptionSpec> specs = {{"dir", "DIR", "", "the CA's folder"}};
  if (action == "init") {
    specs.push_back({"name", "NAME", "Aurora Network CA", "the root's common name"});
    specs.push_back({"days", "N", "3650", "validity of the root"});
  } else if (action == "issue") {
    specs.push_back({"org", "ID", "", "the organisation's id in the directory (a UUID)"});
    specs.push_back({"out", "DIR", "", "where node.key, node.crt and ca.crt are written"});
    specs.push_back({"dns", "NAMES", "localhost",
                     "comma-separated DNS names the node is reached by (\"\": none)"});
    specs.push_back({"ip", "ADDRS", "127.0.0.1",
                     "comma-separated IP addresses the node is reached by (\"\": none)"});
    specs.push_back({"role", "ROLES", "",
                     "comma-separated roles: \"registry\" for the directory's node"});
    specs.push_back({"days", "N", "365", "validity of the certificate"});
  } else if (action != "revoke" && action != "crl") {
    std::cerr << "aurora ca: unknown action \"" << action << "\"\n\n" << kCaHelp;
    return 2;
  }
  CommandLine cli(absl::StrCat("ca ", action),
                  action == "revoke" ? "CERT-FILE|SERIAL [options]" : "[options]",
                  "The network CA; see `aurora ca --help`.", specs);
  ParsedOptions o;
  if (auto exit_code = ParseOrExit(cli, rest, &o)) return *exit_code;
  if (o.Get("dir").empty()) {
    return Fail(absl::InvalidArgumentError("aurora ca: --dir DIR is required (the CA's folder)"));
  }
  if (action != "revoke" && !o.positional().empty()) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "aurora ca ", action, ": unexpected argument \"", o.positional().front(), "\"")));
  }
  const auto list = [](const std::string& text) {
    std::vector<std::string> out = absl::StrSplit(text, ',', absl::SkipEmpty());
    return out;
  };
  if (action == "init") {
    CaInitOptions options;
    options.dir = o.Get("dir");
    options.name = o.Get("name");
    auto days = o.GetInt("days", 1, 36500);
    if (!days.ok()) return Fail(days.status());
    options.days = *days;
    auto info = InitNetworkCa(options);
    if (!info.ok()) return Fail(info.status());
    PrintCertificate(*info);
    std::cout << "root: " << options.dir
              << "/ca.crt (give it to every node as --tls-ca); key: " << options.dir
              << "/ca.key (keep it offline)\n";
    return 0;
  }
  if (action == "issue") {
    NodeCertificateRequest request;
    request.ca_dir = o.Get("dir");
    request.organization_id = o.Get("org");
    request.out_dir = o.Get("out");
    request.dns_names = list(o.Get("dns"));
    request.ip_addresses = list(o.Get("ip"));
    request.roles = list(o.Get("role"));
    auto days = o.GetInt("days", 1, 36500);
    if (!days.ok()) return Fail(days.status());
    request.days = *days;
    auto info = IssueNodeCertificate(request);
    if (!info.ok()) return Fail(info.status());
    PrintCertificate(*info);
    std::cout << "written: " << request.out_dir << "/node.key, node.crt, ca.crt\n";
    return 0;
  }
  if (action == "revoke") {
    if (o.positional().size() != 1) {
      return Fail(absl::InvalidArgumentError(
          "aurora ca revoke: give one certificate file or serial number"));
    }
    auto serial = RevokeCertificate(o.Get("dir"), o.positional().front());
    if (!serial.ok()) return Fail(serial.status());
    auto crl = CrlPath(o.Get("dir"));
    std::cout << "revoked serial " << *serial << "; CRL: " << (crl.ok() ? *crl : "?")
              << " (copy the crl/ folder to every node's --tls-crl-dir)\n";
    return 0;
  }
  auto crl = RefreshCrl(o.Get("dir"));
  if (!crl.ok()) return Fail(crl.status());
  std::cout << "CRL re-signed: " << *crl << "\n";
  return 0;
}

}  // namespace
}  // namespace aurora::node

int main(int argc, char** argv) {
  // Debian's Abseil is built without NDEBUG, so every absl::Mutex (gRPC takes many per call) would
  // keep a lock graph with stack traces: 10-15 us per request measured by bench/gateway_bench.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << aurora::node::kTopHelp;
    return args.empty() ? 2 : 0;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  if (command == "serve") return aurora::node::Serve(args);
  if (command == "gateway") return aurora::node::Gateway(args);
  if (command == "import") return aurora::node::Import(args);
  if (command == "chat") return aurora::node::Chat(args);
  if (command == "ca") return aurora::node::Ca(args);
  if (command == "version" || command == "--version") {
    std::cout << "aurora " << AURORA_VERSION << " (gRPC " << grpc::Version() << ")\n";
    return 0;
  }
  std::cerr << "aurora: unknown command \"" << command << "\"\n\n" << aurora::node::kTopHelp;
  return 2;
}
