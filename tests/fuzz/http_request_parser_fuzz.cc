// libFuzzer target for gateway/http_request_parser: HttpRequestParser, the HTTP/1.x request parser
// of HttpServer's connections, fed arbitrary bytes the way a connection feeds it.
//
// Input: three configuration bytes, then the split lengths, then the byte stream:
//   byte 0        max_header_bytes = kHeaderLimits[byte & 7]
//   byte 1        max_body_bytes   = kBodyLimits[byte & 7]
//   byte 2        bit 7 set: deliver the stream one byte at a time (streams up to
//                 kMaxBytewiseStream bytes); else bits 0-2 = k, the number of split lengths
//   k bytes       the lengths (1 + byte) of the first k pieces; the rest is the last piece
//   rest          the bytes a client sent on one connection (any number of pipelined requests)
// The low bits were chosen so that printable seeds work: "77" is the largest limits, "0" after
// them no split.
//
// The stream is parsed twice, the way Connection::Parse feeds the parser (pending += bytes read;
// pending.erase(0, Feed(pending)); TakeRequest() and Feed again when complete(); stop at
// failed()): once with all the bytes in one piece, once in the fuzzer's pieces, where each Feed
// that leaves the request incomplete is repeated on what it left, which must consume nothing and
// change nothing (Feed returns 0 "when more bytes are needed").
//
// Invariants (a broken one prints what broke and calls __builtin_trap()):
//   * Feed consumes at most what it is given; a failure is 400, 413, 431 or 505 (the statuses
//     http_request_parser.h lists) with a message, and stays failed;
//   * every completed request, against the raw bytes it was parsed from: the header (request
//     line, fields, empty line) within max_header_bytes, the request line as received, one header
//     per field line of the header, at most one Host (exactly one for HTTP/1.1), Transfer-Encoding
//     only "chunked" and never with Content-Length, Content-Length equal to the body size, the
//     body within max_body_bytes and equal to the bytes after the header (chunked: to a reference
//     de-chunking of them);
//   * differential, one piece against pieces: the same requests, each ending at the same offset,
//     and the same end: the same error, or both waiting (past the header: in the same state).
//     Only a malformed header may end differently: Beast finds it at once when it has all of it
//     but, once it has waited for more, only at the end of the header or at the limit, and the
//     505 check needs the whole request line; so before the header is done the two may fail
//     with different statuses among 400/431/505, or one fail while the other still waits.
// Two Boost 1.74 Beast quirks are steered around (see BeastAssertRisk, BeastDoubleCountedChunk).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/http_request_parser.h"
#include "gateway/http_server.h"
#include "fuzz_check.h"

namespace aurora::gateway {
namespace {

constexpr size_t kHeaderLimits[8] = {24, 40, 64, 100, 160, 256, 1024, 16 << 10};
constexpr size_t kBodyLimits[8] = {0, 1, 5, 16, 64, 300, 4096, 4 << 20};
constexpr size_t kMaxBytewiseStream = 1024;

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return Lower(x) == Lower(y); });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reference de-chunking of `raw`, the bytes of a chunked body exactly as the parser consumed them
// (chunks, last chunk, trailer, final CRLF). nullopt if they are not a chunked body ending there.
std::optional<std::string> Dechunk(std::string_view raw) {
  std::string out;
  while (true) {
    const size_t eol = raw.find("\r\n");
    if (eol == std::string_view::npos) return std::nullopt;
    std::string_view line = raw.substr(0, eol);
    uint64_t size = 0;
    size_t digits = 0;
    while (digits < line.size() && HexDigit(line[digits]) >= 0) {
      if (size > (UINT64_MAX >> 4)) return std::nullopt;
      size = size * 16 + static_cast<uint64_t>(HexDigit(line[digits]));
      ++digits;
    }
    if (digits == 0) return std::nullopt;
    raw.remove_prefix(eol + 2);
    if (size == 0) break;
    if (raw.size() < size + 2 || raw.substr(size, 2) != "\r\n") return std::nullopt;
    out.append(raw.substr(0, size));
    raw.remove_prefix(size + 2);
  }
  // Trailer fields, each ending in CRLF, then the final CRLF, which must be the last bytes.
  while (raw != "\r\n") {
    const size_t eol = raw.find("\r\n");
    if (eol == std::string_view::npos || eol == 0) return std::nullopt;
    raw.remove_prefix(eol + 2);
  }
  return out;
}

