#include "gateway/gateway.h"

#include <grpcpp/generic/generic_stub.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "aurora/common/v1/gateway.pb.h"
#include "common/caller.h"
#include "common/log.h"
#include "common/text.h"
#include "gateway/api_client_auth.h"
#include "gateway/openapi.h"
#include "gateway/response_metadata.h"
#include "gateway/transcoder.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace aurora {
std::string_view BuiltInDescriptorSet();
}  // namespace aurora

namespace aurora::gateway {
namespace {

constexpr char kComponent[] = "gateway";
constexpr char kJson[] = "application/json";

// ---------------------------------------------------------------------------------------------
// Small helpers

std::string Lower(std::string_view text) { return absl::AsciiStrToLower(Sv(text)); }

// A random (version 4) UUID for X-Request-Id from a per-thread generator seeded once from the
// system's random source: request ids must be unique, not unpredictable, and RAND_bytes per
// request costs more than the rest of a /healthz answer.
std::string NewRequestId() {
  thread_local std::mt19937_64 generator = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }();
  uint64_t high = generator(), low = generator();
  high = (high & 0xFFFFFFFFFFFF0FFFull) | 0x0000000000004000ull;  // version 4
  low = (low & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;    // variant 10
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(36, '-');
  int pos = 0;
  for (int i = 0; i < 32; ++i) {
    if (pos == 8 || pos == 13 || pos == 18 || pos == 23) ++pos;
    const uint64_t word = i < 16 ? high : low;
    id[static_cast<size_t>(pos++)] = kHex[(word >> (60 - 4 * (i % 16))) & 0xF];
  }
  return id;
}

bool IsSafeRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' &&
        c != ':') {
      return false;
    }
  }
  return true;
}

// grpc-timeout: 1-8 digits and a unit (H M S m u n), as in the gRPC HTTP/2 protocol.
std::optional<absl::Duration> ParseGrpcTimeout(std::string_view text) {
  if (text.size() < 2 || text.size() > 9) return std::nullopt;
  int64_t value;
  if (!absl::SimpleAtoi(Sv(text.substr(0, text.size() - 1)), &value) || value < 0) {
    return std::nullopt;
  }
  switch (text.back()) {
    case 'H':
      return absl::Hours(value);
    case 'M':
      return absl::Minutes(value);
    case 'S':
      return absl::Seconds(value);
    case 'm':
      return absl::Milliseconds(value);
    case 'u':
      return absl::Microseconds(value);
    case 'n':
      return absl::Nanoseconds(value);
    default:
      return std::nullopt;
  }
}

// X-Request-Timeout: seconds, e.g. "2.5".
std::optional<absl::Duration> ParseSecondsTimeout(std::string_view text) {
  double seconds;
  if (!absl::SimpleAtod(Sv(text), &seconds) || !(seconds > 0) || seconds > 1e6) {
    return std::nullopt;
  }
  return absl::Seconds(seconds);
}

grpc::ByteBuffer ToByteBuffer(std::string bytes) {
  grpc::Slice slice(std::move(bytes));
  return grpc::ByteBuffer(&slice, 1);
}

std::string FromByteBuffer(const grpc::ByteBuffer& buffer) {
  std::string bytes;
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return bytes;
  bytes.reserve(buffer.Length());
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return bytes;
}

std::string ChallengeFor(RouteAuth auth) {
  switch (auth) {
    case RouteAuth::kApiClient:
      return "Basic realm=\"aurora\", charset=\"UTF-8\"";
    case RouteAuth::kBearer:
      return "Bearer realm=\"aurora\"";
    case RouteAuth::kNone:
      break;
  }
  return "";
}

