#include "gateway/http_request_parser.h"

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <charconv>
#include <cstdint>
#include <iterator>
#include <limits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gateway/http_text.h"

namespace aurora::gateway {
namespace {

namespace http = boost::beast::http;

// Client bytes quoted in an error message: printable ASCII only, at most `max` characters.
std::string Quote(std::string_view text, size_t max = 40) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < max; ++i) {
    char c = text[i];
    out += (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? c : '?';
  }
  if (text.size() > max) out += "...";
  out += '"';
  return out;
}

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "HTTP/<digits>.<digits>".
bool IsWellFormedVersion(std::string_view v) {
  if (v.substr(0, 5) != "HTTP/") return false;
  v.remove_prefix(5);
  size_t dot = v.find('.');
  return dot != std::string_view::npos && IsDigits(v.substr(0, dot)) && IsDigits(v.substr(dot + 1));
}

std::string BeastErrorMessage(const boost::beast::error_code& ec) {
  switch (static_cast<http::error>(ec.value())) {
    case http::error::bad_line_ending:
      return "malformed HTTP request: bad line ending (lines must end in CRLF)";
    case http::error::bad_method:
      return "malformed HTTP request line: bad method";
    case http::error::bad_target:
      return "malformed HTTP request line: bad request-target";
    case http::error::bad_version:
      return "malformed HTTP request line: bad HTTP version";
    case http::error::bad_field:
      return "malformed HTTP request: bad header field name";
    case http::error::bad_value:
      return "malformed HTTP request: bad header field value";
    case http::error::bad_content_length:
      return "malformed HTTP request: bad or conflicting Content-Length";
    case http::error::bad_transfer_encoding:
      return "malformed HTTP request: Transfer-Encoding repeated or combined with Content-Length";
    case http::error::bad_chunk:
      return "malformed HTTP request: bad chunk in the chunked body";
    case http::error::bad_chunk_extension:
      return "malformed HTTP request: bad chunk extension in the chunked body";
    case http::error::bad_obs_fold:
      return "malformed HTTP request: obsolete header line folding";
    default:
      return absl::StrCat("malformed HTTP request: ", ec.message());
  }
}

}  // namespace

struct HttpRequestParser::Beast {
  http::request_parser<http::string_body> parser;
  size_t header_bytes = 0;  // consumed by the parser before the header was complete
  size_t header_fields = 0;  // fields when the header ended (more at the end: trailer fields)
};

HttpRequestParser::HttpRequestParser(Limits limits) : limits_(limits) { Reset(); }

HttpRequestParser::~HttpRequestParser() = default;

