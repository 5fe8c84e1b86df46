#include "gateway/http_server.h"

#include <time.h>

#include <algorithm>
#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gateway/http_request_parser.h"
#include "gateway/http_text.h"

namespace aurora::gateway {

std::string_view HttpRequest::path() const {
  return std::string_view(target).substr(0, target.find('?'));
}

std::string_view HttpRequest::query() const {
  size_t q = target.find('?');
  return q == std::string::npos ? std::string_view() : std::string_view(target).substr(q + 1);
}

const std::string* HttpRequest::FindHeader(std::string_view name) const {
  for (const auto& h : headers) {
    if (EqualsIgnoreCase(h.name, name)) return &h.value;
  }
  return nullptr;
}

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Strand = asio::strand<asio::io_context::executor_type>;
using Socket = asio::basic_stream_socket<tcp, Strand>;
using Acceptor = asio::basic_socket_acceptor<tcp, Strand>;
using Timer = asio::basic_waitable_timer<Clock, asio::wait_traits<Clock>, Strand>;
using ErrorCode = boost::system::error_code;

// Bytes asked of one read. Small requests take one read; the flat buffer is reused.
constexpr size_t kReadSize = 8 << 10;
// After a response that closes the connection: how long unread input is drained after our FIN,
// so that the kernel does not answer it with a RST that would destroy the response in flight.
constexpr Clock::duration kLingerTimeout = std::chrono::seconds(1);
// Connections accepted at most per accept completion.
constexpr int kAcceptBatch = 64;
// Queued outputs (response head, chunks) gathered into one write.
constexpr size_t kMaxOutputsPerWrite = 64;

// nullopt: no timeout.
std::optional<Clock::duration> ToTimeout(absl::Duration d) {
  if (d >= absl::Hours(24 * 365 * 100)) return std::nullopt;
  if (d < absl::ZeroDuration()) d = absl::ZeroDuration();
  return std::chrono::duration_cast<Clock::duration>(absl::ToChronoNanoseconds(d));
}

// The gRPC code an HTTP status stands for: the reverse of the google.rpc.Code HTTP mapping that
// grpc-gateway and Envoy's transcoder apply. 413 and 431 are RESOURCE_EXHAUSTED, as gRPC itself
// answers a message or metadata over its size limit; 408 is DEADLINE_EXCEEDED.
int GrpcCodeForHttpStatus(int status) {
  switch (status) {
    case 400:
      return 3;  // INVALID_ARGUMENT
    case 401:
      return 16;  // UNAUTHENTICATED
    case 403:
      return 7;  // PERMISSION_DENIED
    case 404:
      return 5;  // NOT_FOUND
    case 408:
      return 4;  // DEADLINE_EXCEEDED
    case 409:
      return 10;  // ABORTED
    case 412:
      return 9;  // FAILED_PRECONDITION
    case 413:
      return 8;  // RESOURCE_EXHAUSTED
    case 429:
      return 8;  // RESOURCE_EXHAUSTED
    case 431:
      return 8;  // RESOURCE_EXHAUSTED
    case 499:
      return 1;  // CANCELLED
    case 500:
      return 13;  // INTERNAL
    case 501:
      return 12;  // UNIMPLEMENTED
    case 503:
      return 14;  // UNAVAILABLE
    case 504:
      return 4;  // DEADLINE_EXCEEDED
    case 505:
      return 12;  // UNIMPLEMENTED
    default:
      return 2;  // UNKNOWN
  }
}

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          absl::StrAppend(&out, "\\u00", absl::Hex(c, absl::kZeroPad2));
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

HttpResponse DefaultErrorResponse(int status, std::string message) {
  HttpResponse response;
  response.status = status;
  response.headers.push_back({"Content-Type", "application/json"});
  response.body = absl::StrCat("{\"code\":", GrpcCodeForHttpStatus(status),
                               ",\"message\":", JsonString(message), "}");
  return response;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 499:
      return "Client Closed Request";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "";
  }
}

// The IMF-fixdate of now, formatted once a second per thread.
const std::string& HttpDate() {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  thread_local time_t cached_second = -1;
  thread_local std::string cached;
  time_t now = time(nullptr);
  if (now != cached_second) {
    struct tm t;
    gmtime_r(&now, &t);
    char text[40];
    snprintf(text, sizeof(text), "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[t.tm_wday % 7],
             t.tm_mday, kMonths[t.tm_mon % 12], t.tm_year + 1900, t.tm_hour, t.tm_min, t.tm_sec);
    cached = text;
    cached_second = now;
  }
  return cached;
}

bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Handler-supplied fields that could split or reframe the response are dropped.
bool IsSendableHeader(const HttpHeader& h) {
  if (h.name.empty() || !std::all_of(h.name.begin(), h.name.end(), IsTokenChar)) return false;
  return h.value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos;
}

// Fields the server sets itself.
bool IsManagedHeader(std::string_view name) {
  return EqualsIgnoreCase(name, "Content-Length") || EqualsIgnoreCase(name, "Transfer-Encoding") ||
         EqualsIgnoreCase(name, "Connection") || EqualsIgnoreCase(name, "Date");
}

// True if a Connection field lists `token`.
bool HasConnectionToken(const std::vector<HttpHeader>& headers, std::string_view token) {
  for (const auto& h : headers) {
    if (!EqualsIgnoreCase(h.name, "Connection")) continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      if (EqualsIgnoreCase(StripWhitespace(rest.substr(0, comma)), token)) return true;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return false;
}

// Swallows what a user callback throws: an exception must not unwind through Asio and leave a
// connection half-updated.
template <typename F, typename... Args>
void CallUser(F& f, Args&&... args) {
  if (!f) return;
  try {
    f(std::forward<Args>(args)...);
  } catch (...) {
  }
}

class Connection;

// What every connection shares with the server. Connections hold it by shared_ptr, so the
// io_context outlives every socket and timer even if an HttpExchange outlives the HttpServer.
struct ServerState {
  ServerState(HttpServerOptions o, HttpHandler h)
      : ioc(std::max(1, o.io_threads)),
        options(std::move(o)),
        handler(std::move(h)),
        header_timeout(ToTimeout(options.header_timeout)),
        body_timeout(ToTimeout(options.body_timeout)),
        idle_timeout(ToTimeout(options.idle_timeout)),
        write_timeout(ToTimeout(options.write_timeout)) {}

  HttpResponse ErrorResponse(int status, std::string message) const {
    if (options.error_response) {
      try {
        return options.error_response(status, message);
      } catch (...) {
      }
    }
    return DefaultErrorResponse(status, std::move(message));
  }

  // False (the connection is to be closed) when shutting down or at max_connections.
  bool Register(const std::shared_ptr<Connection>& c) {
    std::lock_guard<std::mutex> lock(mu);
    if (shutting_down || static_cast<int>(connections.size()) >= options.max_connections) {
      return false;
    }
    connections.emplace(c.get(), c);
    open.store(static_cast<int>(connections.size()), std::memory_order_relaxed);
    return true;
  }

  void Unregister(Connection* c) {
    std::shared_ptr<Connection> last;  // released outside the lock
    {
      std::lock_guard<std::mutex> lock(mu);
      auto it = connections.find(c);
      if (it == connections.end()) return;
      last = std::move(it->second);
      connections.erase(it);
      open.store(static_cast<int>(connections.size()), std::memory_order_relaxed);
    }
    cv.notify_all();
  }

  asio::io_context ioc;
  const HttpServerOptions options;
  const HttpHandler handler;
  const std::optional<Clock::duration> header_timeout, body_timeout, idle_timeout, write_timeout;

  std::mutex mu;
  std::condition_variable cv;  // signalled when a connection closes
  std::unordered_map<Connection*, std::shared_ptr<Connection>> connections;  // guarded by mu
  bool shutting_down = false;                                                // guarded by mu
  std::atomic<int> open{0};
};

class ExchangeImpl;

// One accepted socket. Everything runs on the connection's strand; the only ways in are the
// exchange (which posts onto the strand) and the server's shutdown (which posts too).
//
// Phases: kReading (idle or receiving a request; parsed as bytes arrive) -> kResponding (the
// handler has the request; the socket is still read, without parsing, to notice a disconnect)
// -> back to kReading once the response is written, or kLingering -> kClosed. kClosing: the
// server is writing its own error response before it closes.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<ServerState> state, Socket socket)
      : state_(std::move(state)),
        socket_(std::move(socket)),
        strand_(socket_.get_executor()),
        timer_(strand_),
        parser_({state_->options.max_header_bytes, state_->options.max_body_bytes}) {}

  const Strand& strand() const { return strand_; }

  void Start();
  void BeginShutdown();
  void Close();

  // From the exchange of request `seq`, on the strand. Calls for an earlier request are ignored.
  void Send(uint64_t seq, HttpResponse response);
  void StartStream(uint64_t seq, int status, std::vector<HttpHeader> headers);
  void Write(uint64_t seq, std::string data, std::function<void(bool)> written);
  void End(uint64_t seq);
  void OnCancel(uint64_t seq, std::function<void()> cancelled);
  void ExchangeDropped(uint64_t seq);

 private:
  enum class Phase { kReading, kResponding, kClosing, kLingering, kClosed };
  enum class Reply { kNone, kStreaming, kComplete };  // kComplete: the last output is queued
  enum class Deadline { kNone, kIdle, kHeader, kBody, kWrite, kLinger };

  struct Output {
    std::string head;
    std::string body;
    std::string_view tail;  // static text
    std::function<void(bool)> written;
    bool last = false;  // completes the response
  };

  size_t Unparsed() const { return buffer_.size() - skip_; }
  std::string_view UnparsedView() const {
    return std::string_view(static_cast<const char*>(buffer_.data().data()) + skip_, Unparsed());
  }

  void StartRequest();
  void Parse();
  void Dispatch();
  void RespondError(int status, std::string message);
  void ResponseWritten();
  void FinishExchange(bool cancelled);
  void LingerClose();

  void EnsureReading();
  void OnRead(const ErrorCode& ec, size_t n);

  std::string BuildHead(int status, const std::vector<HttpHeader>& headers,
                        std::optional<size_t> content_length, bool chunked, bool close) const;
  void Queue(Output output);
  void StartWrite();
  void OnWritten(const ErrorCode& ec);

  void SetDeadline(Deadline kind, std::optional<Clock::duration> timeout);
  void ArmTimer();
  void OnTimer(const ErrorCode& ec, uint64_t generation);

  const std::shared_ptr<ServerState> state_;
  Socket socket_;
  const Strand strand_;
  Timer timer_;
  boost::beast::flat_buffer buffer_;
  // Bytes at the front of buffer_ already consumed. The buffer itself is only consumed and
  // prepared while no read is in flight: a read in flight owns the memory after its end.
  size_t skip_ = 0;
  HttpRequestParser parser_;
  std::string remote_address_;

  Phase phase_ = Phase::kReading;
  bool read_in_flight_ = false;
  bool read_eof_ = false;
  bool write_in_flight_ = false;
  bool shutting_down_ = false;
  bool continue_sent_ = false;

  // The request being answered.
  uint64_t seq_ = 0;
  uint64_t cancelled_seq_ = 0;  // the request whose exchange was cancelled, if any
  Reply reply_ = Reply::kNone;
  bool version10_ = false;
  bool head_request_ = false;
  bool close_after_response_ = false;
  bool chunked_ = false;
  bool discard_body_ = false;
  std::weak_ptr<ExchangeImpl> exchange_;
  std::function<void()> on_cancel_;

  std::deque<Output> outputs_;  // the first outputs_in_flight_ are being written
  size_t outputs_in_flight_ = 0;
  std::vector<asio::const_buffer> write_buffers_;

  // One wait is pending at a time; moving a deadline later does not touch the timer (the wait
  // wakes up, sees the later deadline and waits again), so a busy keep-alive connection rarely
  // re-arms it.
  Deadline deadline_kind_ = Deadline::kNone;
  Clock::time_point deadline_ = Clock::time_point::max();
  Clock::time_point timer_expiry_;
  bool timer_waiting_ = false;
  uint64_t timer_generation_ = 0;
};