// gRPC metadata values must be printable ASCII; other header values are not passed on.
bool IsPrintableAscii(std::string_view value) {
  for (char c : value) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// The last value of `key` in a service's response metadata.
std::optional<std::string> MetadataValue(
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata, std::string_view key) {
  std::optional<std::string> value;
  auto range = metadata.equal_range(grpc::string_ref(key.data(), key.size()));
  for (auto it = range.first; it != range.second; ++it) {
    value.emplace(it->second.data(), it->second.size());
  }
  return value;
}

// RFC 6750 b64token.
bool IsBearerToken(std::string_view token) {
  if (token.empty() || token.size() > 4096) return false;
  for (char c : token) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) &&
        std::string_view("-._~+/=").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Metrics

struct GatewayMetrics {
  struct PerRoute {
    std::string label;
    prometheus::Histogram* duration = nullptr;
    prometheus::Counter* request_bytes = nullptr;
    prometheus::Counter* response_bytes = nullptr;
    std::array<std::atomic<prometheus::Counter*>, 600> by_status{};
  };

  GatewayMetrics(prometheus::Registry& registry, const RouteTable& routes)
      : requests(prometheus::BuildCounter()
                     .Name("aurora_http_requests_total")
                     .Help("HTTP requests answered by the gateway, by route and HTTP status")
                     .Register(registry)),
        duration(prometheus::BuildHistogram()
                     .Name("aurora_http_request_duration_seconds")
                     .Help("Time from a request's arrival to its answer (end of stream for "
                           "streams), by route")
                     .Register(registry)),
        request_bytes(prometheus::BuildCounter()
                          .Name("aurora_http_request_bytes_total")
                          .Help("Request body bytes received, by route")
                          .Register(registry)),
        response_bytes(prometheus::BuildCounter()
                           .Name("aurora_http_response_bytes_total")
                           .Help("Response body bytes sent, by route")
                           .Register(registry)),
        in_flight(prometheus::BuildGauge()
                      .Name("aurora_http_requests_in_flight")
                      .Help("HTTP requests being answered")
                      .Register(registry)
                      .Add({})) {
    for (const Route& route : routes.routes()) per_route.push_back(Make(route.label));
    unmatched = Make("unmatched");
    static_files = Make("GET (web root)");
  }

  std::unique_ptr<PerRoute> Make(const std::string& label) {
    static const prometheus::Histogram::BucketBoundaries kBuckets = {
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    auto metrics = std::make_unique<PerRoute>();
    metrics->label = label;
    metrics->duration = &duration.Add({{"route", label}}, kBuckets);
    metrics->request_bytes = &request_bytes.Add({{"route", label}});
    metrics->response_bytes = &response_bytes.Add({{"route", label}});
    return metrics;
  }

  void Record(PerRoute& route, int status, double seconds, size_t in_bytes, size_t out_bytes) {
    if (status < 100 || status >= 600) status = 500;
    prometheus::Counter* counter = route.by_status[status].load(std::memory_order_acquire);
    if (counter == nullptr) {
      counter = &requests.Add({{"route", route.label}, {"code", std::to_string(status)}});
      route.by_status[status].store(counter, std::memory_order_release);
    }
    counter->Increment();
    route.duration->Observe(seconds);
    route.request_bytes->Increment(static_cast<double>(in_bytes));
    route.response_bytes->Increment(static_cast<double>(out_bytes));
  }

  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Histogram>& duration;
  prometheus::Family<prometheus::Counter>& request_bytes;
  prometheus::Family<prometheus::Counter>& response_bytes;
  prometheus::Gauge& in_flight;
  prometheus::Gauge* connections = nullptr;  // set by Start()
  std::vector<std::unique_ptr<PerRoute>> per_route;
  std::unique_ptr<PerRoute> unmatched;
  std::unique_ptr<PerRoute> static_files;
};

// One request's answer: sends through the HttpExchange, adds the headers every answer carries
// (X-Request-Id, CORS), and records the metrics once, when the answer is complete or the client
// is gone (as 499). Thread-safe like HttpExchange.
class Reply : public std::enable_shared_from_this<Reply> {
 public:
  Reply(GatewayMetrics* metrics, std::shared_ptr<HttpExchange> exchange, size_t request_bytes,
        std::string request_id)
      : metrics_(metrics),
        exchange_(std::move(exchange)),
        request_bytes_(request_bytes),
        request_id_(std::move(request_id)),
        start_(absl::Now()) {
    if (metrics_ != nullptr) metrics_->in_flight.Increment();
    headers_.push_back({"X-Request-Id", request_id_});
  }
  ~Reply() {
    // An exchange dropped without an answer (should not happen) still leaves in_flight.
    Complete(500);
  }

  // Registers with the exchange, so that a client that goes away is noticed (SetCancel).
  void Arm() {
    std::weak_ptr<Reply> weak = weak_from_this();
    exchange_->OnCancel([weak] {
      if (auto self = weak.lock()) self->Cancelled();
    });
  }
  // Replaces the cancel callback; runs it at once if the client is already gone.
  void SetCancel(std::function<void()> cancel) {
    {
      std::lock_guard lock(mu_);
      if (!cancelled_) {
        cancel_ = std::move(cancel);
        return;
      }
    }
    cancel();
  }

  void SetRoute(GatewayMetrics::PerRoute* route) { route_ = route; }
  void AddHeader(std::string name, std::string value) {
    headers_.push_back({std::move(name), std::move(value)});
  }
  const std::string& request_id() const { return request_id_; }

  void Send(int status, std::string content_type, std::string body,
            std::vector<HttpHeader> extra = {}) {
    HttpResponse response;
    response.status = status;
    response.headers = headers_;
    response.headers.push_back({"Content-Type", std::move(content_type)});
    for (auto& header : extra) response.headers.push_back(std::move(header));
    // Recorded before sending, so that whoever reads the answer also finds it in the metrics.
    Complete(status, body.size());
    response.body = std::move(body);
    exchange_->Send(std::move(response));
  }

  void SendError(int grpc_code, std::string_view message, std::string_view details = {},
                 const ContractSet* contracts = nullptr, RouteAuth auth = RouteAuth::kNone,
                 int retry_after_seconds = 1) {
    int status = HttpStatusFromGrpcCode(grpc_code);
    std::vector<HttpHeader> extra;
    if (grpc_code == 16) {
      std::string challenge = ChallengeFor(auth == RouteAuth::kNone ? RouteAuth::kApiClient : auth);
      extra.push_back({"WWW-Authenticate", challenge});
    }
    if (grpc_code == 8 || grpc_code == 14) {
      extra.push_back({"Retry-After", std::to_string(retry_after_seconds)});
    }
    Send(status, kJson, StatusJson(grpc_code, message, details, contracts), std::move(extra));
  }

  void StartStream(std::string content_type) {
    std::vector<HttpHeader> headers = headers_;
    headers.push_back({"Content-Type", std::move(content_type)});
    headers.push_back({"Cache-Control", "no-cache"});
    headers.push_back({"X-Accel-Buffering", "no"});  // proxies: do not buffer the stream
    exchange_->StartStream(200, std::move(headers));
  }
  void Write(std::string data, std::function<void(bool)> written) {
    stream_bytes_.fetch_add(data.size(), std::memory_order_relaxed);
    exchange_->Write(std::move(data), std::move(written));
  }
  void End(int status_for_metrics) {
    Complete(status_for_metrics, stream_bytes_.load(std::memory_order_relaxed));
    exchange_->End();
  }

 private:
  void Cancelled() {
    std::function<void()> cancel;
    {
      std::lock_guard lock(mu_);
      cancelled_ = true;
      cancel = std::move(cancel_);
    }
    Complete(499);
    if (cancel) cancel();
  }

  void Complete(int status, size_t response_bytes = 0) {
    if (completed_.exchange(true)) return;
    if (metrics_ == nullptr) return;
    metrics_->in_flight.Decrement();
    GatewayMetrics::PerRoute* route = route_ != nullptr ? route_ : metrics_->unmatched.get();
    metrics_->Record(*route, status, absl::ToDoubleSeconds(absl::Now() - start_), request_bytes_,
                     response_bytes);
  }

  GatewayMetrics* metrics_;
  std::shared_ptr<HttpExchange> exchange_;
  size_t request_bytes_;
  std::string request_id_;
  absl::Time start_;
  std::vector<HttpHeader> headers_;
  GatewayMetrics::PerRoute* route_ = nullptr;
  std::atomic<bool> completed_{false};
  std::atomic<size_t> stream_bytes_{0};
  std::mutex mu_;
  bool cancelled_ = false;
  std::function<void()> cancel_;
};

// Cancels an upstream call from the HTTP side while it may be finishing on a gRPC thread.
class CancelHandle {
 public:
  explicit CancelHandle(grpc::ClientContext* context) : context_(context) {}
  void Cancel() {
    std::lock_guard lock(mu_);
    if (context_ != nullptr) context_->TryCancel();
  }
  void Detach() {
    std::lock_guard lock(mu_);
    context_ = nullptr;
  }

 private:
  std::mutex mu_;
  grpc::ClientContext* context_;
};

struct UpstreamCall {
  const Route* route;
  std::shared_ptr<Reply> reply;
  grpc::ClientContext context;
  std::shared_ptr<CancelHandle> cancel = std::make_shared<CancelHandle>(&context);
};

// A unary upstream call.
class Gateway::Call : public UpstreamCall {
 public:
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
};

// A streaming upstream call (server, client or both), through the generic bidi reactor: writes
// the request messages, half-closes, and relays the responses.
class Gateway::StreamCall : public UpstreamCall,
                            public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  StreamCall(Gateway* gateway, std::vector<std::string> requests, bool sse)
      : gateway_(gateway), requests_(std::move(requests)), sse_(sse) {}

  void Start() {
    gateway_->StubFor(route->grpc_method)
        .PrepareBidiStreamingCall(&context, route->grpc_method, grpc::StubOptions(), this);
    WriteNext();
    StartRead(&incoming_);
    StartCall();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) return;  // the call is failing; OnDone reports it
    WriteNext();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // end of the responses; OnDone has the status
    std::string bytes = FromByteBuffer(incoming_);
    if (!route->server_streaming) {
      unary_response_ = std::move(bytes);
      has_unary_response_ = true;
      return;  // a client-streaming call has one response; OnDone sends it
    }
    HttpBody body;
    absl::Status rendered = gateway_->transcoder_->RenderResponse(*route, bytes, &body);
    if (!rendered.ok()) {
      render_error_ = rendered;
      context.TryCancel();
      return;
    }
    if (!started_) {
      started_ = true;
      reply->StartStream(sse_ ? "text/event-stream" : "application/x-ndjson");
    }
    std::string record = sse_ ? absl::StrCat("data: ", body.data, "\n\n") : body.data + "\n";
    AddHold();
    reply->Write(std::move(record), [this](bool written) {
      if (written) {
        StartRead(&incoming_);
      } else {
        context.TryCancel();
      }
      RemoveHold();
    });
  }

  void OnDone(const grpc::Status& status) override {
    cancel->Detach();
    grpc::Status final_status = status;
    if (!render_error_.ok()) {
      final_status = grpc::Status(grpc::StatusCode::INTERNAL, std::string(render_error_.message()));
    }
    if (!route->server_streaming) {
      if (final_status.ok() && has_unary_response_) {
        gateway_->SendUpstreamResponse(*reply, *route, context, unary_response_);
      } else if (final_status.ok()) {
        reply->SendError(13, "the upstream finished without a response");
      } else {
        gateway_->SendUpstreamError(*reply, *route, final_status, context);
      }
    } else if (!started_) {
      if (final_status.ok()) {
        reply->Send(200, sse_ ? "text/event-stream" : "application/x-ndjson", "");
      } else {
        gateway_->SendUpstreamError(*reply, *route, final_status, context);
      }
    } else {
      if (!final_status.ok()) {
        std::string error = StatusJson(final_status.error_code(), final_status.error_message(),
                                       final_status.error_details(), gateway_->contracts_.get());
        std::string record = sse_ ? absl::StrCat("event: error\ndata: ", error, "\n\n")
                                  : absl::StrCat("{\"error\":", error, "}\n");
        reply->Write(std::move(record), [](bool) {});
      }
      reply->End(final_status.ok() ? 200 : HttpStatusFromGrpcCode(final_status.error_code()));
    }
    Gateway* gateway = gateway_;
    delete this;
    gateway->CallEnded();
  }

 private:
  void WriteNext() {
    if (next_request_ < requests_.size()) {
      outgoing_ = ToByteBuffer(std::move(requests_[next_request_++]));
      StartWrite(&outgoing_);
    } else {
      StartWritesDone();
    }
  }

  Gateway* gateway_;
  std::vector<std::string> requests_;
  size_t next_request_ = 0;
  bool sse_;
  grpc::ByteBuffer outgoing_;
  grpc::ByteBuffer incoming_;
  bool started_ = false;
  std::string unary_response_;
  bool has_unary_response_ = false;
  absl::Status render_error_;
};

