#pragma once
// The response metadata by which a service shapes the gateway's HTTP answer:
//   x-aurora-http-status    (initial or trailing metadata of a successful call with one
//                           response; trailing wins) the HTTP status instead of 200: 200-399
//   x-aurora-http-location  (likewise) the Location header, sent only with a 3xx status; no
//                           control characters
//   retry-after             (trailing metadata of a RESOURCE_EXHAUSTED or UNAVAILABLE error)
//                           Retry-After seconds instead of 1: a whole number from 0 to 3600
// The body stays the transcoded response. A value that cannot be used is ignored with a warning
// for the log. These keys steer the answer only: the gateway never takes them from HTTP request
// headers, and no other response metadata becomes an HTTP header. Pure functions; thread-safe.

#include <string>
#include <string_view>
#include <vector>

namespace aurora::gateway {

inline constexpr char kHttpStatusMetadata[] = "x-aurora-http-status";
inline constexpr char kHttpLocationMetadata[] = "x-aurora-http-location";
inline constexpr char kRetryAfterMetadata[] = "retry-after";

// True for the keys above (lowercase, as gRPC metadata keys are).
bool IsResponseControlMetadata(std::string_view key);

// The status line and Location of a successful answer.
struct SuccessHead {
  int status = 200;
  std::string location;  // empty: no Location header
};

// From the service's values (null: not set); each value ignored adds a line to *warnings.
SuccessHead SuccessHeadFromMetadata(const std::string* status, const std::string* location,
                                    std::vector<std::string>* warnings);

// The Retry-After seconds for the service's retry-after value: `fallback` when it is null, and
// when it is not a whole number from 0 to 3600 (then with *warning set).
int RetryAfterFromMetadata(const std::string* value, int fallback, std::string* warning);

}  // namespace aurora::gateway
