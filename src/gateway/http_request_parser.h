#pragma once
// HttpRequestParser: an incremental HTTP/1.x request parser (Boost.Beast inside the .cc only), the
// one parsing path of HttpServer and the unit a fuzz target feeds arbitrary bytes to.
//
// It applies the server's rules, so that what is fuzzed is what is served:
//   * the request line and headers together are capped at max_header_bytes (else 431), the body
//     at max_body_bytes (else 413: at once from Content-Length, before any body byte, or as soon
//     as the chunk sizes of a chunked body add up to more);
//   * HTTP/1.0 and HTTP/1.1 only: a well-formed other version (HTTP/2.0, HTTP/1.2...) is a 505,
//     a malformed one a 400;
//   * 400 for anything malformed, and for what would let two parties frame the message
//     differently (request smuggling): a Transfer-Encoding other than exactly "chunked",
//     Transfer-Encoding with Content-Length, differing Content-Lengths; also for an HTTP/1.1
//     request without Host or any request with more than one Host (RFC 9112 §3.2);
//   * empty lines before a request line are skipped (RFC 9112 §2.2).
// error_message() names the problem and, where known, the value and the limit.
//
// Usage (the unconsumed bytes stay with the caller, who adds to them and feeds them again):
//
//   HttpRequestParser parser({.max_header_bytes = 16 << 10, .max_body_bytes = 4 << 20});
//   std::string pending;  // bytes read, not yet consumed
//   ... pending += bytes_from_socket;
//   pending.erase(0, parser.Feed(pending));
//   if (parser.failed()) Answer(parser.error_status(), parser.error_message()), then close;
//   else if (parser.complete()) Handle(parser.TakeRequest());  // then Feed `pending` again
//
// Feed() may consume nothing (or only the request line) while it waits for the rest of the header
// or of a chunk-size line: the caller must hand back the unconsumed bytes with more appended.
// Feed() never consumes past the end of the current request, so pipelined requests stay in the
// caller's buffer.
//
// Not thread-safe (one per connection).

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/http_server.h"

namespace aurora::gateway {

class HttpRequestParser {
 public:
  struct Limits {
    size_t max_header_bytes = 16 << 10;
    size_t max_body_bytes = 4 << 20;
  };

  explicit HttpRequestParser(Limits limits);
  ~HttpRequestParser();
  HttpRequestParser(const HttpRequestParser&) = delete;
  HttpRequestParser& operator=(const HttpRequestParser&) = delete;

  // Consumes a prefix of `data` and returns its length (0 when more bytes are needed to make
  // progress, or once complete() or failed()).
  size_t Feed(std::string_view data);

  // True once any byte of the current request was consumed (empty lines before it included).
  bool started() const { return started_; }
  bool header_done() const { return header_done_; }
  bool complete() const { return complete_; }
  bool failed() const { return error_status_ != 0; }
  // After the header: the client sent "Expect: 100-continue" (HTTP/1.1) and waits for
  // "100 Continue" before it sends the body.
  bool expects_continue() const { return expects_continue_; }

  int error_status() const { return error_status_; }  // 400, 413, 431 or 505 when failed()
  const std::string& error_message() const { return error_message_; }

  // The request, when complete(); the parser is then ready for the next one. `remote_address`
  // is left empty.
  HttpRequest TakeRequest();

  // Forgets the current request, errors included.
  void Reset();

 private:
  struct Beast;  // the Beast parser, in the .cc

  void Fail(int status, std::string message);
  void CheckHeader();

  const Limits limits_;
  std::unique_ptr<Beast> beast_;
  bool started_ = false;
  bool header_done_ = false;
  bool complete_ = false;
  bool expects_continue_ = false;
  int error_status_ = 0;
  std::string error_message_;
};

}  // namespace aurora::gateway