Gateway::Gateway(GatewayOptions options, std::shared_ptr<grpc::Channel> upstream,
                 std::shared_ptr<prometheus::Registry> registry,
                 std::unique_ptr<ContractSet> contracts, RouteTable routes,
                 std::map<std::string, std::shared_ptr<grpc::Channel>> service_upstreams)
    : options_(std::move(options)),
      upstream_(std::move(upstream)),
      registry_(std::move(registry)),
      contracts_(std::move(contracts)),
      routes_(std::move(routes)) {
  transcoder_ = std::make_unique<Transcoder>(contracts_.get());
  stub_ = std::make_unique<grpc::GenericStub>(upstream_);
  std::shared_ptr<grpc::Channel> directory = upstream_;
  for (auto& [service, channel] : service_upstreams) {
    if (service == directory::v1::Directory::service_full_name()) directory = channel;
    service_stubs_[service] = std::make_unique<grpc::GenericStub>(channel);
  }
  ApiClientAuthOptions auth_options;
  auth_options.ttl = options_.auth_cache_ttl;
  authenticator_ = std::make_unique<ApiClientAuthenticator>(directory, auth_options);
  if (registry_ != nullptr) metrics_ = std::make_unique<GatewayMetrics>(*registry_, routes_);
  for (std::string& header : options_.forwarded_headers) header = Lower(header);
  // Metadata that only the gateway sets (the caller identity) or only services set
  // (response_metadata.h) never comes from an HTTP request.
  std::erase_if(options_.forwarded_headers, [](const std::string& header) {
    bool reserved = header == kCallerOrganizationMetadata || header == kCallerClientMetadata ||
                    IsResponseControlMetadata(header);
    if (reserved) {
      LogWarning(kComponent, "reserved metadata key left out of the forwarded headers",
                 {{"header", header}});
    }
    return reserved;
  });

  OpenApiInfo info;
  info.version = options_.version;
  openapi_json_ = BuildOpenApiDocument(routes_, info, BuiltInDescriptorSet());
  docs_html_ = BuildDocsPage(routes_, info, BuiltInDescriptorSet());

  HttpServerOptions http = options_.http;
  http.error_response = [](int status, std::string message) {
    HttpResponse response;
    response.status = status;
    response.headers.push_back({"Content-Type", kJson});
    response.body = StatusJson(GrpcCodeFromHttpStatus(status), message);
    return response;
  };
  server_ = std::make_unique<HttpServer>(
      std::move(http), [this](HttpRequest&& request, std::shared_ptr<HttpExchange> exchange) {
        Handle(std::move(request), std::move(exchange));
      });
}