// The HttpExchange handed to the handler: posts every call onto the connection's strand. Holds
// the connection until the response is written or cancelled, then lets it go; later calls are
// no-ops (Write's callback gets false, OnCancel's runs at once if the exchange was cancelled).
class ExchangeImpl final : public HttpExchange {
 public:
  ExchangeImpl(std::shared_ptr<Connection> connection, uint64_t seq)
      : seq_(seq), connection_(std::move(connection)) {}

  ~ExchangeImpl() override {
    std::shared_ptr<Connection> c;
    {
      std::lock_guard<std::mutex> lock(mu_);
      c = std::move(connection_);
      if (answered_) return;
    }
    if (c) {
      // Dropped before the response was complete.
      auto& strand = c->strand();
      asio::post(strand, [c = std::move(c), seq = seq_] { c->ExchangeDropped(seq); });
    }
  }

  void Send(HttpResponse response) override {
    if (auto c = Lock(/*answer=*/true)) {
      asio::post(c->strand(), [c, seq = seq_, r = std::move(response)]() mutable {
        c->Send(seq, std::move(r));
      });
    }
  }

  void StartStream(int status, std::vector<HttpHeader> headers) override {
    if (auto c = Lock()) {
      asio::post(c->strand(), [c, seq = seq_, status, h = std::move(headers)]() mutable {
        c->StartStream(seq, status, std::move(h));
      });
    }
  }