struct Request {
  size_t end = 0;  // offset in the stream just past the request
  HttpRequest request;
};

struct Outcome {
  std::vector<Request> requests;
  size_t consumed = 0;  // stream bytes consumed in all
  int error_status = 0;
  std::string error_message;
  bool started = false;
  bool header_done = false;
  bool expects_continue = false;
  bool abandoned = false;  // see BeastAssertRisk and BeastDoubleCountedChunk
};

bool SameRequest(const HttpRequest& a, const HttpRequest& b) {
  if (a.method != b.method || a.target != b.target || a.version != b.version ||
      a.body != b.body || a.headers.size() != b.headers.size()) {
    return false;
  }
  for (size_t i = 0; i < a.headers.size(); ++i) {
    if (a.headers[i].name != b.headers[i].name || a.headers[i].value != b.headers[i].value) {
      return false;
    }
  }
  return true;
}

// A completed request against the raw bytes stream[begin, end) it was parsed from.
void CheckRequest(const HttpRequestParser::Limits& limits, std::string_view raw,
                  const HttpRequest& request) {
  // Empty lines before the request line are skipped; the header ends at the first empty line.
  size_t skipped = 0;
  while (skipped < raw.size() && (raw[skipped] == '\r' || raw[skipped] == '\n')) ++skipped;
  const std::string_view message = raw.substr(skipped);
  const size_t blank = message.find("\r\n\r\n");
  FUZZ_CHECK(blank != std::string_view::npos);
  const size_t header_size = blank + 4;  // request line, fields, empty line
  FUZZ_CHECK(header_size <= limits.max_header_bytes);
  const std::string_view body_bytes = message.substr(header_size);

  // The request line as received.
  FUZZ_CHECK(!request.method.empty());
  FUZZ_CHECK(!request.target.empty());
  FUZZ_CHECK(request.version == 10 || request.version == 11);
  const std::string line = request.method + " " + request.target + " HTTP/1." +
                           (request.version == 10 ? "0" : "1") + "\r\n";
  FUZZ_CHECK(message.substr(0, line.size()) == line);

  // The fields are the header's field lines, no more (trailer fields of a chunked body are not
  // header fields: RFC 9110 §6.5.1); then the documented rules against smuggling and on Host.
  size_t field_lines = 0;  // not counting obs-fold continuation lines (starting with SP or HTAB)
  for (size_t i = message.find('\n'); i < blank; i = message.find('\n', i + 1)) {
    if (message[i + 1] != ' ' && message[i + 1] != '\t') ++field_lines;
  }
  FUZZ_CHECK(request.headers.size() == field_lines);
  size_t hosts = 0, encodings = 0, lengths = 0;
  const std::string* encoding = nullptr;
  for (const HttpHeader& h : request.headers) {
    FUZZ_CHECK(!h.name.empty());
    FUZZ_CHECK(h.name.find_first_of(":\r\n \t") == std::string::npos);
    FUZZ_CHECK(h.value.find_first_of("\r\n") == std::string::npos);
    if (EqualsIgnoreCase(h.name, "host")) ++hosts;
    if (EqualsIgnoreCase(h.name, "transfer-encoding")) {
      ++encodings;
      encoding = &h.value;
    }
    if (EqualsIgnoreCase(h.name, "content-length")) {
      ++lengths;
      // A decimal number, or a list of equal ones ("5, 5": RFC 9112 §6.3 lets a recipient take
      // it as the one value), equal to the body size.
      std::string_view list = h.value;
      while (true) {
        const size_t comma = list.find(',');
        const std::string_view value = Trim(list.substr(0, comma));
        FUZZ_CHECK(!value.empty());
        uint64_t length = 0;  // saturating: only compared with a body of at most 4 MiB
        for (char c : value) {
          FUZZ_CHECK(c >= '0' && c <= '9');
          length = std::min<uint64_t>(length * 10 + static_cast<uint64_t>(c - '0'), 1ULL << 40);
        }
        FUZZ_CHECK(length == request.body.size());
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
      }
    }
  }
  FUZZ_CHECK(hosts <= 1);
  if (request.version == 11) FUZZ_CHECK(hosts == 1);
  FUZZ_CHECK(encodings <= 1);
  FUZZ_CHECK(request.body.size() <= limits.max_body_bytes);
  if (encodings == 1) {
    FUZZ_CHECK(lengths == 0);
    FUZZ_CHECK(EqualsIgnoreCase(Trim(*encoding), "chunked"));
    const std::optional<std::string> dechunked = Dechunk(body_bytes);
    FUZZ_CHECK(dechunked.has_value());
    FUZZ_CHECK(*dechunked == request.body);
  } else {
    FUZZ_CHECK(body_bytes == request.body);
  }
}