Gateway::~Gateway() { Shutdown(absl::ZeroDuration()); }

grpc::GenericStub& Gateway::StubFor(const std::string& grpc_method) {
  if (!service_stubs_.empty()) {
    const size_t slash = grpc_method.rfind('/');
    if (slash != std::string::npos && slash > 0) {
      auto it = service_stubs_.find(grpc_method.substr(1, slash - 1));
      if (it != service_stubs_.end()) return *it->second;
    }
  }
  return *stub_;
}

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Create(
    GatewayOptions options, std::shared_ptr<grpc::Channel> upstream,
    std::shared_ptr<prometheus::Registry> registry, std::unique_ptr<ContractSet> contracts,
    std::map<std::string, std::shared_ptr<grpc::Channel>> service_upstreams) {
  if (contracts == nullptr) {
    auto built_in = ContractSet::BuiltIn();
    if (!built_in.ok()) return built_in.status();
    contracts = *std::move(built_in);
  }
  auto routes = RouteTable::Build(contracts->services());
  if (!routes.ok()) return routes.status();
  std::unique_ptr<StaticFiles> static_files;
  if (!options.web_root.empty()) {
    auto loaded = StaticFiles::Load(options.web_root);
    if (!loaded.ok()) return loaded.status();
    static_files = *std::move(loaded);
  }
  auto gateway = std::unique_ptr<Gateway>(
      new Gateway(std::move(options), std::move(upstream), std::move(registry),
                  std::move(contracts), *std::move(routes), std::move(service_upstreams)));
  gateway->static_files_ = std::move(static_files);
  return gateway;
}

