// aurora_load: the network's traffic mix over HTTP/1.1 keep-alive against running gateways, as
// people's browsers and organisations' services send it: recommendations 55 %, searches 25 %,
// feedback 6 % and clicks 4 %, profile reads 4 % and writes 3 %, session transfers 3 % (a person's
// CreateTransfer at their node, then the receiving organisation's ReceiveTransfer at its node).
// bench/load/run.py starts the production topology as processes and drives this tool through the
// phases (saturation, soak, overload, recovery); see bench/README.md "Load".
//
//   aurora_load --config FILE [--rate R] [--connections N] [--seconds S] [--warmup W]
//               [--out FILE] [--label NAME] [--seed N]
//
// --config: JSON written by run.py: {"gateways": [port...], "profile_a": port, "profile_b": port,
//   "tokens": [bearer...], "transfer": {"channel_id", "receiver_basic", "source_organization_id"},
//   "search_texts": [...], "municipalities": [...]}.
// --rate 0 (default): closed loop, each connection sends its next request when the last is
// answered. --rate R: open loop, R requests per second in all, each of N workers at Poisson
// arrival times of its own; latency counts from the scheduled time when the worker is behind (no
// coordinated omission), and `service` latency from sending.
// Every response is classified: 2xx ok; 429 or 503 shed (with or without Retry-After, counted
// apart); anything else, or a connection failure, an error (the first few messages are kept).
// --out: one JSON line per second of the measured window, then a summary line; the summary is
// also printed.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "nlohmann/json.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

// The operations of the mix and their weights (per mille).
enum Op { kRecommend, kSearch, kFeedback, kClick, kProfileRead, kProfileWrite, kTransfer, kOps };
constexpr std::array<const char*, kOps> kOpNames = {
    "recommend", "search", "feedback", "click", "profile_read", "profile_write", "transfer"};
constexpr std::array<int, kOps> kWeights = {550, 250, 60, 40, 40, 30, 30};

struct Options {
  std::string config;
  double rate = 0;
  int connections = 32;
  double seconds = 10;
  double warmup = 2;
  std::string out;
  std::string label = "load";
  uint64_t seed = 20261207;
};

struct Config {
  std::vector<int> gateways;
  int profile_a = 0;
  int profile_b = 0;
  std::vector<std::string> tokens;
  std::string transfer_channel;
  std::string receiver_basic_b64;
  std::string transfer_source;
  std::vector<std::string> search_texts;
  std::vector<std::string> municipalities;
};