void CheckFailed(const HttpRequestParser& parser) {
  const int status = parser.error_status();
  FUZZ_CHECK(status == 400 || status == 413 || status == 431 || status == 505);
  FUZZ_CHECK(!parser.error_message().empty());
  FUZZ_CHECK(!parser.complete());
}

// Boost 1.74's Beast asserts (BOOST_ASSERT: on in this Debug build, off with NDEBUG) that once it
// has seen the last-chunk line without the end of the trailer, the next put() has at least 5
// bytes. When the body starts with that line and Beast saw it in 3 or 4 bytes ("0\r\n",
// "0\r\nX", "00\r\n", "0;\r\n"), one more byte or the same bytes again break the assertion,
// although the code after it copes: boostorg/beast#2861, fixed in Boost 1.86. The split run steers
// clear of it: after such bytes it delivers enough to make 5 and does not repeat the Feed; an
// input that cannot is not run.
bool BeastAssertRisk(const HttpRequestParser& parser, std::string_view pending) {
  if (!parser.header_done() || pending.size() < 3 || pending.size() >= 5) return false;
  const size_t eol = pending.find("\r\n");
  if (eol == std::string_view::npos) return false;
  size_t zeros = 0;
  while (zeros < eol && pending[zeros] == '0') ++zeros;
  return zeros > 0 && (zeros == eol || HexDigit(pending[zeros]) < 0);
}

// Boost 1.74's Beast subtracts a chunk's size from the body limit before it parses the chunk's
// extensions; when those need more bytes (an unterminated quoted string runs past the line), the
// next put() parses the line again and subtracts it again. A malformed chunk line can thus end
// in 413 instead of 400, and only when it arrives in pieces. True when a chunked-body 413 is that
// double count: the sizes of the chunk lines received, counted once, are within the limit.
bool BeastDoubleCountedChunk(const HttpRequestParser::Limits& limits, std::string_view request) {
  while (!request.empty() && (request[0] == '\r' || request[0] == '\n')) request.remove_prefix(1);
  const size_t blank = request.find("\r\n\r\n");
  if (blank == std::string_view::npos) return false;
  std::string_view body = request.substr(blank + 4);
  uint64_t total = 0;
  while (true) {
    const size_t eol = body.find("\r\n");
    if (eol == std::string_view::npos) break;
    uint64_t size = 0;
    size_t digits = 0;
    while (digits < eol && HexDigit(body[digits]) >= 0 && size <= (UINT64_MAX >> 4)) {
      size = size * 16 + static_cast<uint64_t>(HexDigit(body[digits++]));
    }
    if (digits == 0 || size == 0) break;
    total += size;
    if (total > limits.max_body_bytes) return false;
    // Beast's view of where a line with a quoted string ends may differ: it is the last one.
    if (body.substr(0, eol).find('"') != std::string_view::npos) break;
    if (body.size() < eol + 2 + size + 2) break;
    body.remove_prefix(eol + 2 + size + 2);
  }
  return true;
}