absl::Status Gateway::Start(const std::string& address) {
  if (metrics_ != nullptr) {
    prometheus::Gauge& connections = prometheus::BuildGauge()
                                         .Name("aurora_http_connections")
                                         .Help("Open HTTP connections of the gateway")
                                         .Register(*registry_)
                                         .Add({});
    metrics_->connections = &connections;
  }
  return server_->Start(address);
}

int Gateway::port() const { return server_->port(); }

void Gateway::Shutdown(absl::Duration grace) {
  if (server_ != nullptr) server_->Shutdown(grace);
  // Closing the connections cancelled every call still under way; wait for their callbacks.
  std::unique_lock lock(calls_mu_);
  calls_idle_.wait(lock, [this] { return calls_ == 0; });
}

void Gateway::CallStarted() {
  std::lock_guard lock(calls_mu_);
  ++calls_;
}

void Gateway::CallEnded() {
  std::lock_guard lock(calls_mu_);
  if (--calls_ == 0) calls_idle_.notify_all();
}

void Gateway::SendUpstreamResponse(Reply& reply, const Route& route,
                                   const grpc::ClientContext& context,
                                   const std::string& response) {
  HttpBody body;
  absl::Status rendered = transcoder_->RenderResponse(route, response, &body);
  if (!rendered.ok()) {
    reply.SendError(13, StdSv(rendered.message()));
    return;
  }
  // The service may ask for another status and a Location (response_metadata.h).
  auto find = [&context](std::string_view key) {
    std::optional<std::string> value = MetadataValue(context.GetServerTrailingMetadata(), key);
    if (!value) value = MetadataValue(context.GetServerInitialMetadata(), key);
    return value;
  };
  std::optional<std::string> status = find(kHttpStatusMetadata);
  std::optional<std::string> location = find(kHttpLocationMetadata);
  std::vector<std::string> warnings;
  SuccessHead head = SuccessHeadFromMetadata(status ? &*status : nullptr,
                                             location ? &*location : nullptr, &warnings);
  for (const std::string& warning : warnings) {
    LogWarning(kComponent, "service response metadata ignored",
               {{"request_id", reply.request_id()}, {"route", route.label}, {"reason", warning}});
  }
  std::vector<HttpHeader> extra;
  if (!head.location.empty()) extra.push_back({"Location", std::move(head.location)});
  reply.Send(head.status, std::move(body.content_type), std::move(body.data), std::move(extra));
}

