#include "bench/bench_args.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/numbers.h"

namespace aurora::bench {

bool ArgReader::Next() {
  if (next_ >= argc_) return false;
  option_ = argv_[next_++];
  value_.clear();
  if (option_ == "--help" || option_ == "-h") {
    std::fputs(usage_, stdout);
    std::exit(0);
  }
  return true;
}

bool ArgReader::TakeValue() {
  if (const size_t eq = option_.find('='); eq != std::string::npos) {
    value_ = option_.substr(eq + 1);
    option_.resize(eq);
    return true;
  }
  if (next_ < argc_) {
    value_ = argv_[next_++];
    return true;
  }
  std::fprintf(stderr, "%s: a value is required\n%s", option_.c_str(), usage_);
  return false;
}

bool ArgReader::ParseInteger(int64_t low, int64_t high, int64_t* number) const {
  if (absl::SimpleAtoi(value_, number) && *number >= low && *number <= high) return true;
  std::fprintf(stderr, "%s: expected an integer in %lld..%lld, got \"%s\"\n", option_.c_str(),
               static_cast<long long>(low), static_cast<long long>(high), value_.c_str());
  return false;
}

bool ArgReader::Seconds(double low, double high, double* out) const {
  double seconds = 0;
  if (absl::SimpleAtod(value_, &seconds) && seconds >= low && seconds <= high) {
    *out = seconds;
    return true;
  }
  std::fprintf(stderr, "%s: expected seconds in %g..%g, got \"%s\"\n", option_.c_str(), low, high,
               value_.c_str());
  return false;
}

bool ArgReader::Unknown() const {
  std::fprintf(stderr, "unknown option %s\n%s", option_.c_str(), usage_);
  return false;
}

}  // namespace aurora::bench
