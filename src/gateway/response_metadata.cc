#include "gateway/response_metadata.h"

#include "absl/strings/str_cat.h"
#include "common/text.h"

namespace aurora::gateway {
namespace {

constexpr int kMaxRetryAfterSeconds = 3600;

// `text` as a number when it is 1 to `max_digits` ASCII digits (no sign, no spaces).
bool ParseDigits(std::string_view text, size_t max_digits, int* out) {
  if (text.empty() || text.size() > max_digits) return false;
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  *out = value;
  return true;
}

}  // namespace

bool IsResponseControlMetadata(std::string_view key) {
  return key == kHttpStatusMetadata || key == kHttpLocationMetadata || key == kRetryAfterMetadata;
}

SuccessHead SuccessHeadFromMetadata(const std::string* status, const std::string* location,
                                    std::vector<std::string>* warnings) {
  SuccessHead head;
  if (status != nullptr) {
    int code;
    if (status->size() == 3 && ParseDigits(*status, 3, &code) && code >= 200 && code <= 399) {
      head.status = code;
    } else {
      warnings->push_back(absl::StrCat(kHttpStatusMetadata, " ", QuoteForMessage(*status),
                                       " ignored: not an HTTP status from 200 to 399"));
    }
  }
  if (location == nullptr) return head;
  if (head.status < 300) {
    warnings->push_back(absl::StrCat(kHttpLocationMetadata, " ", QuoteForMessage(*location),
                                     " ignored: the status is ", head.status,
                                     ", and Location goes only with a 3xx status"));
  } else if (location->empty()) {
    warnings->push_back(absl::StrCat(kHttpLocationMetadata, " ignored: empty"));
  } else if (HasControlCharacters(*location, /*allow_newlines=*/false)) {
    warnings->push_back(absl::StrCat(kHttpLocationMetadata, " ", QuoteForMessage(*location),
                                     " ignored: it contains control characters"));
  } else {
    head.location = *location;
  }
  return head;
}

int RetryAfterFromMetadata(const std::string* value, int fallback, std::string* warning) {
  if (value == nullptr) return fallback;
  int seconds;
  if (ParseDigits(*value, 4, &seconds) && seconds <= kMaxRetryAfterSeconds) return seconds;
  *warning =
      absl::StrCat(kRetryAfterMetadata, " ", QuoteForMessage(*value),
                   " ignored: not a whole number of seconds from 0 to ", kMaxRetryAfterSeconds);
  return fallback;
}

}  // namespace aurora::gateway