void Gateway::SendUpstreamError(Reply& reply, const Route& route, const grpc::Status& status,
                                const grpc::ClientContext& context) {
  int code = status.error_code();
  if (code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::INTERNAL ||
      code == grpc::StatusCode::UNKNOWN || code == grpc::StatusCode::DATA_LOSS ||
      code == grpc::StatusCode::DEADLINE_EXCEEDED) {
    LogWarning(kComponent, "upstream call failed",
               {{"request_id", reply.request_id()},
                {"route", route.label},
                {"code", std::to_string(code)},
                {"message", status.error_message()}});
  }
  int retry_after = 1;
  if (code == grpc::StatusCode::RESOURCE_EXHAUSTED || code == grpc::StatusCode::UNAVAILABLE) {
    std::optional<std::string> value =
        MetadataValue(context.GetServerTrailingMetadata(), kRetryAfterMetadata);
    std::string warning;
    retry_after = RetryAfterFromMetadata(value ? &*value : nullptr, retry_after, &warning);
    if (!warning.empty()) {
      LogWarning(kComponent, "service response metadata ignored",
                 {{"request_id", reply.request_id()}, {"route", route.label}, {"reason", warning}});
    }
  }
  reply.SendError(code, status.error_message(), status.error_details(), contracts_.get(),
                  route.auth, retry_after);
}

bool Gateway::OriginAllowed(std::string_view origin) const {
  for (const std::string& allowed : options_.cors_origins) {
    if (allowed == "*" || allowed == origin) return true;
  }
  return false;
}

// 405 with the methods the path takes, in the message and in Allow.
static void SendMethodNotAllowed(Reply& reply, std::string_view method, std::string_view path,
                                 const std::vector<std::string>& allowed) {
  const std::string list = absl::StrJoin(allowed, ", ");
  reply.Send(405, kJson,
             StatusJson(12, absl::StrCat("method ", QuoteForMessage(method), " is not allowed on ",
                                         QuoteForMessage(path), "; allowed: ", list)),
             {{"Allow", list}});
}