std::string Base64(const std::string& in) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += table[(v >> shift) & 63];
  }
  if (i + 1 == in.size()) {
    const uint32_t v = uint8_t(in[i]) << 16;
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// One HTTP/1.1 response as far as the load needs it.
struct Response {
  int status = 0;  // 0: no response (the connection failed; `error` says how)
  bool retry_after = false;
  std::string body;
  std::string error;
};

// A blocking keep-alive connection to 127.0.0.1:port, opened on first use and again after a
// failure or a `Connection: close`.
class Connection {
 public:
  explicit Connection(int port) : port_(port) {}
  ~Connection() { Close(); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Response Send(const std::string& request) {
    Response r;
    for (int attempt = 0; attempt < 2; ++attempt) {
      const bool fresh = fd_ < 0;
      if (fresh && !Open(&r.error)) return r;
      if (!WriteAll(request)) {
        r.error = std::string("send: ") + std::strerror(errno);
        Close();
        if (fresh) return r;
        continue;  // a kept-alive connection the server had closed: once more on a new one
      }
      if (ReadResponse(&r)) return r;
      Close();
      // A reused connection that was closed before any byte came back: the request was not
      // taken (the server closes idle connections only between requests): once more.
      if (fresh || r.status != 0 || !nothing_read_) return r;
    }
    return r;
  }

 private:
  bool Open(std::string* error) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      *error = std::string("socket: ") + std::strerror(errno);
      return false;
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port_));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      *error = "connect to port " + std::to_string(port_) + ": " + std::strerror(errno);
      Close();
      return false;
    }
    buffer_.clear();
    return true;
  }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buffer_.clear();
  }

  bool WriteAll(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads more into buffer_ within the response deadline; false on EOF, error or timeout.
  bool Fill(Clock::time_point deadline, std::string* error) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      *error = "no response within 30 s";
      return false;
    }
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready <= 0) {
      *error = ready == 0 ? "no response within 30 s" : std::string("poll: ") + std::strerror(errno);
      return false;
    }
    char chunk[16384];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
      *error = n == 0 ? "connection closed by the server" : std::string("recv: ") + std::strerror(errno);
      return false;
    }
    nothing_read_ = false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  bool ReadResponse(Response* r) {
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    nothing_read_ = true;
    size_t header_end;
    while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(deadline, &r->error)) return false;
    }
    const std::string head = buffer_.substr(0, header_end);
    if (head.size() < 12 || head.compare(0, 5, "HTTP/") != 0) {
      r->error = "not an HTTP response";
      return false;
    }
    r->status = std::atoi(head.c_str() + 9);
    size_t length = 0;
    bool chunked = false, close = false;
    std::istringstream lines(head);
    std::string line;
    std::getline(lines, line);
    while (std::getline(lines, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      if (name == "content-length") length = std::strtoul(value.c_str(), nullptr, 10);
      if (name == "transfer-encoding" && value.find("chunked") != std::string::npos) chunked = true;
      if (name == "connection" && value.find("close") != std::string::npos) close = true;
      if (name == "retry-after") r->retry_after = true;
    }
    buffer_.erase(0, header_end + 4);
    if (chunked) {
      while (true) {
        size_t eol;
        while ((eol = buffer_.find("\r\n")) == std::string::npos) {
          if (!Fill(deadline, &r->error)) return false;
        }
        const size_t size = std::strtoul(buffer_.c_str(), nullptr, 16);
        while (buffer_.size() < eol + 2 + size + 2) {
          if (!Fill(deadline, &r->error)) return false;
        }
        r->body.append(buffer_, eol + 2, size);
        buffer_.erase(0, eol + 2 + size + 2);
        if (size == 0) break;
      }
    } else {
      while (buffer_.size() < length) {
        if (!Fill(deadline, &r->error)) return false;
      }
      r->body = buffer_.substr(0, length);
      buffer_.erase(0, length);
    }
    if (close) Close();
    return true;
  }

  const int port_;
  int fd_ = -1;
  std::string buffer_;
  bool nothing_read_ = true;
};

std::string Request(const std::string& method, const std::string& path, const std::string& body,
                    const std::string& authorization) {
  std::string r = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  if (!authorization.empty()) r += "Authorization: " + authorization + "\r\n";
  if (!body.empty() || method != "GET") {
    r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n";
  }
  r += "\r\n" + body;
  return r;
}

// What the measured window collected, per second and in all.
struct Second {
  std::array<int64_t, kOps> ok{};
  int64_t shed = 0, shed_with_retry_after = 0, errors = 0;
  std::vector<float> latency_ms;  // ok calls, from the scheduled time
  std::vector<float> service_ms;  // ok calls, from sending
};

class Recorder {
 public:
  Recorder(Clock::time_point start, double seconds)
      : start_(start), seconds_(static_cast<size_t>(std::ceil(seconds))), per_second_(seconds_) {}

  void Record(Op op, const Response& r, Clock::time_point scheduled, Clock::time_point sent,
              Clock::time_point done) {
    if (done < start_) return;
    const size_t index = static_cast<size_t>(std::chrono::duration<double>(done - start_).count());
    if (index >= seconds_) return;
    std::lock_guard<std::mutex> lock(mu_);
    Second& s = per_second_[index];
    if (r.status >= 200 && r.status < 300) {
      ++s.ok[op];
      s.latency_ms.push_back(std::chrono::duration<float, std::milli>(done - scheduled).count());
      s.service_ms.push_back(std::chrono::duration<float, std::milli>(done - sent).count());
      ++ok_by_op_[op];
      service_by_op_[op].push_back(s.service_ms.back());
    } else if (r.status == 429 || r.status == 503) {
      ++s.shed;
      if (r.retry_after) ++s.shed_with_retry_after;
    } else {
      ++s.errors;
      const std::string key = std::string(kOpNames[op]) + " " + std::to_string(r.status);
      if (++error_kinds_[key] <= 1) {
        first_errors_.push_back(key + ": " + (r.error.empty() ? r.body.substr(0, 300) : r.error));
      }
    }
  }