  void Write(std::string data, std::function<void(bool ok)> written) override {
    if (auto c = Lock()) {
      asio::post(c->strand(),
                 [c, seq = seq_, d = std::move(data), w = std::move(written)]() mutable {
                   c->Write(seq, std::move(d), std::move(w));
                 });
    } else {
      CallUser(written, false);
    }
  }

  void End() override {
    if (auto c = Lock(/*answer=*/true)) asio::post(c->strand(), [c, seq = seq_] { c->End(seq); });
  }

  void OnCancel(std::function<void()> cancelled) override {
    std::shared_ptr<Connection> c;
    {
      std::lock_guard<std::mutex> lock(mu_);
      c = connection_;
      if (!c && !cancelled_) return;
    }
    if (!c) {
      CallUser(cancelled);
      return;
    }
    asio::post(c->strand(), [c, seq = seq_, f = std::move(cancelled)]() mutable {
      c->OnCancel(seq, std::move(f));
    });
  }

  // On the strand, when the response is complete or cancelled.
  void Release(bool cancelled) {
    std::shared_ptr<Connection> c;  // released outside the lock
    std::lock_guard<std::mutex> lock(mu_);
    c = std::move(connection_);
    cancelled_ = cancelled;
  }

 private:
  // The connection, or null once the response is complete or cancelled. `answer`: the call
  // completes the response (Send, End), so dropping the exchange afterwards is no mistake.
  std::shared_ptr<Connection> Lock(bool answer = false) {
    std::lock_guard<std::mutex> lock(mu_);
    answered_ |= answer;
    return connection_;
  }

  const uint64_t seq_;
  mutable std::mutex mu_;
  std::shared_ptr<Connection> connection_;  // guarded by mu_
  bool cancelled_ = false;                  // guarded by mu_
  bool answered_ = false;                   // guarded by mu_: Send() or End() was called
};

void Connection::Start() {
  if (phase_ == Phase::kClosed) return;  // BeginShutdown came first
  ErrorCode ec;
  socket_.set_option(tcp::no_delay(true), ec);
  auto remote = socket_.remote_endpoint(ec);
  if (!ec) {
    remote_address_ = remote.address().is_v6()
                          ? absl::StrCat("[", remote.address().to_string(), "]:", remote.port())
                          : absl::StrCat(remote.address().to_string(), ":", remote.port());
  }
  if (shutting_down_) return Close();
  StartRequest();
}

void Connection::BeginShutdown() {
  shutting_down_ = true;
  switch (phase_) {
    case Phase::kReading:
      // A request under way is still answered (with Connection: close).
      if (!parser_.started() && Unparsed() == 0) Close();
      break;
    case Phase::kResponding:
      close_after_response_ = true;
      break;
    default:
      break;
  }
}

void Connection::StartRequest() {
  phase_ = Phase::kReading;
  continue_sent_ = false;
  if (Unparsed() == 0) SetDeadline(Deadline::kIdle, state_->idle_timeout);
  Parse();
}

void Connection::Parse() {
  skip_ += parser_.Feed(UnparsedView());
  if (parser_.failed()) return RespondError(parser_.error_status(), parser_.error_message());
  if (parser_.complete()) return Dispatch();
  if (parser_.started() || Unparsed() > 0) {
    if (!parser_.header_done()) {
      if (deadline_kind_ != Deadline::kHeader) {
        SetDeadline(Deadline::kHeader, state_->header_timeout);
      }
    } else {
      if (deadline_kind_ != Deadline::kBody) SetDeadline(Deadline::kBody, state_->body_timeout);
      if (parser_.expects_continue() && !continue_sent_) {
        continue_sent_ = true;
        Output output;
        output.tail = "HTTP/1.1 100 Continue\r\n\r\n";
        Queue(std::move(output));
      }
    }
  }
  if (read_eof_) return Close();
  EnsureReading();
}

void Connection::Dispatch() {
  HttpRequest request = parser_.TakeRequest();
  request.remote_address = remote_address_;
  ++seq_;
  phase_ = Phase::kResponding;
  reply_ = Reply::kNone;
  version10_ = request.version == 10;
  head_request_ = request.method == "HEAD";
  const bool keep_alive = version10_ ? HasConnectionToken(request.headers, "keep-alive")
                                     : !HasConnectionToken(request.headers, "close");
  close_after_response_ = !keep_alive || shutting_down_;
  deadline_kind_ = Deadline::kNone;
  auto exchange = std::make_shared<ExchangeImpl>(shared_from_this(), seq_);
  exchange_ = exchange;
  EnsureReading();
  try {
    state_->handler(std::move(request), std::move(exchange));
  } catch (...) {
    Send(seq_, state_->ErrorResponse(500, "the request handler threw an exception"));
  }
}