void Gateway::Handle(HttpRequest&& request, std::shared_ptr<HttpExchange> exchange) {
  const std::string* id_header = request.FindHeader("x-request-id");
  std::string request_id =
      id_header != nullptr && IsSafeRequestId(*id_header) ? *id_header : NewRequestId();
  auto reply = std::make_shared<Reply>(metrics_.get(), std::move(exchange), request.body.size(),
                                       std::move(request_id));
  reply->Arm();
  if (metrics_ != nullptr && metrics_->connections != nullptr) {
    metrics_->connections->Set(server_->connections());
  }

  std::string_view path = request.path();
  const std::string* origin = request.FindHeader("origin");
  bool cors = origin != nullptr && OriginAllowed(*origin);
  if (cors) {
    reply->AddHeader("Access-Control-Allow-Origin", *origin);
    reply->AddHeader("Vary", "Origin");
    reply->AddHeader("Access-Control-Expose-Headers",
                     "X-Request-Id, WWW-Authenticate, Retry-After");
  }

  if (request.method == "OPTIONS") {
    const std::string* wanted = request.FindHeader("access-control-request-method");
    std::vector<std::string> allowed = routes_.Find("", path).allowed_methods;
    if (IsBuiltIn(path)) allowed = {"GET"};
    if (wanted != nullptr && origin != nullptr && !cors) {
      reply->SendError(7, absl::StrCat("CORS: origin ", QuoteForMessage(*origin),
                                       " is not allowed (see --http-cors-origins)"));
      return;
    }
    if (allowed.empty()) {
      reply->SendError(5, absl::StrCat("no route for ", QuoteForMessage(path)));
      return;
    }
    std::vector<HttpHeader> extra = {{"Allow", absl::StrJoin(allowed, ", ")}};
    if (wanted != nullptr) {
      extra.push_back({"Access-Control-Allow-Methods", absl::StrJoin(allowed, ", ")});
      extra.push_back({"Access-Control-Allow-Headers",
                       "Authorization, Content-Type, X-Request-Id, X-Request-Timeout, "
                       "grpc-timeout, Accept-Language, traceparent, tracestate"});
      extra.push_back({"Access-Control-Max-Age", "600"});
    }
    reply->Send(204, "text/plain", "", std::move(extra));
    return;
  }

  if (IsBuiltIn(path)) {
    HandleBuiltIn(request, std::move(reply));
    return;
  }

  RouteTable::Lookup found = routes_.Find(request.method, path);
  if (found.route == nullptr) {
    const StaticFile* file = found.allowed_methods.empty() && static_files_ != nullptr
                                 ? static_files_->Find(path)
                                 : nullptr;
    if (file != nullptr) {
      if (metrics_ != nullptr) reply->SetRoute(metrics_->static_files.get());
      if (request.method == "GET") {
        SendStatic(request, *file, *reply);
      } else {
        SendMethodNotAllowed(*reply, request.method, path, {"GET"});
      }
      return;
    }
    if (!found.allowed_methods.empty()) {
      SendMethodNotAllowed(*reply, request.method, path, found.allowed_methods);
    } else {
      reply->SendError(5,
                       absl::StrCat("no route for ", request.method, " ", QuoteForMessage(path)));
    }
    return;
  }
  const Route* route = found.route;
  if (metrics_ != nullptr) reply->SetRoute(metrics_->per_route[route->id].get());

  Caller caller;
  switch (route->auth) {
    case RouteAuth::kNone:
      break;
    case RouteAuth::kBearer: {
      const std::string* authorization = request.FindHeader("authorization");
      std::string_view value = authorization != nullptr ? *authorization : std::string_view();
      if (value.size() < 7 || !absl::EqualsIgnoreCase(Sv(value.substr(0, 7)), "bearer ") ||
          !IsBearerToken(value.substr(7))) {
        reply->SendError(16, "expected `Authorization: Bearer <token>`", {}, nullptr,
                         RouteAuth::kBearer);
        return;
      }
      break;
    }
    case RouteAuth::kApiClient: {
      const std::string* header = request.FindHeader("authorization");
      std::string authorization = header != nullptr ? *header : std::string();
      auto held = std::make_shared<HttpRequest>(std::move(request));
      authenticator_->Authenticate(
          authorization, [this, held, reply, route, bindings = std::move(found.bindings)](
                             absl::StatusOr<Caller> authenticated) mutable {
            if (!authenticated.ok()) {
              reply->SendError(static_cast<int>(authenticated.status().code()),
                               StdSv(authenticated.status().message()), {}, nullptr,
                               RouteAuth::kApiClient);
              return;
            }
            Dispatch(*held, reply, *route, bindings, *authenticated);
          });
      return;
    }
  }
  Dispatch(request, reply, *route, found.bindings, caller);
}

void Gateway::SendStatic(const HttpRequest& request, const StaticFile& file, Reply& reply) {
  // The pages load nothing from elsewhere and run no inline code; they call this origin's API.
  std::vector<HttpHeader> headers = {
      {"ETag", file.etag},
      {"Cache-Control", file.cache_control},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      {"Content-Security-Policy",
       "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'self'; form-action 'self'"},
  };
  const std::string* cached = request.FindHeader("if-none-match");
  if (cached != nullptr && *cached == file.etag) {
    reply.Send(304, file.content_type, "", std::move(headers));
    return;
  }
  reply.Send(200, file.content_type, file.body, std::move(headers));
}

bool Gateway::IsBuiltIn(std::string_view path) const {
  return path == "/healthz" || path == "/readyz" || (path == "/metrics" && options_.serve_metrics) ||
         path == "/openapi.json" || path == "/docs";
}

void Gateway::HandleBuiltIn(const HttpRequest& request, std::shared_ptr<Reply> reply) {
  std::string_view path = request.path();
  if (request.method != "GET") {
    SendMethodNotAllowed(*reply, request.method, path, {"GET"});
    return;
  }
  if (path == "/healthz") {
    reply->Send(200, kJson, "{\"status\":\"SERVING\"}");
  } else if (path == "/openapi.json") {
    reply->Send(200, kJson, openapi_json_);
  } else if (path == "/docs") {
    reply->Send(200, "text/html; charset=utf-8", docs_html_);
  } else if (path == "/metrics") {
    if (registry_ == nullptr) {
      reply->SendError(5, "this gateway keeps no metrics");
      return;
    }
    prometheus::TextSerializer serializer;
    reply->Send(200, "text/plain; version=0.0.4; charset=utf-8",
                serializer.Serialize(registry_->Collect()));
  } else {  // /readyz
    struct HealthCall {
      grpc::ClientContext context;
      grpc::health::v1::HealthCheckRequest request;
      grpc::health::v1::HealthCheckResponse response;
      std::unique_ptr<grpc::health::v1::Health::Stub> stub;
    };
    auto* call = new HealthCall();
    CallStarted();
    call->stub = grpc::health::v1::Health::NewStub(upstream_);
    call->context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
    call->stub->async()->Check(
        &call->context, &call->request, &call->response, [this, call, reply](grpc::Status status) {
          bool serving = status.ok() &&
                         call->response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
          std::string detail = status.ok()
                                   ? grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
                                         call->response.status())
                                   : status.error_message();
          delete call;
          if (serving) {
            reply->Send(200, kJson, "{\"status\":\"SERVING\"}");
          } else {
            reply->SendError(14, absl::StrCat("the upstream is not ready: ", detail));
          }
          CallEnded();
        });
  }
}