// After a Feed that neither completed nor failed the request: if the parser waits for the rest of
// the header, what it has of the header (the request's bytes so far, less the empty lines before
// it) is within the limit, else it must have refused it with 431 (and not wait for more bytes,
// which would then pile up in the connection's buffer).
void CheckWaiting(const HttpRequestParser::Limits& limits, const HttpRequestParser& parser,
                  std::string_view received) {
  if (parser.header_done()) return;
  while (!received.empty() && (received.front() == '\r' || received.front() == '\n')) {
    received.remove_prefix(1);
  }
  FUZZ_CHECK(received.size() < limits.max_header_bytes);
}

// Parses `stream` delivered in pieces ending at `ends` (increasing, the last one stream.size()),
// like a connection: Feed after every piece, TakeRequest and Feed again when complete.
Outcome Run(const HttpRequestParser::Limits& limits, std::string_view stream,
            const std::vector<size_t>& ends, bool refeed) {
  HttpRequestParser parser(limits);
  Outcome out;
  std::string pending;
  size_t delivered = 0;
  size_t request_begin = 0;
  for (size_t i = 0; i < ends.size(); ++i) {
    if (BeastAssertRisk(parser, pending) && pending.size() + (ends[i] - delivered) < 5) {
      if (i + 1 == ends.size()) {
        out.abandoned = true;
        return out;
      }
      continue;  // deliver this piece together with the next one
    }
    pending.append(stream.substr(delivered, ends[i] - delivered));
    delivered = ends[i];
    while (true) {
      const size_t n = parser.Feed(pending);
      FUZZ_CHECK(n <= pending.size());
      pending.erase(0, n);
      out.consumed += n;
      FUZZ_CHECK(out.consumed + pending.size() == delivered);
      if (parser.failed()) {
        CheckFailed(parser);
        if (parser.error_status() == 413 && parser.header_done() &&
            BeastDoubleCountedChunk(limits, stream.substr(request_begin, delivered - request_begin))) {
          out.abandoned = true;
          return out;
        }
        FUZZ_CHECK(parser.Feed(pending) == 0);  // stays failed
        FUZZ_CHECK(parser.failed());
        out.error_status = parser.error_status();
        out.error_message = parser.error_message();
        out.started = parser.started();
        out.header_done = parser.header_done();
        return out;
      }
      if (parser.complete()) {
        FUZZ_CHECK(parser.started() && parser.header_done());
        FUZZ_CHECK(!parser.expects_continue());
        HttpRequest request = parser.TakeRequest();
        FUZZ_CHECK(!parser.complete() && !parser.started() && !parser.header_done());
        CheckRequest(limits, stream.substr(request_begin, out.consumed - request_begin), request);
        request_begin = out.consumed;
        out.requests.push_back(Request{out.consumed, std::move(request)});
        continue;
      }
      if (n > 0) FUZZ_CHECK(parser.started());
      CheckWaiting(limits, parser, stream.substr(request_begin, delivered - request_begin));
      if (refeed && !BeastAssertRisk(parser, pending)) {
        // Feed returns 0 "when more bytes are needed to make progress": doing it again with
        // nothing new must consume nothing and leave the state as it was.
        const bool started = parser.started();
        const bool header_done = parser.header_done();
        FUZZ_CHECK(parser.Feed(pending) == 0);
        if (parser.failed() && parser.error_status() == 413 && header_done &&
            BeastDoubleCountedChunk(limits, stream.substr(request_begin, delivered - request_begin))) {
          out.abandoned = true;
          return out;
        }
        FUZZ_CHECK(!parser.failed() && !parser.complete());
        FUZZ_CHECK(parser.started() == started && parser.header_done() == header_done);
      }
      break;
    }
  }
  out.started = parser.started();
  out.header_done = parser.header_done();
  out.expects_continue = parser.expects_continue();
  return out;
}

void Print(const char* what, const Outcome& o) {
  std::fprintf(stderr, "%s: %zu requests, %zu bytes consumed, started %d, header_done %d, "
               "expects_continue %d, error %d \"%s\"\n",
               what, o.requests.size(), o.consumed, o.started, o.header_done, o.expects_continue,
               o.error_status, o.error_message.c_str());
  for (const Request& r : o.requests) {
    std::fprintf(stderr, "  request ending at %zu: %s %s, %zu headers, %zu body bytes\n", r.end,
                 r.request.method.c_str(), r.request.target.c_str(), r.request.headers.size(),
                 r.request.body.size());
  }
}