void Connection::RespondError(int status, std::string message) {
  phase_ = Phase::kClosing;
  deadline_kind_ = Deadline::kNone;
  version10_ = false;
  HttpResponse response = state_->ErrorResponse(status, std::move(message));
  Output output;
  output.head = BuildHead(response.status, response.headers, response.body.size(),
                          /*chunked=*/false, /*close=*/true);
  output.body = std::move(response.body);
  output.last = true;
  Queue(std::move(output));
}

void Connection::Send(uint64_t seq, HttpResponse response) {
  if (seq != seq_ || phase_ != Phase::kResponding || reply_ != Reply::kNone) return;
  reply_ = Reply::kComplete;
  int status = response.status;
  if (status < 200 || status > 999) status = 500;
  close_after_response_ |= shutting_down_ || HasConnectionToken(response.headers, "close");
  const bool no_body = status == 204 || status == 304;
  Output output;
  output.head = BuildHead(status, response.headers,
                          no_body ? std::nullopt : std::optional<size_t>(response.body.size()),
                          /*chunked=*/false, close_after_response_);
  if (!no_body && !head_request_) output.body = std::move(response.body);
  output.last = true;
  Queue(std::move(output));
}

void Connection::StartStream(uint64_t seq, int status, std::vector<HttpHeader> headers) {
  if (seq != seq_ || phase_ != Phase::kResponding || reply_ != Reply::kNone) return;
  reply_ = Reply::kStreaming;
  if (status < 200 || status > 999) status = 500;
  const bool no_body = status == 204 || status == 304;
  chunked_ = !version10_ && !no_body;
  discard_body_ = no_body || head_request_;
  // HTTP/1.0 has no chunked coding: the body ends when the connection closes.
  if (version10_ && !discard_body_) close_after_response_ = true;
  close_after_response_ |= shutting_down_ || HasConnectionToken(headers, "close");
  Output output;
  output.head = BuildHead(status, headers, std::nullopt, chunked_, close_after_response_);
  Queue(std::move(output));
}

void Connection::Write(uint64_t seq, std::string data, std::function<void(bool)> written) {
  if (seq != seq_ || phase_ != Phase::kResponding || reply_ != Reply::kStreaming) {
    return CallUser(written, false);
  }
  if (data.empty() || discard_body_) return CallUser(written, true);
  Output output;
  if (chunked_) {
    output.head = absl::StrCat(absl::Hex(data.size()), "\r\n");
    output.tail = "\r\n";
  }
  output.body = std::move(data);
  output.written = std::move(written);
  Queue(std::move(output));
}

void Connection::End(uint64_t seq) {
  if (seq != seq_ || phase_ != Phase::kResponding || reply_ != Reply::kStreaming) return;
  reply_ = Reply::kComplete;
  Output output;
  if (chunked_ && !discard_body_) output.tail = "0\r\n\r\n";
  output.last = true;
  Queue(std::move(output));
}

void Connection::OnCancel(uint64_t seq, std::function<void()> cancelled) {
  if (seq == cancelled_seq_) return CallUser(cancelled);
  if (seq == seq_ && phase_ == Phase::kResponding) on_cancel_ = std::move(cancelled);
}

void Connection::ExchangeDropped(uint64_t seq) {
  if (seq != seq_ || phase_ != Phase::kResponding) return;
  if (reply_ == Reply::kNone) {
    Send(seq,
         state_->ErrorResponse(500, "the request handler released the exchange without answering"));
  } else if (reply_ == Reply::kStreaming) {
    Close();  // the stream cannot be completed: the client sees it cut short
  }
}

void Connection::ResponseWritten() {
  if (phase_ == Phase::kClosing) return LingerClose();
  FinishExchange(/*cancelled=*/false);
  if (close_after_response_) return LingerClose();
  StartRequest();
}

void Connection::FinishExchange(bool cancelled) {
  if (auto exchange = exchange_.lock()) exchange->Release(cancelled);
  exchange_.reset();
  if (!cancelled) on_cancel_ = nullptr;
}

void Connection::LingerClose() {
  phase_ = Phase::kLingering;
  ErrorCode ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  if (ec || read_eof_) return Close();
  skip_ = buffer_.size();
  SetDeadline(Deadline::kLinger, kLingerTimeout);
  EnsureReading();
}