void HttpRequestParser::Reset() {
  beast_ = std::make_unique<Beast>();
  auto& p = beast_->parser;
  p.header_limit(static_cast<std::uint32_t>(
      std::min<size_t>(limits_.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
  p.body_limit(static_cast<std::uint64_t>(limits_.max_body_bytes));
  started_ = header_done_ = complete_ = expects_continue_ = false;
  error_status_ = 0;
  error_message_.clear();
}

void HttpRequestParser::Fail(int status, std::string message) {
  error_status_ = status;
  error_message_ = std::move(message);
  expects_continue_ = false;
}

size_t HttpRequestParser::Feed(std::string_view data) {
  if (failed() || complete_) return 0;
  auto& p = beast_->parser;
  size_t used = 0;
  if (!p.got_some()) {
    // Empty lines before the request line are ignored (RFC 9112 §2.2).
    while (used < data.size() && (data[used] == '\r' || data[used] == '\n')) ++used;
    if (used > 0) started_ = true;
  }
  if (beast_->header_bytes == 0 && !header_done_) {
    // Beast refuses any version but 1.0 and 1.1 as malformed: tell a well-formed other version
    // (505) from garbage (400) first.
    std::string_view rest = data.substr(std::min(used, data.size()));
    size_t eol = rest.substr(0, limits_.max_header_bytes).find('\n');
    if (eol != std::string_view::npos) {
      std::string_view line = rest.substr(0, eol);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      size_t space = line.rfind(' ');
      std::string_view version =
          space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
      if (version != "HTTP/1.1" && version != "HTTP/1.0" && IsWellFormedVersion(version)) {
        started_ = true;
        Fail(505, absl::StrCat("HTTP version ", Quote(version),
                               " is not supported (only HTTP/1.0 and HTTP/1.1)"));
        return used;
      }
    }
  }
  while (used < data.size()) {
    boost::beast::error_code ec;
    // Until the header is complete Beast sees no more than the header allowance left, so that a
    // header arriving in one piece meets the same limit as one arriving in many.
    size_t give = data.size() - used;
    if (!header_done_ && !p.is_header_done()) {
      size_t left = limits_.max_header_bytes > beast_->header_bytes
                        ? limits_.max_header_bytes - beast_->header_bytes
                        : 0;
      give = std::min(give, left);
    }
    size_t n = p.put(boost::asio::const_buffer(data.data() + used, give), ec);
    used += n;
    if (n > 0) started_ = true;
    if (!header_done_ && n > 0 && !p.is_header_done()) {
      // Beast takes the request line on its own and then applies header_limit to the fields
      // alone: keep the limit on the whole header.
      beast_->header_bytes += n;
      size_t left = limits_.max_header_bytes > beast_->header_bytes
                        ? limits_.max_header_bytes - beast_->header_bytes
                        : 0;
      p.header_limit(static_cast<std::uint32_t>(
          std::min<size_t>(left, std::numeric_limits<std::uint32_t>::max())));
    }
    if (ec == http::error::need_more && !header_done_ && !p.is_header_done() &&
        beast_->header_bytes + (data.size() - used) >= limits_.max_header_bytes) {
      // The header cannot end within the limit: the bytes waiting already reach it.
      ec = http::error::header_limit;
    }
    if (ec == http::error::need_more) {
      // Beast waits for a whole chunk-size line or trailer part; don't let it grow unbounded.
      size_t waiting = data.size() - used;
      size_t cap = std::max<size_t>(limits_.max_header_bytes, 4096);
      if (header_done_ && waiting > cap) {
        Fail(400, absl::StrCat("malformed HTTP request: a chunk-size line or the trailer of the "
                               "chunked body is longer than ",
                               cap, " bytes"));
      }
      break;
    }
    if (ec == http::error::header_limit) {
      Fail(431,
           absl::StrCat("request header (request line and header fields) exceeds the limit of ",
                        limits_.max_header_bytes, " bytes"));
      break;
    }
    if (ec == http::error::body_limit) {
      // Content-Length over the limit (the fields are all in), or chunk sizes adding up to more.
      const auto& msg = p.get();
      auto it = msg.find(http::field::content_length);
      std::uint64_t length = 0;
      if (!p.chunked() && it != msg.end()) {
        std::string_view value = StripWhitespace({it->value().data(), it->value().size()});
        std::from_chars(value.data(), value.data() + value.size(), length);
        Fail(413, absl::StrCat("request body of ", length, " bytes exceeds the limit of ",
                               limits_.max_body_bytes, " bytes"));
      } else {
        Fail(413, absl::StrCat("chunked request body exceeds the limit of ", limits_.max_body_bytes,
                               " bytes"));
      }
      break;
    }
    if (ec) {
      Fail(400, BeastErrorMessage(ec));
      break;
    }
    if (!header_done_ && p.is_header_done()) {
      header_done_ = true;
      beast_->header_fields = static_cast<size_t>(
          std::distance(p.get().begin(), p.get().end()));
      CheckHeader();
      if (failed()) break;
    }
    if (p.is_done()) {
      // Beast appends a chunked body's trailer fields to the header fields; they would pass as
      // headers that no limit or check saw (a second Host, an Authorization).
      if (static_cast<size_t>(std::distance(p.get().begin(), p.get().end())) !=
          beast_->header_fields) {
        Fail(400, "trailer fields after a chunked body are not accepted");
        break;
      }
      complete_ = true;
      expects_continue_ = false;
      break;
    }
    if (n == 0) break;
  }
  return used;
}

void HttpRequestParser::CheckHeader() {
  const auto& msg = beast_->parser.get();
  const size_t hosts = msg.count(http::field::host);
  if (hosts > 1) {
    return Fail(400, absl::StrCat("malformed HTTP request: ", hosts, " Host headers (at most 1)"));
  }
  if (hosts == 0 && msg.version() == 11) {
    return Fail(400, "malformed HTTP request: HTTP/1.1 request without a Host header");
  }
  // Beast takes a Transfer-Encoding whose last coding is not "chunked" as "no body", which
  // would turn the body into the next request. Only plain chunked is supported.
  const size_t encodings = msg.count(http::field::transfer_encoding);
  if (encodings > 0) {
    auto it = msg.find(http::field::transfer_encoding);
    std::string_view value(it->value().data(), it->value().size());
    if (encodings > 1 || !beast_->parser.chunked() ||
        !EqualsIgnoreCase(StripWhitespace(value), "chunked")) {
      return Fail(400, absl::StrCat("unsupported Transfer-Encoding ", Quote(value),
                                    " (only \"chunked\" is supported)"));
    }
  }
  if (msg.version() == 11 && !beast_->parser.is_done()) {
    auto it = msg.find(http::field::expect);
    if (it != msg.end()) {
      std::string_view value(it->value().data(), it->value().size());
      expects_continue_ = EqualsIgnoreCase(StripWhitespace(value), "100-continue");
    }
  }
}

HttpRequest HttpRequestParser::TakeRequest() {
  HttpRequest request;
  if (!complete_) return request;
  auto& msg = beast_->parser.get();
  auto method = msg.method_string();
  request.method.assign(method.data(), method.size());
  auto target = msg.target();
  request.target.assign(target.data(), target.size());
  request.version = msg.version() == 10 ? 10 : 11;
  request.headers.reserve(std::distance(msg.begin(), msg.end()));
  for (const auto& field : msg) {
    auto name = field.name_string();
    auto value = field.value();
    request.headers.push_back(
        {std::string(name.data(), name.size()), std::string(value.data(), value.size())});
  }
  request.body = std::move(msg.body());
  Reset();
  return request;
}

}  // namespace aurora::gateway
