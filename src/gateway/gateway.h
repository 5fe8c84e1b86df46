#pragma once
// Gateway: the HTTP/JSON face of every annotated gRPC method (AuroraAPI). For each request it
// finds the route (route_table.h), authenticates the caller when the route asks for it, builds
// the upstream message (transcoder.h), calls the upstream through grpc::GenericStub with a
// deadline and the forwarded metadata, and writes the JSON answer, or a google.rpc.Status with
// the standard HTTP status for errors. Server-streaming methods answer as NDJSON, or as
// Server-Sent Events for `Accept: text/event-stream`, one record per message, flushed as it
// comes, with backpressure (the next message is read only once the previous one is written).
// A service may set the status (200-399) and Location of a successful answer, and the
// Retry-After of a RESOURCE_EXHAUSTED or UNAVAILABLE error (default 1), through its response
// metadata (response_metadata.h); no other response metadata reaches the HTTP answer.
//
// Built-in paths: GET /healthz (the gateway is up), GET /readyz (the upstream's gRPC health for
// "" is SERVING), GET /metrics (Prometheus text of the given registry), GET /openapi.json and
// GET /docs (generated from the same route table).
//
// Metrics (labels: route = the route's label such as "GET /v1/services/{id}", or "unmatched"):
// aurora_http_requests_total{route,code}, aurora_http_request_duration_seconds{route},
// aurora_http_requests_in_flight, aurora_http_request_bytes_total{route},
// aurora_http_response_bytes_total{route}, aurora_http_connections.
//
// Start/Shutdown from one thread; requests are served on the HTTP server's I/O threads and gRPC's
// callback threads.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <prometheus/registry.h>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/http_server.h"
#include "gateway/route_table.h"
#include "gateway/static_files.h"

namespace aurora::gateway {

struct GatewayOptions {
  HttpServerOptions http;
  // Deadline of an upstream call when neither the route nor the caller sets one. Streaming calls
  // get no default deadline: they last until the client goes away.
  absl::Duration default_timeout = absl::Seconds(10);
  // Callers may ask for a deadline with `grpc-timeout` or `X-Request-Timeout` up to this.
  absl::Duration max_timeout = absl::Minutes(5);
  // Origins allowed to call from browsers (exact "https://host[:port]" or "*"); empty: no CORS.
  std::vector<std::string> cors_origins;
  // Request headers passed on to the upstream as metadata (lowercase names). X-Request-Id is
  // always passed (generated when absent); Authorization only on Bearer routes; the caller
  // identity keys (common/caller.h) and the keys of response_metadata.h never come from HTTP
  // (left out of this list if named).
  std::vector<std::string> forwarded_headers = {"accept-language", "traceparent", "tracestate",
                                                "user-agent"};
  absl::Duration auth_cache_ttl = absl::Seconds(60);
  std::string version;  // for the OpenAPI document
  // GET /metrics on the HTTP port. Off where the HTTP port is public and monitoring scrapes a
  // port of its own (--metrics-listen): then /metrics is an unknown path there (404).
  bool serve_metrics = true;
  // Files served at their paths when no API route matches (gateway/static_files.h): the
  // reference web UIs. Empty: none.
  std::string web_root;
};

class ApiClientAuthenticator;
class Transcoder;
class Reply;
struct Caller;
struct GatewayMetrics;

class Gateway {
 public:
  // `upstream` serves the routes' methods (an in-process channel in `aurora serve`, a network
  // channel for `aurora gateway --upstream`). `registry` receives the gateway's metrics and is
  // what GET /metrics serves; it may be null (no metrics). INVALID_ARGUMENT when a route cannot
  // be built from the contracts.
  // `upstream` serves every gRPC service but those in `service_upstreams` (full service name ->
  // channel), e.g. a directory on another node; API client credentials are verified with the
  // channel of aurora.directory.v1.Directory.
  static absl::StatusOr<std::unique_ptr<Gateway>> Create(
      GatewayOptions options, std::shared_ptr<grpc::Channel> upstream,
      std::shared_ptr<prometheus::Registry> registry,
      std::unique_ptr<ContractSet> contracts = nullptr,  // null: ContractSet::BuiltIn()
      std::map<std::string, std::shared_ptr<grpc::Channel>> service_upstreams = {});
  ~Gateway();

  absl::Status Start(const std::string& address);
  int port() const;
  // Stops taking requests, lets those under way finish for up to `grace`, then cancels the rest
  // and waits for their upstream calls to end.
  void Shutdown(absl::Duration grace);

  const RouteTable& routes() const { return routes_; }

 private:
  class Call;
  class StreamCall;

  Gateway(GatewayOptions options, std::shared_ptr<grpc::Channel> upstream,
          std::shared_ptr<prometheus::Registry> registry, std::unique_ptr<ContractSet> contracts,
          RouteTable routes, std::map<std::string, std::shared_ptr<grpc::Channel>> service_upstreams);
  void Handle(HttpRequest&& request, std::shared_ptr<HttpExchange> exchange);
  bool IsBuiltIn(std::string_view path) const;
  void HandleBuiltIn(const HttpRequest& request, std::shared_ptr<Reply> reply);
  // A GET or HEAD of a file of the web root.
  void SendStatic(const HttpRequest& request, const StaticFile& file, Reply& reply);
  bool OriginAllowed(std::string_view origin) const;
  // Transcodes the request and calls the upstream; `caller` is empty for public routes.
  void Dispatch(const HttpRequest& request, std::shared_ptr<Reply> reply, const Route& route,
                const std::vector<PathBinding>& bindings, const Caller& caller);
  // The answer to a successful call with one response: the transcoded response, with the
  // status and Location the service may set in its metadata (response_metadata.h).
  void SendUpstreamResponse(Reply& reply, const Route& route, const grpc::ClientContext& context,
                            const std::string& response);
  // A google.rpc.Status answer; Retry-After from the service's trailing metadata when it has one.
  void SendUpstreamError(Reply& reply, const Route& route, const grpc::Status& status,
                         const grpc::ClientContext& context);
  // Upstream calls under way: their callbacks use this object, so Shutdown waits for them.
  void CallStarted();
  void CallEnded();

  GatewayOptions options_;
  // The stub for a "/package.Service/Method" path.
  grpc::GenericStub& StubFor(const std::string& grpc_method);

  std::shared_ptr<grpc::Channel> upstream_;
  std::map<std::string, std::unique_ptr<grpc::GenericStub>> service_stubs_;  // by service name
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<ContractSet> contracts_;
  RouteTable routes_;
  std::unique_ptr<Transcoder> transcoder_;
  std::unique_ptr<grpc::GenericStub> stub_;
  std::unique_ptr<ApiClientAuthenticator> authenticator_;
  std::unique_ptr<GatewayMetrics> metrics_;
  std::string openapi_json_;
  std::string docs_html_;
  std::unique_ptr<StaticFiles> static_files_;  // null: no --web-root
  std::unique_ptr<HttpServer> server_;
  std::mutex calls_mu_;
  std::condition_variable calls_idle_;
  int calls_ = 0;
};

}  // namespace aurora::gateway