void Connection::Close() {
  if (phase_ == Phase::kClosed) return;
  const bool cancel = phase_ == Phase::kResponding;
  phase_ = Phase::kClosed;
  ErrorCode ec;
  socket_.close(ec);
  timer_.cancel();
  deadline_kind_ = Deadline::kNone;
  // Outputs in flight stay until their write completes (the operation still refers to them).
  std::vector<std::function<void(bool)>> failed;
  while (outputs_.size() > outputs_in_flight_) {
    if (outputs_.back().written) failed.push_back(std::move(outputs_.back().written));
    outputs_.pop_back();
  }
  std::function<void()> cancelled;
  if (cancel) {
    cancelled_seq_ = seq_;
    cancelled = std::move(on_cancel_);
    FinishExchange(/*cancelled=*/true);
  }
  for (auto it = failed.rbegin(); it != failed.rend(); ++it) CallUser(*it, false);
  CallUser(cancelled);
  state_->Unregister(this);
}

void Connection::EnsureReading() {
  if (read_in_flight_ || read_eof_) return;
  switch (phase_) {
    case Phase::kReading:
    case Phase::kLingering:
      break;
    case Phase::kResponding:
      // Pipelined requests wait in the buffer; past this much the client is not read until the
      // response is written (and a disconnect then goes unnoticed until then).
      if (Unparsed() > state_->options.max_header_bytes) return;
      break;
    case Phase::kClosing:
    case Phase::kClosed:
      return;
  }
  if (skip_ > 0) {
    buffer_.consume(skip_);
    skip_ = 0;
  }
  read_in_flight_ = true;
  socket_.async_read_some(
      buffer_.prepare(kReadSize),
      [self = shared_from_this()](const ErrorCode& ec, size_t n) { self->OnRead(ec, n); });
}

void Connection::OnRead(const ErrorCode& ec, size_t n) {
  read_in_flight_ = false;
  if (phase_ == Phase::kClosed) return;
  if (ec) {
    read_eof_ = true;
    // While the server writes its error response, let that finish; LingerClose then closes.
    if (phase_ == Phase::kClosing) return;
    return Close();  // the client went away: a response under way is cancelled
  }
  buffer_.commit(n);
  switch (phase_) {
    case Phase::kReading:
      return Parse();
    case Phase::kResponding:
      return EnsureReading();
    case Phase::kClosing:
      skip_ = buffer_.size();
      return;
    case Phase::kLingering:
      skip_ = buffer_.size();
      return EnsureReading();
    case Phase::kClosed:
      return;
  }
}

std::string Connection::BuildHead(int status, const std::vector<HttpHeader>& headers,
                                  std::optional<size_t> content_length, bool chunked,
                                  bool close) const {
  size_t size = 128;
  for (const auto& h : headers) size += h.name.size() + h.value.size() + 4;
  std::string head;
  head.reserve(size);
  const std::string_view reason = ReasonPhrase(status);
  absl::StrAppend(&head, "HTTP/1.1 ", status, " ");
  head.append(reason);
  head += "\r\n";
  for (const auto& h : headers) {
    if (!IsSendableHeader(h) || IsManagedHeader(h.name)) continue;
    absl::StrAppend(&head, h.name, ": ", h.value, "\r\n");
  }
  absl::StrAppend(&head, "Date: ", HttpDate(), "\r\n");
  if (content_length) absl::StrAppend(&head, "Content-Length: ", *content_length, "\r\n");
  if (chunked) head += "Transfer-Encoding: chunked\r\n";
  if (close) {
    head += "Connection: close\r\n";
  } else if (version10_) {
    head += "Connection: keep-alive\r\n";
  }
  head += "\r\n";
  return head;
}

void Connection::Queue(Output output) {
  if (phase_ == Phase::kClosed) return CallUser(output.written, false);
  outputs_.push_back(std::move(output));
  if (!write_in_flight_) StartWrite();
}

void Connection::StartWrite() {
  write_buffers_.clear();
  size_t count = 0;
  for (const Output& o : outputs_) {
    if (count == kMaxOutputsPerWrite) break;
    if (!o.head.empty()) write_buffers_.emplace_back(o.head.data(), o.head.size());
    if (!o.body.empty()) write_buffers_.emplace_back(o.body.data(), o.body.size());
    if (!o.tail.empty()) write_buffers_.emplace_back(o.tail.data(), o.tail.size());
    ++count;
  }
  if (count == 0) return;
  outputs_in_flight_ = count;
  write_in_flight_ = true;
  // Writes while a request is still being read are 100 Continue: the read deadline stays.
  if (phase_ != Phase::kReading) SetDeadline(Deadline::kWrite, state_->write_timeout);
  asio::async_write(
      socket_, write_buffers_,
      [self = shared_from_this()](const ErrorCode& ec, size_t) { self->OnWritten(ec); });
}