  const std::vector<Second>& seconds() const { return per_second_; }
  const std::vector<std::string>& first_errors() const { return first_errors_; }
  const std::map<std::string, int64_t>& error_kinds() const { return error_kinds_; }
  const std::array<int64_t, kOps>& ok_by_op() const { return ok_by_op_; }
  const std::array<std::vector<float>, kOps>& service_by_op() const { return service_by_op_; }

 private:
  const Clock::time_point start_;
  const size_t seconds_;
  std::mutex mu_;
  std::vector<Second> per_second_;
  std::array<int64_t, kOps> ok_by_op_{};
  std::array<std::vector<float>, kOps> service_by_op_;  // ok calls' service times, whole window
  std::map<std::string, int64_t> error_kinds_;
  std::vector<std::string> first_errors_;
};

double Percentile(std::vector<float> v, double q) {
  if (v.empty()) return 0;
  const size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  const size_t index = std::min(v.size() - 1, rank == 0 ? 0 : rank - 1);
  std::nth_element(v.begin(), v.begin() + static_cast<long>(index), v.end());
  return v[index];
}

// A recommendation a worker got, for its later feedback and clicks.
struct Answered {
  int gateway;
  std::string recommendation_id;
  std::string service_id;
  std::string channel_id;  // a channel with a link, or empty
};

class Worker {
 public:
  Worker(const Config& config, Recorder& recorder, uint64_t seed, double rate)
      : config_(config), recorder_(recorder), rng_(seed), rate_(rate) {}

