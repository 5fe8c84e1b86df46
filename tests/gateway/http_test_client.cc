#include "http_test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace aurora::testing {
namespace {

using Clock = std::chrono::steady_clock;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool HasHeader(const TestHttpHeaders& headers, std::string_view name) {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const auto& h) { return EqualsIgnoreCase(h.first, name); });
}

[[noreturn]] void Fail(const std::string& message) {
  throw std::runtime_error("TestHttpClient: " + message);
}

}  // namespace

std::string TestHttpResponse::Header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (EqualsIgnoreCase(n, name)) return v;
  }
  return "";
}

bool TestHttpResponse::HasHeader(std::string_view name) const {
  return aurora::testing::HasHeader(headers, name);
}

TestHttpClient::TestHttpClient(int port, std::chrono::milliseconds timeout)
    : port_(port), timeout_(timeout) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) Fail(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    int error = errno;
    ::close(fd_);
    fd_ = -1;
    Fail("cannot connect to 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(error));
  }
}

TestHttpClient::~TestHttpClient() { Close(); }

void TestHttpClient::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void TestHttpClient::ShutdownWrite() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

std::string TestHttpClient::FormatRequest(const std::string& method, const std::string& target,
                                          const std::string& body,
                                          const TestHttpHeaders& headers) const {
  std::string request = method + " " + target + " HTTP/1.1\r\n";
  if (!aurora::testing::HasHeader(headers, "Host")) {
    request += "Host: 127.0.0.1:" + std::to_string(port_) + "\r\n";
  }
  const bool framed = aurora::testing::HasHeader(headers, "Content-Length") ||
                      aurora::testing::HasHeader(headers, "Transfer-Encoding");
  if (!framed && (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH")) {
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
  request += "\r\n";
  request += body;
  return request;
}

void TestHttpClient::SendRequest(const std::string& method, const std::string& target,
                                 const std::string& body, const TestHttpHeaders& headers) {
  SendRaw(FormatRequest(method, target, body, headers));
  head_requests_.push_back(method == "HEAD");
}

TestHttpResponse TestHttpClient::Request(const std::string& method, const std::string& target,
                                         const std::string& body, const TestHttpHeaders& headers) {
  SendRequest(method, target, body, headers);
  return ReadResponse();
}

void TestHttpClient::SendRaw(std::string_view bytes) {
  if (fd_ < 0) Fail("send on a closed client");
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      Fail(std::string("send: ") + std::strerror(errno));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

Clock::time_point TestHttpClient::Deadline() const { return Clock::now() + timeout_; }

bool TestHttpClient::Receive(Clock::time_point deadline, const char* what) {
  if (fd_ < 0) Fail(std::string("read on a closed client, waiting for ") + what);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() < 0) left = std::chrono::milliseconds(0);
    pollfd p{fd_, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      Fail(std::string("timed out after ") + std::to_string(timeout_.count()) + " ms waiting for " +
           what);
    }
    char data[64 << 10];
    ssize_t n = ::recv(fd_, data, sizeof(data), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == ECONNRESET) return false;
    if (n < 0) Fail(std::string("recv: ") + std::strerror(errno));
    if (n == 0) return false;
    buffer_.append(data, static_cast<size_t>(n));
    return true;
  }
}

std::string TestHttpClient::ReadLine(Clock::time_point deadline, const char* what) {
  size_t eol;
  while ((eol = buffer_.find("\r\n")) == std::string::npos) {
    if (!Receive(deadline, what)) Fail(std::string("connection closed while waiting for ") + what);
  }
  std::string line = buffer_.substr(0, eol);
  buffer_.erase(0, eol + 2);
  return line;
}

std::string TestHttpClient::ReadBytes(size_t n, Clock::time_point deadline, const char* what) {
  while (buffer_.size() < n) {
    if (!Receive(deadline, what)) Fail(std::string("connection closed while waiting for ") + what);
  }
  std::string bytes = buffer_.substr(0, n);
  buffer_.erase(0, n);
  return bytes;
}

TestHttpResponse TestHttpClient::ReadResponseHead(bool interim) {
  const auto deadline = Deadline();
  for (;;) {
    TestHttpResponse response;
    std::string status_line = ReadLine(deadline, "a response status line");
    // "HTTP/1.1 200 OK"
    if (status_line.size() < 12 || status_line.compare(0, 7, "HTTP/1.") != 0 ||
        status_line[8] != ' ') {
      Fail("malformed status line \"" + status_line + "\"");
    }
    response.status = std::atoi(status_line.substr(9, 3).c_str());
    for (;;) {
      std::string line = ReadLine(deadline, "response headers");
      if (line.empty()) break;
      size_t colon = line.find(':');
      if (colon == std::string::npos) Fail("malformed header line \"" + line + "\"");
      response.headers.emplace_back(line.substr(0, colon),
                                    std::string(Trim(std::string_view(line).substr(colon + 1))));
    }
    if (response.status >= 100 && response.status < 200) {
      if (interim) return response;
      continue;
    }
    const bool head = !head_requests_.empty() && head_requests_.front();
    if (!head_requests_.empty()) head_requests_.pop_front();
    const std::string length = response.Header("Content-Length");
    if (head || response.status == 204 || response.status == 304) {
      body_mode_ = BodyMode::kNone;
    } else if (EqualsIgnoreCase(Trim(response.Header("Transfer-Encoding")), "chunked")) {
      body_mode_ = BodyMode::kChunked;
    } else if (!length.empty()) {
      body_mode_ = BodyMode::kLength;
      body_left_ = std::stoull(length);
    } else {
      body_mode_ = BodyMode::kUntilClose;
    }
    return response;
  }
}

std::optional<std::string> TestHttpClient::ReadChunk() {
  const auto deadline = Deadline();
  switch (body_mode_) {
    case BodyMode::kNone:
      return std::nullopt;
    case BodyMode::kLength: {
      if (body_left_ == 0) {
        body_mode_ = BodyMode::kNone;
        return std::nullopt;
      }
      if (buffer_.empty() && !Receive(deadline, "the response body")) {
        Fail("connection closed before the end of the Content-Length body");
      }
      size_t n = std::min(body_left_, buffer_.size());
      std::string data = buffer_.substr(0, n);
      buffer_.erase(0, n);
      body_left_ -= n;
      return data;
    }
    case BodyMode::kChunked: {
      std::string size_line = ReadLine(deadline, "a chunk-size line");
      size_t size = 0;
      try {
        size = std::stoull(size_line.substr(0, size_line.find(';')), nullptr, 16);
      } catch (const std::exception&) {
        Fail("malformed chunk-size line \"" + size_line + "\"");
      }
      if (size == 0) {
        while (!ReadLine(deadline, "the end of the chunked body").empty()) {
        }
        body_mode_ = BodyMode::kNone;
        return std::nullopt;
      }
      std::string data = ReadBytes(size, deadline, "a chunk");
      if (ReadBytes(2, deadline, "the CRLF after a chunk") != "\r\n") {
        Fail("chunk of " + std::to_string(size) + " bytes not followed by CRLF");
      }
      return data;
    }
    case BodyMode::kUntilClose: {
      if (buffer_.empty() && !Receive(deadline, "the response body")) {
        body_mode_ = BodyMode::kNone;
        return std::nullopt;
      }
      std::string data = std::move(buffer_);
      buffer_.clear();
      return data;
    }
  }
  return std::nullopt;
}

TestHttpResponse TestHttpClient::ReadResponse() {
  TestHttpResponse response = ReadResponseHead();
  while (auto chunk = ReadChunk()) response.body += *chunk;
  return response;
}

bool TestHttpClient::WaitClosed(std::chrono::milliseconds timeout) {
  if (fd_ < 0) return true;
  const auto deadline = Clock::now() + timeout;
  buffer_.clear();
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    char data[16 << 10];
    ssize_t n = ::recv(fd_, data, sizeof(data), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;
  }
}

}  // namespace aurora::testing