void Connection::OnWritten(const ErrorCode& ec) {
  write_in_flight_ = false;
  std::vector<std::function<void(bool)>> done;
  bool last = false;
  for (size_t i = 0; i < outputs_in_flight_; ++i) {
    if (outputs_.front().written) done.push_back(std::move(outputs_.front().written));
    last |= outputs_.front().last;
    outputs_.pop_front();
  }
  outputs_in_flight_ = 0;
  const bool ok = !ec && phase_ != Phase::kClosed;
  if (ok && !outputs_.empty()) {
    StartWrite();
  } else if (ok && deadline_kind_ == Deadline::kWrite) {
    deadline_kind_ = Deadline::kNone;
  }
  for (auto& written : done) CallUser(written, ok);
  if (!ok) return Close();
  if (last) ResponseWritten();
}

void Connection::SetDeadline(Deadline kind, std::optional<Clock::duration> timeout) {
  deadline_kind_ = kind;
  if (!timeout) {
    deadline_ = Clock::time_point::max();
    return;
  }
  deadline_ = Clock::now() + *timeout;
  if (!timer_waiting_ || deadline_ < timer_expiry_) ArmTimer();
}

void Connection::ArmTimer() {
  timer_expiry_ = deadline_;
  timer_waiting_ = true;
  const uint64_t generation = ++timer_generation_;
  timer_.expires_at(deadline_);
  timer_.async_wait([self = shared_from_this(), generation](const ErrorCode& ec) {
    self->OnTimer(ec, generation);
  });
}

void Connection::OnTimer(const ErrorCode& ec, uint64_t generation) {
  if (generation != timer_generation_) return;  // superseded by a later ArmTimer
  timer_waiting_ = false;
  if (ec || phase_ == Phase::kClosed || deadline_kind_ == Deadline::kNone) return;
  if (Clock::now() < deadline_) {
    if (deadline_ != Clock::time_point::max()) ArmTimer();
    return;
  }
  const Deadline kind = deadline_kind_;
  deadline_kind_ = Deadline::kNone;
  switch (kind) {
    case Deadline::kHeader:
      return RespondError(408, absl::StrCat("request header not received within the header "
                                            "timeout of ",
                                            absl::FormatDuration(state_->options.header_timeout)));
    case Deadline::kBody:
      return RespondError(408, absl::StrCat("request body not received within the body timeout "
                                            "of ",
                                            absl::FormatDuration(state_->options.body_timeout)));
    case Deadline::kIdle:   // keep-alive connection unused: closed without a word
    case Deadline::kWrite:  // the client does not read
    case Deadline::kLinger:
    case Deadline::kNone:
      return Close();
  }
}

void RunIoContext(asio::io_context& ioc) {
  for (;;) {
    try {
      ioc.run();
      return;
    } catch (...) {
      // Every user callback is guarded; keep the thread serving if something else threw.
    }
  }
}

}  // namespace

class HttpServer::Impl {
 public:
  Impl(HttpServerOptions options, HttpHandler handler)
      : state_(std::make_shared<ServerState>(std::move(options), std::move(handler))),
        retry_timer_(asio::make_strand(state_->ioc)) {}

  ~Impl() { Shutdown(absl::ZeroDuration()); }

  absl::Status Start(const std::string& address);
  void Shutdown(absl::Duration grace);
  int port() const { return port_; }
  int connections() const { return state_->open.load(std::memory_order_relaxed); }

 private:
  void Accept();
  void OnAccept(const ErrorCode& ec, Socket socket);
  void AddConnection(Socket socket);

  const std::shared_ptr<ServerState> state_;  // first: destroyed last
  std::optional<Acceptor> acceptor_;
  std::optional<Timer> retry_timer_;  // on the acceptor's strand
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  int port_ = 0;
  bool started_ = false;
  bool stopped_ = false;
};