  void Run(Clock::time_point start, Clock::time_point end) {
    Clock::time_point next = start;
    std::exponential_distribution<double> gap(rate_ > 0 ? rate_ : 1);
    while (true) {
      if (rate_ > 0) {
        next += std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(gap(rng_)));
        // A worker that fell behind its schedule stops at the end all the same: what it did not
        // send counts as not offered (the summary's offered rate shows it), and sending it later
        // would load the next phase.
        if (next >= end || Clock::now() >= end) break;
        std::this_thread::sleep_until(next);
      } else {
        next = Clock::now();
        if (next >= end) break;
      }
      Once(next);
    }
  }

 private:
  Connection& To(int port) {
    auto& slot = connections_[port];
    if (!slot) slot = std::make_unique<Connection>(port);
    return *slot;
  }

  int Draw(int n) { return static_cast<int>(rng_() % static_cast<uint64_t>(n)); }

  Op Choose() {
    int x = Draw(1000);
    for (int op = 0; op < kOps; ++op) {
      if (x < kWeights[op]) return static_cast<Op>(op);
      x -= kWeights[op];
    }
    return kRecommend;
  }

  void Once(Clock::time_point scheduled) {
    Op op = Choose();
    if ((op == kFeedback || op == kClick) && answered_.empty()) op = kRecommend;
    if (op == kClick && answered_.back().channel_id.empty()) op = kFeedback;
    if ((op == kProfileRead || op == kProfileWrite || op == kTransfer) && config_.tokens.empty()) {
      op = kSearch;
    }
    const Clock::time_point sent = Clock::now();
    Response r = Call(op);
    recorder_.Record(op, r, scheduled, sent, Clock::now());
  }

  Response Call(Op op) {
    const int g = Draw(static_cast<int>(config_.gateways.size()));
    const int gateway = config_.gateways[static_cast<size_t>(g)];
    switch (op) {
      case kRecommend: {
        static const char* kAreas[] = {"health",  "resilience", "housing", "working_studying",
                                       "family",  "friends",    "finance", "improvement_of_strengths",
                                       "self_esteem", "life_satisfaction"};
        json body = {{"language", "fi"}, {"limit", 10}};
        json meters = json::object();
        const int areas = 1 + Draw(3);
        for (int i = 0; i < areas; ++i) meters[kAreas[Draw(10)]] = {Draw(11)};
        body["life_situation_meters"] = meters;
        if (!config_.municipalities.empty() && Draw(10) < 7) {
          body["municipality_code"] = config_.municipalities[static_cast<size_t>(
              Draw(static_cast<int>(config_.municipalities.size())))];
        }
        if (Draw(2) == 0) body["age"] = 16 + Draw(70);
        Response r = To(gateway).Send(Request("POST", "/v1/recommendations", body.dump(), ""));
        if (r.status == 200) Remember(g, r.body);
        return r;
      }
      case kSearch: {
        json body = {{"text", config_.search_texts[static_cast<size_t>(
                                  Draw(static_cast<int>(config_.search_texts.size())))]},
                     {"language", "fi"},
                     {"limit", 10}};
        return To(gateway).Send(Request("POST", "/v1/search", body.dump(), ""));
      }
      case kFeedback: {
        const Answered& a = answered_[static_cast<size_t>(Draw(static_cast<int>(answered_.size())))];
        json body = {{"services", {{{"service_id", a.service_id}, {"score", Draw(2) ? 1 : -1}}}}};
        // The feedback goes through any gateway: the replica that did not answer forwards it.
        return To(gateway).Send(Request(
            "POST", "/v1/recommendations/" + a.recommendation_id + ":feedback", body.dump(), ""));
      }
      case kClick: {
        const Answered& a = answered_.back();
        json body = {{"service_id", a.service_id}, {"channel_id", a.channel_id}, {"link_index", 0}};
        return To(gateway).Send(Request(
            "POST", "/v1/recommendations/" + a.recommendation_id + ":redirect", body.dump(), ""));
      }
      case kProfileRead:
        return To(config_.profile_a).Send(Request("GET", "/v1/profile", "", Bearer()));
      case kProfileWrite: {
        json body = {{"attributes",
                      {{"age", 18 + Draw(60)},
                       {"life_situation_meters", {{"housing", {Draw(11)}}, {"health", {Draw(11)}}}}}}};
        return To(config_.profile_a).Send(Request("PATCH", "/v1/profile/attributes", body.dump(),
                                                  Bearer()));
      }
      case kTransfer: {
        json body = {{"service_channel_id", config_.transfer_channel},
                     {"attribute_names", {"age", "municipality_code"}}};
        Response created = To(config_.profile_a).Send(
            Request("POST", "/v1/profile/transfers", body.dump(), Bearer()));
        if (created.status != 200) return created;
        std::string token;
        try {
          token = json::parse(created.body).at("access_token").get<std::string>();
        } catch (const std::exception& e) {
          created.status = 599;
          created.error = std::string("transfer answer: ") + e.what();
          return created;
        }
        json receive = {{"access_token", token},
                        {"source_organization_id", config_.transfer_source}};
        return To(config_.profile_b).Send(Request("POST", "/v1/profile-access/transfers:receive",
                                                  receive.dump(),
                                                  "Basic " + config_.receiver_basic_b64));
      }
      case kOps:
        break;
    }
    return Response{};
  }

  std::string Bearer() {
    return "Bearer " + config_.tokens[static_cast<size_t>(Draw(static_cast<int>(config_.tokens.size())))];
  }

  void Remember(int gateway, const std::string& body) {
    Answered a{gateway, "", "", ""};
    try {
      const json answer = json::parse(body);
      a.recommendation_id = answer.value("recommendation_id", "");
      for (const auto& item : answer.value("services", json::array())) {
        const json& service = item.at("service");
        if (a.service_id.empty()) a.service_id = service.value("id", "");
        for (const auto& channel : service.value("channels", json::array())) {
          if (!channel.value("urls", json::array()).empty()) {
            a.service_id = service.value("id", "");
            a.channel_id = channel.value("id", "");
            break;
          }
        }
        if (!a.channel_id.empty()) break;
      }
    } catch (const std::exception&) {
      return;
    }
    if (a.recommendation_id.empty() || a.service_id.empty()) return;
    answered_.push_back(std::move(a));
    if (answered_.size() > 32) answered_.pop_front();
  }

  const Config& config_;
  Recorder& recorder_;
  std::mt19937_64 rng_;
  const double rate_;
  std::map<int, std::unique_ptr<Connection>> connections_;
  std::deque<Answered> answered_;
};

