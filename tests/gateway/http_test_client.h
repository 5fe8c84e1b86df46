#pragma once
// TestHttpClient: a blocking HTTP/1.1 client on one keep-alive TCP connection to 127.0.0.1, for
// the tests of HttpServer and of the gateway. Plain POSIX sockets, no Beast, so that it does not
// share a parser with the server it checks.
//
//   TestHttpClient client(server.port());
//   TestHttpResponse r = client.Request("POST", "/v1/things", R"({"name":"x"})",
//                                       {{"Content-Type", "application/json"}});
//   CHECK(r.status == 200);
//   CHECK(r.Header("content-type") == "application/json");
//
// Lower level, for pipelining, malformed or slow input and streams: SendRequest()/SendRaw()
// write without reading; ReadResponse() reads the next whole response; ReadResponseHead() then
// ReadChunk() read a streamed body one chunk at a time. Responses are read in order; a HEAD
// request sent with Request()/SendRequest() is remembered so that its response is read without a
// body. Interim 1xx responses are skipped.
//
// Every wait is bounded by the timeout given to the constructor (10 s by default): a read that
// times out, a connection closed before a response is complete or a malformed response throws
// std::runtime_error, which Catch2 reports as a failure.
//
// Not thread-safe: one client per thread.

#include <chrono>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aurora::testing {

using TestHttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct TestHttpResponse {
  int status = 0;
  TestHttpHeaders headers;
  std::string body;

  // The first header with this name, case-insensitively; "" if absent.
  std::string Header(std::string_view name) const;
  bool HasHeader(std::string_view name) const;
};

class TestHttpClient {
 public:
  // Connects to 127.0.0.1:port; throws std::runtime_error if it cannot.
  explicit TestHttpClient(int port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~TestHttpClient();
  TestHttpClient(const TestHttpClient&) = delete;
  TestHttpClient& operator=(const TestHttpClient&) = delete;

  // Sends one HTTP/1.1 request and reads its response. Adds Host, and Content-Length when there
  // is a body or the method is POST, PUT or PATCH, unless `headers` has them (or
  // Transfer-Encoding).
  TestHttpResponse Request(const std::string& method, const std::string& target,
                           const std::string& body = "", const TestHttpHeaders& headers = {});

  // The request Request() would send, written without reading the response.
  void SendRequest(const std::string& method, const std::string& target,
                   const std::string& body = "", const TestHttpHeaders& headers = {});
  // The bytes of that request, e.g. to pipeline several in one SendRaw().
  std::string FormatRequest(const std::string& method, const std::string& target,
                            const std::string& body = "",
                            const TestHttpHeaders& headers = {}) const;

  // Writes bytes as they are (malformed, pipelined or partial requests).
  void SendRaw(std::string_view bytes);

  // The next complete response (chunked bodies de-chunked, close-delimited ones read to EOF).
  TestHttpResponse ReadResponse();

  // Streaming: the status and headers of the next response; then ReadChunk() for the body.
  // With `interim`, a 1xx response (e.g. 100 Continue) is returned instead of skipped.
  TestHttpResponse ReadResponseHead(bool interim = false);
  // The next chunk of the body after ReadResponseHead(); nullopt at its end (last chunk, end of
  // Content-Length, or EOF for a close-delimited body). For a body that is not chunked, whatever
  // bytes arrived next.
  std::optional<std::string> ReadChunk();

  // True if the server closes the connection (EOF or reset) within `timeout`; bytes that
  // arrive meanwhile are discarded.
  bool WaitClosed(std::chrono::milliseconds timeout);

  // Half-closes (no more requests) or closes the connection, as a client that goes away.
  void ShutdownWrite();
  void Close();

  int port() const { return port_; }

 private:
  enum class BodyMode { kNone, kLength, kChunked, kUntilClose };

  // Reads more bytes into buffer_; false at EOF. Throws on timeout (`what` says what was awaited).
  bool Receive(std::chrono::steady_clock::time_point deadline, const char* what);
  std::string ReadLine(std::chrono::steady_clock::time_point deadline, const char* what);
  std::string ReadBytes(size_t n, std::chrono::steady_clock::time_point deadline, const char* what);
  std::chrono::steady_clock::time_point Deadline() const;

  const int port_;
  const std::chrono::milliseconds timeout_;
  int fd_ = -1;
  std::string buffer_;              // received, not yet returned
  std::deque<bool> head_requests_;  // per request sent and not yet answered: was it HEAD?
  BodyMode body_mode_ = BodyMode::kNone;
  size_t body_left_ = 0;  // kLength
};

}  // namespace aurora::testing