absl::Status HttpServer::Impl::Start(const std::string& address) {
  if (started_ || stopped_) {
    return absl::FailedPreconditionError("HttpServer::Start may be called once");
  }
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address \"", address, "\" is not of the form host:port"));
  }
  std::string host = address.substr(0, colon);
  std::string port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty() || host == "*") host = "0.0.0.0";
  int port_number = 0;
  if (!absl::SimpleAtoi(port, &port_number) || port_number < 0 || port_number > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("port \"", port, "\" of listen address \"", address, "\" is not 0-65535"));
  }
  ErrorCode ec;
  tcp::resolver resolver(state_->ioc);
  auto results = resolver.resolve(host, port, tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot resolve host \"", host, "\" of listen address \"", address, "\": ", ec.message()));
  }
  const tcp::endpoint endpoint = results.begin()->endpoint();

  Strand strand = asio::make_strand(state_->ioc);
  acceptor_.emplace(strand);
  retry_timer_.emplace(strand);
  auto fail = [&](const char* what) {
    acceptor_.reset();
    return absl::UnavailableError(
        absl::StrCat("cannot ", what, " on \"", address, "\": ", ec.message()));
  };
  if (acceptor_->open(endpoint.protocol(), ec)) return fail("open a socket");
  if (acceptor_->set_option(tcp::acceptor::reuse_address(true), ec)) return fail("SO_REUSEADDR");
  if (acceptor_->bind(endpoint, ec)) return fail("bind");
  if (acceptor_->listen(std::max(1, state_->options.listen_backlog), ec)) return fail("listen");
  if (acceptor_->non_blocking(true, ec)) return fail("make the socket non-blocking");
  port_ = acceptor_->local_endpoint(ec).port();

  started_ = true;
  work_.emplace(state_->ioc.get_executor());
  Accept();
  const int threads = std::max(1, state_->options.io_threads);
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([state = state_.get()] { RunIoContext(state->ioc); });
  }
  return absl::OkStatus();
}

void HttpServer::Impl::Accept() {
  acceptor_->async_accept(
      asio::make_strand(state_->ioc),
      [this](const ErrorCode& ec, Socket socket) { OnAccept(ec, std::move(socket)); });
}

void HttpServer::Impl::OnAccept(const ErrorCode& ec, Socket socket) {
  if (ec == asio::error::operation_aborted || !acceptor_->is_open()) return;
  if (ec) {
    // Out of file descriptors and the like: try again shortly instead of spinning.
    retry_timer_->expires_after(std::chrono::milliseconds(50));
    retry_timer_->async_wait([this](const ErrorCode& wait_ec) {
      if (!wait_ec && acceptor_->is_open()) Accept();
    });
    return;
  }
  AddConnection(std::move(socket));
  // Drain the backlog without waiting for a turn in the handler queue each time: under load,
  // one accept per handler round trip lets new connections wait behind the busy ones.
  for (int i = 0; i < kAcceptBatch; ++i) {
    ErrorCode accept_ec;
    Socket next(asio::make_strand(state_->ioc));
    acceptor_->accept(next, accept_ec);  // the acceptor is non-blocking: would_block when empty
    if (accept_ec) break;
    AddConnection(std::move(next));
  }
  Accept();
}

void HttpServer::Impl::AddConnection(Socket socket) {
  auto connection = std::make_shared<Connection>(state_, std::move(socket));
  if (state_->Register(connection)) {
    asio::post(connection->strand(), [connection] { connection->Start(); });
  }
  // else: over max_connections or shutting down; the socket closes with `connection`.
}

void HttpServer::Impl::Shutdown(absl::Duration grace) {
  if (!started_ || stopped_) {
    stopped_ = true;
    return;
  }
  stopped_ = true;
  std::vector<std::shared_ptr<Connection>> connections;
  auto snapshot = [&] {
    for (const auto& [unused, c] : state_->connections) connections.push_back(c);
  };
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->shutting_down = true;
    snapshot();
  }
  asio::post(acceptor_->get_executor(), [this] {
    ErrorCode ec;
    acceptor_->close(ec);
    retry_timer_->cancel();
  });
  for (auto& c : connections) asio::post(c->strand(), [c] { c->BeginShutdown(); });
  connections.clear();

  auto all_closed = [&] { return state_->connections.empty(); };
  {
    std::unique_lock<std::mutex> lock(state_->mu);
    if (auto timeout = ToTimeout(grace)) {
      state_->cv.wait_for(lock, *timeout, all_closed);
    } else {
      state_->cv.wait(lock, all_closed);
    }
    snapshot();
  }
  for (auto& c : connections) asio::post(c->strand(), [c] { c->Close(); });
  connections.clear();
  {
    // Close() runs at once unless a user callback blocks an I/O thread.
    std::unique_lock<std::mutex> lock(state_->mu);
    state_->cv.wait_for(lock, std::chrono::seconds(5), all_closed);
  }
  work_.reset();
  state_->ioc.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  // Completions of the cancelled operations, and calls posted by exchanges meanwhile.
  state_->ioc.restart();
  state_->ioc.poll();
}

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() = default;

absl::Status HttpServer::Start(const std::string& address) { return impl_->Start(address); }

int HttpServer::port() const { return impl_->port(); }

void HttpServer::Shutdown(absl::Duration grace) { impl_->Shutdown(grace); }

int HttpServer::connections() const { return impl_->connections(); }

}  // namespace aurora::gateway