bool ReadConfig(const std::string& path, Config* config, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "--config: cannot read " + path;
    return false;
  }
  try {
    const json j = json::parse(in);
    config->gateways = j.at("gateways").get<std::vector<int>>();
    config->profile_a = j.value("profile_a", 0);
    config->profile_b = j.value("profile_b", 0);
    config->tokens = j.value("tokens", std::vector<std::string>{});
    if (j.contains("transfer")) {
      const json& t = j.at("transfer");
      config->transfer_channel = t.at("channel_id").get<std::string>();
      config->receiver_basic_b64 = Base64(t.at("receiver_basic").get<std::string>());
      config->transfer_source = t.at("source_organization_id").get<std::string>();
    }
    config->search_texts = j.at("search_texts").get<std::vector<std::string>>();
    config->municipalities = j.value("municipalities", std::vector<std::string>{});
  } catch (const std::exception& e) {
    *error = "--config " + path + ": " + e.what();
    return false;
  }
  if (config->gateways.empty()) *error = "--config " + path + ": \"gateways\" is empty";
  if (config->search_texts.empty()) *error = "--config " + path + ": \"search_texts\" is empty";
  if (!config->tokens.empty() && (config->profile_a == 0 || config->profile_b == 0 ||
                                  config->transfer_channel.empty())) {
    *error = "--config " + path + ": \"tokens\" needs \"profile_a\", \"profile_b\" and \"transfer\"";
  }
  return error->empty();
}

bool ParseOptions(int argc, char** argv, Options* o, std::string* error) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const char* name) -> std::optional<std::string> {
      if (arg != name) return std::nullopt;
      if (i + 1 >= argc) {
        *error = std::string(name) + " needs a value";
        return std::nullopt;
      }
      return std::string(argv[++i]);
    };
    auto number = [&](const std::string& name, const std::string& text, double low) -> double {
      char* end = nullptr;
      const double v = std::strtod(text.c_str(), &end);
      if (end == text.c_str() || *end != '\0' || !(v >= low)) {
        *error = name + ": \"" + text + "\" is not a number >= " + std::to_string(low);
      }
      return v;
    };
    if (auto v = value("--config")) {
      o->config = *v;
    } else if (auto v = value("--rate")) {
      o->rate = number("--rate", *v, 0);
    } else if (auto v = value("--connections")) {
      o->connections = static_cast<int>(number("--connections", *v, 1));
    } else if (auto v = value("--seconds")) {
      o->seconds = number("--seconds", *v, 1);
    } else if (auto v = value("--warmup")) {
      o->warmup = number("--warmup", *v, 0);
    } else if (auto v = value("--out")) {
      o->out = *v;
    } else if (auto v = value("--label")) {
      o->label = *v;
    } else if (auto v = value("--seed")) {
      o->seed = static_cast<uint64_t>(number("--seed", *v, 0));
    } else if (arg == "--help" || arg == "-h") {
      *error = "usage";
    } else if (error->empty()) {
      *error = "unknown argument \"" + arg + "\"";
    }
    if (!error->empty()) return false;
  }
  if (o->config.empty()) *error = "--config is required";
  return error->empty();
}

