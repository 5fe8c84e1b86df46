#pragma once
// HttpServer: an HTTP/1.1 server on Boost.Beast/Asio with a fixed number of I/O threads (one
// io_context run by N threads; never a thread per connection). Keep-alive; pipelining-safe
// (requests on one connection are answered strictly in order, one at a time; pipelined bytes wait
// in the connection's buffer); caps on header size (431) and body size (413, answered as soon as
// Content-Length or the chunked body exceeds the cap, without reading the rest); a header
// timeout against slow-loris clients (408, then close), a body timeout, an idle timeout for
// keep-alive connections, a write timeout for clients that do not read; TCP_NODELAY.
//
// The handler runs on an I/O thread and must not block: it answers through the HttpExchange,
// from any thread, later. A response is either one Send() or a stream: StartStream(), Write()
// (chunked transfer encoding, each chunk flushed at once, one Write outstanding at a time) and
// End(). While a request is being answered the server keeps reading the socket (into the
// connection's buffer, up to max_header_bytes of pipelined data) so that a client that goes away
// is noticed: OnCancel's callback then runs once and later calls on the exchange are ignored.
//
// Details of the protocol handling:
//   * Requests are parsed by HttpRequestParser (http_request_parser.h, also the fuzz target),
//     which lists what is refused with 400/413/431/505. These errors, and 408, are answered with
//     options.error_response, then the connection is closed. The default body is
//     {"code":<gRPC code>,"message":"..."} with the reverse of the google.rpc.Code HTTP mapping:
//     400 -> 3 INVALID_ARGUMENT, 408 -> 4 DEADLINE_EXCEEDED, 413 and 431 -> 8 RESOURCE_EXHAUSTED
//     (what gRPC itself answers for a message or metadata over its size limit), 505 -> 12
//     UNIMPLEMENTED, 500 -> 13 INTERNAL.
//   * Header timeout: from the first byte of a request (pipelined bytes included) to the end of
//     its header, then 408. Body timeout: from the end of the header to the end of the body,
//     then 408. Idle timeout: a keep-alive connection without a byte of a next request is closed
//     without a response. Write timeout: one write that does not complete; the connection is
//     closed (a response under way is cancelled).
//   * "Expect: 100-continue" is answered with "100 Continue" once the header is accepted.
//   * The server sets Content-Length or Transfer-Encoding, Date and Connection ("close" when it
//     will close; "keep-alive" for an HTTP/1.0 client that asked for it); the handler's own
//     fields of these names are dropped (a Connection: close from the handler does close), and
//     so are fields whose name is not a token or whose value holds CR, LF or NUL. A status
//     outside 200-999 is sent as 500. HEAD: the head of the response the handler gives,
//     with its Content-Length, without the body. 204 and 304 carry no body.
//   * HTTP/1.0 clients get streams without chunking; the connection closes at End().
//   * When the server closes after a response it half-closes and drains the client's input for
//     up to 1 s, so that unread request bytes do not turn into a TCP reset that could destroy
//     the response in flight.
//   * An exchange dropped without a response is answered 500 (a stream cut short: the
//     connection is closed); a handler that throws gets the same 500.
//   * max_connections: connections beyond it are accepted and closed at once, without a
//     response.
//
// This header is Beast-free so that users do not pay its compile time.
//
// Thread-safety: Start/Shutdown from one thread, never from an I/O thread (Shutdown joins them);
// HttpExchange methods from any thread. The handler may run on several I/O threads at once.

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace aurora::gateway {

struct HttpHeader {
  std::string name;  // as received / as to be sent
  std::string value;
};

struct HttpRequest {
  std::string method;  // as received, e.g. "GET"
  std::string target;  // raw request-target, e.g. "/v1/services?page_size=10"
  int version = 11;    // 10 or 11
  std::vector<HttpHeader> headers;
  std::string body;            // complete (chunked bodies are de-chunked)
  std::string remote_address;  // "127.0.0.1:54321"

  std::string_view path() const;   // target up to '?'
  std::string_view query() const;  // after '?', without it; empty if none
  // First header with this name, case-insensitively.
  const std::string* FindHeader(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  // The server adds Content-Length (or Transfer-Encoding), Date and Connection itself.
  std::vector<HttpHeader> headers;
  std::string body;
};

// One request's answer. Exactly one Send(), or StartStream() followed by Write()s and one End().
// Every method may be called from any thread; it is carried out on the connection's strand, in
// the order of the calls. Calls after the response is complete or cancelled are ignored. The
// exchange keeps the connection alive until then, and may outlive the server.
class HttpExchange {
 public:
  virtual ~HttpExchange() = default;

  virtual void Send(HttpResponse response) = 0;

  virtual void StartStream(int status, std::vector<HttpHeader> headers) = 0;
  // Sends `data` as one chunk (an empty `data` is skipped, it would end the body). `written(ok)`
  // runs on an I/O thread once the chunk is on the socket (ok) or the connection failed (at once
  // on the calling thread if the exchange is already over). Writes made before the previous one
  // completed are queued without limit: a producer should wait for `written` (the gateway does)
  // so that a slow client holds back the producer instead of growing the queue.
  virtual void Write(std::string data, std::function<void(bool ok)> written) = 0;
  // Sends the last chunk; the connection then reads its next request (or closes).
  virtual void End() = 0;

  // `cancelled` runs once, on an I/O thread, if the connection closes (client gone, timeout,
  // server shutdown) before the response is completely written. If that already happened, it
  // runs at once (on the calling thread once the exchange has let its connection go). A later
  // OnCancel replaces an earlier one. A client is noticed as gone by EOF or an error on its
  // socket, also while the handler works: a client that half-closes after its request cancels it.
  virtual void OnCancel(std::function<void()> cancelled) = 0;
};

using HttpHandler =
    std::function<void(HttpRequest&& request, std::shared_ptr<HttpExchange> exchange)>;

struct HttpServerOptions {
  int io_threads = 2;
  size_t max_header_bytes = 16 << 10;                 // request line + headers; more: 431 and close
  size_t max_body_bytes = 4 << 20;                    // more: 413 and close
  absl::Duration header_timeout = absl::Seconds(10);  // first byte to end of headers: else 408
  absl::Duration body_timeout = absl::Seconds(30);    // end of headers to end of body: else 408
  absl::Duration idle_timeout = absl::Seconds(60);    // keep-alive with no request under way
  absl::Duration write_timeout = absl::Seconds(30);   // one write to a client that does not read
  int max_connections = 10000;                        // beyond: accepted and closed at once
  int listen_backlog = 1024;
  // Builds the response for errors the server answers itself (400 malformed request, 408, 413,
  // 431, 505). Default: `{"code": <grpc code>, "message": <message>}` as application/json.
  std::function<HttpResponse(int http_status, std::string message)> error_response;
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, HttpHandler handler);
  ~HttpServer();  // Shutdown(0) if still running

  // Binds "host:port" (port 0 picks a free one) and starts the I/O threads.
  absl::Status Start(const std::string& address);
  int port() const;

  // Stops accepting, closes idle connections, lets requests under way finish for up to `grace`
  // (their responses carry Connection: close), then closes the rest (their OnCancel runs) and
  // joins the I/O threads. Idempotent.
  void Shutdown(absl::Duration grace);

  // Open connections right now (for a gauge).
  int connections() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aurora::gateway