void Gateway::Dispatch(const HttpRequest& request, std::shared_ptr<Reply> reply, const Route& route,
                       const std::vector<PathBinding>& bindings, const Caller& caller) {
  const std::string* content_type = request.FindHeader("content-type");
  std::vector<std::string> messages;
  absl::Status built = transcoder_->BuildRequests(
      route, bindings, request.query(), request.body,
      content_type != nullptr ? *content_type : std::string_view(), &messages);
  if (!built.ok()) {
    reply->SendError(static_cast<int>(built.code()), StdSv(built.message()));
    return;
  }

  // The deadline: the caller's (capped), else the route's, else the default for unary calls.
  std::optional<absl::Duration> timeout;
  if (const std::string* header = request.FindHeader("grpc-timeout")) {
    timeout = ParseGrpcTimeout(*header);
    if (!timeout) {
      reply->SendError(3, absl::StrCat("header grpc-timeout: ", QuoteForMessage(*header),
                                       " is not 1-8 digits and a unit (H, M, S, m, u, n)"));
      return;
    }
  } else if (const std::string* seconds = request.FindHeader("x-request-timeout")) {
    timeout = ParseSecondsTimeout(*seconds);
    if (!timeout) {
      reply->SendError(3, absl::StrCat("header X-Request-Timeout: ", QuoteForMessage(*seconds),
                                       " is not a positive number of seconds"));
      return;
    }
  }
  if (timeout) {
    timeout = std::min(*timeout, options_.max_timeout);
  } else if (route.default_timeout > absl::ZeroDuration()) {
    timeout = route.default_timeout;
  } else if (!route.server_streaming) {
    timeout = options_.default_timeout;
  }

  auto prepare = [&](UpstreamCall* call) {
    call->route = &route;
    call->reply = reply;
    if (timeout) call->context.set_deadline(absl::ToChronoTime(absl::Now() + *timeout));
    call->context.AddMetadata("x-request-id", reply->request_id());
    for (const HttpHeader& header : request.headers) {
      std::string name = Lower(header.name);
      for (const std::string& forwarded : options_.forwarded_headers) {
        if (name == forwarded && IsPrintableAscii(header.value)) {
          call->context.AddMetadata(name, header.value);
          break;
        }
      }
    }
    if (!request.remote_address.empty()) {
      call->context.AddMetadata("x-forwarded-for", request.remote_address);
    }
    if (route.auth == RouteAuth::kBearer) {
      call->context.AddMetadata("authorization", *request.FindHeader("authorization"));
    }
    if (!caller.organization_id.empty()) {
      call->context.AddMetadata(kCallerOrganizationMetadata, caller.organization_id);
      call->context.AddMetadata(kCallerClientMetadata, caller.client_id);
    }
    std::shared_ptr<CancelHandle> cancel = call->cancel;
    reply->SetCancel([cancel] { cancel->Cancel(); });
  };

  CallStarted();
  if (!route.client_streaming && !route.server_streaming) {
    auto* call = new Call();
    prepare(call);
    call->request = ToByteBuffer(std::move(messages.front()));
    auto done = [this, call](grpc::Status status) {
      call->cancel->Detach();
      if (status.ok()) {
        SendUpstreamResponse(*call->reply, *call->route, call->context,
                             FromByteBuffer(call->response));
      } else {
        SendUpstreamError(*call->reply, *call->route, status, call->context);
      }
      delete call;
      CallEnded();
    };
    StubFor(route.grpc_method)
        .UnaryCall(&call->context, route.grpc_method, grpc::StubOptions(), &call->request,
                   &call->response, std::move(done));
    return;
  }
  const std::string* accept = request.FindHeader("accept");
  bool sse = accept != nullptr && absl::StrContains(Sv(*accept), "text/event-stream");
  auto* call = new StreamCall(this, std::move(messages), sse);
  prepare(call);
  call->Start();
}

}  // namespace aurora::gateway