json Summary(const std::vector<Second>& seconds, size_t from, size_t to) {
  std::vector<float> latency, service;
  std::array<int64_t, kOps> ok{};
  int64_t shed = 0, with_retry_after = 0, errors = 0;
  for (size_t i = from; i < to && i < seconds.size(); ++i) {
    const Second& s = seconds[i];
    for (int op = 0; op < kOps; ++op) ok[op] += s.ok[op];
    shed += s.shed;
    with_retry_after += s.shed_with_retry_after;
    errors += s.errors;
    latency.insert(latency.end(), s.latency_ms.begin(), s.latency_ms.end());
    service.insert(service.end(), s.service_ms.begin(), s.service_ms.end());
  }
  int64_t total_ok = 0;
  json by_op = json::object();
  for (int op = 0; op < kOps; ++op) {
    by_op[kOpNames[op]] = ok[op];
    total_ok += ok[op];
  }
  const double span = static_cast<double>(std::min(to, seconds.size()) - std::min(from, to));
  const int64_t offered = total_ok + shed + errors;
  return {{"ok", total_ok},
          {"ok_per_s", span > 0 ? static_cast<double>(total_ok) / span : 0},
          {"offered_per_s", span > 0 ? static_cast<double>(offered) / span : 0},
          {"shed", shed},
          {"shed_with_retry_after", with_retry_after},
          {"errors", errors},
          {"p50_ms", Percentile(latency, 0.50)},
          {"p99_ms", Percentile(latency, 0.99)},
          {"p999_ms", Percentile(latency, 0.999)},
          {"service_p50_ms", Percentile(service, 0.50)},
          {"service_p99_ms", Percentile(service, 0.99)},
          {"by_op", by_op}};
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  std::string error;
  if (!ParseOptions(argc, argv, &options, &error)) {
    std::cerr << (error == "usage" ? "" : "aurora_load: " + error + "\n")
              << "usage: aurora_load --config FILE [--rate R] [--connections N] [--seconds S] "
                 "[--warmup W] [--out FILE] [--label NAME] [--seed N]\n";
    return error == "usage" ? 0 : 2;
  }
  Config config;
  if (!ReadConfig(options.config, &config, &error)) {
    std::cerr << "aurora_load: " << error << "\n";
    return 2;
  }

  const Clock::time_point begin = Clock::now();
  const Clock::time_point start =
      begin + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.warmup));
  const Clock::time_point end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.seconds));
  Recorder recorder(start, options.seconds);
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::thread> threads;
  for (int i = 0; i < options.connections; ++i) {
    workers.push_back(std::make_unique<Worker>(config, recorder, options.seed + static_cast<uint64_t>(i),
                                               options.rate / options.connections));
  }
  for (auto& w : workers) threads.emplace_back([&w, begin, end] { w->Run(begin, end); });
  for (auto& t : threads) t.join();

  const auto& seconds = recorder.seconds();
  std::ofstream out;
  if (!options.out.empty()) {
    out.open(options.out, std::ios::app);
    if (!out) {
      std::cerr << "aurora_load: --out: cannot write " << options.out << "\n";
      return 2;
    }
  }
  for (size_t i = 0; i < seconds.size(); ++i) {
    json line = Summary(seconds, i, i + 1);
    line["label"] = options.label;
    line["second"] = i;
    if (out) out << line.dump() << "\n";
  }
  json summary = Summary(seconds, 0, seconds.size());
  summary["label"] = options.label;
  summary["summary"] = true;
  summary["rate"] = options.rate;
  summary["connections"] = options.connections;
  summary["seconds"] = options.seconds;
  json service_p99 = json::object();
  for (int op = 0; op < kOps; ++op) {
    service_p99[kOpNames[op]] = Percentile(recorder.service_by_op()[op], 0.99);
  }
  summary["service_p99_ms_by_op"] = service_p99;
  summary["error_kinds"] = recorder.error_kinds();
  summary["first_errors"] = recorder.first_errors();
  if (out) out << summary.dump() << "\n";
  std::cout << summary.dump() << std::endl;
  return 0;
}