// The same bytes give the same requests and the same end whether they arrive at once or in
// pieces; both runs are printed when they differ.
void CheckSame(const Outcome& whole, const Outcome& split) {
#define SAME_CHECK(cond)                \
  do {                                  \
    if (!(cond)) {                      \
      Print("in one piece", whole);     \
      Print("in pieces", split);        \
      FUZZ_CHECK(cond);                 \
    }                                   \
  } while (false)
  SAME_CHECK(whole.requests.size() == split.requests.size());
  for (size_t i = 0; i < whole.requests.size(); ++i) {
    SAME_CHECK(whole.requests[i].end == split.requests[i].end);
    SAME_CHECK(SameRequest(whole.requests[i].request, split.requests[i].request));
  }
  // A malformed header is refused in both, but not always for the same reason: Beast finds a
  // bad request line or field at once when it has the whole header, yet once it has waited for
  // more it only looks again at the end of the header (or at the limit), and the 505 check needs
  // the whole request line. So before the header is done 400, 431 and 505 may differ, and one
  // run may refuse while the other still waits for the end of the header (a 413 comes from a
  // complete header and must not differ).
  auto header_error = [](const Outcome& o) {
    return !o.header_done &&
           (o.error_status == 400 || o.error_status == 431 || o.error_status == 505);
  };
  const bool whole_failed = whole.error_status != 0;
  const bool split_failed = split.error_status != 0;
  if (whole_failed && split_failed) {
    if (!header_error(whole) || !header_error(split)) {
      SAME_CHECK(whole.error_status == split.error_status);
      SAME_CHECK(whole.error_message == split.error_message);
      SAME_CHECK(whole.consumed == split.consumed);
    }
  } else if (whole_failed || split_failed) {
    const Outcome& failed = whole_failed ? whole : split;
    const Outcome& waiting = whole_failed ? split : whole;
    SAME_CHECK(header_error(failed));
    SAME_CHECK(!waiting.header_done);
  } else {
    // Both wait for more. Within the header how much they consumed may differ (Beast takes the
    // request line early only if it has it on the first try); after it, nothing may.
    SAME_CHECK(whole.header_done == split.header_done);
    if (whole.header_done) {
      SAME_CHECK(whole.consumed == split.consumed);
      SAME_CHECK(whole.started == split.started);
      SAME_CHECK(whole.expects_continue == split.expects_continue);
    }
  }
#undef SAME_CHECK
}

void RunOne(const uint8_t* data, size_t size) {
  if (size < 3) return;
  HttpRequestParser::Limits limits;
  limits.max_header_bytes = kHeaderLimits[data[0] & 7];
  limits.max_body_bytes = kBodyLimits[data[1] & 7];
  const bool bytewise = (data[2] & 0x80) != 0;
  const size_t splits = bytewise ? 0 : data[2] & 7;
  data += 3;
  size -= 3;
  if (size < splits) return;
  std::vector<size_t> lengths(data, data + splits);
  data += splits;
  size -= splits;
  const std::string_view stream(reinterpret_cast<const char*>(data), size);

  std::vector<size_t> ends;
  if (bytewise) {
    if (stream.size() > kMaxBytewiseStream) return;
    for (size_t i = 1; i <= stream.size(); ++i) ends.push_back(i);
  } else {
    size_t at = 0;
    for (size_t length : lengths) {
      at = std::min(stream.size(), at + 1 + length);
      ends.push_back(at);
    }
  }
  if (ends.empty() || ends.back() != stream.size()) ends.push_back(stream.size());

  const Outcome whole = Run(limits, stream, {stream.size()}, /*refeed=*/false);
  const Outcome split = Run(limits, stream, ends, /*refeed=*/true);
  if (whole.abandoned || split.abandoned) return;
  CheckSame(whole, split);
}

}  // namespace
}  // namespace aurora::gateway

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  aurora::gateway::RunOne(data, size);
  return 0;
}
