#pragma once
// The command line of the benchmarks: options "--name value" or "--name=value", flags without a
// value, --help / -h. Every benchmark reads its options with this so that they all accept the same
// forms and answer a bad value with the same messages:
//
//   ArgReader args(argc, argv, kUsage);
//   while (args.Next()) {
//     if (args.option() == "--breakdown") { options->breakdown = true; continue; }
//     if (!args.TakeValue()) return false;
//     if (args.option() == "--clients") {
//       if (!args.Integer(1, 1024, &options->clients)) return false;
//     } else if (args.option() == "--data-dir") {
//       options->data_dir = args.value();
//     } else {
//       return args.Unknown();
//     }
//   }
//
// Errors go to stderr; a benchmark's main() then exits with 64 (EX_USAGE).

#include <cstdint>
#include <string>

namespace aurora::bench {

class ArgReader {
 public:
  // `usage` is printed for --help and after the errors that say nothing about the value.
  ArgReader(int argc, char** argv, const char* usage) : argc_(argc), argv_(argv), usage_(usage) {}

  // Moves to the next option; false when there is none left. On --help or -h prints the usage to
  // stdout and exits the process with 0, wherever it stands on the command line (but not where an
  // option's value is expected: "--data-dir --help" names a folder).
  bool Next();

  // The option as given, up to an '=' once TakeValue() has split "--name=value".
  const std::string& option() const { return option_; }

  // The option's value: after "=", else the next argument (which is then consumed). False, with
  // "<option>: a value is required" and the usage on stderr, when the option is the last argument.
  // An option that takes no value is tested before this, so that "--flag=x" is an unknown option.
  bool TakeValue();
  const std::string& value() const { return value_; }

  // The value as an integer in [low, high] (converted to T), or false with "<option>: expected an
  // integer in <low>..<high>, got "<value>"" on stderr; `*out` is then unchanged.
  template <typename T>
  bool Integer(int64_t low, int64_t high, T* out) const {
    int64_t number = 0;
    if (!ParseInteger(low, high, &number)) return false;
    *out = static_cast<T>(number);
    return true;
  }

  // The value as a number of seconds (a decimal number) in [low, high], or false with "<option>:
  // expected seconds in <low>..<high>, got "<value>"" on stderr; `*out` is then unchanged.
  bool Seconds(double low, double high, double* out) const;

  // The argument after the current one, not consumed (for an option whose value is optional), or
  // nullptr at the end; Skip() consumes it.
  const char* Peek() const { return next_ < argc_ ? argv_[next_] : nullptr; }
  void Skip() { ++next_; }

  // Reports the current option as unknown, with the usage, on stderr. Returns false.
  bool Unknown() const;

 private:
  bool ParseInteger(int64_t low, int64_t high, int64_t* number) const;

  int argc_;
  char** argv_;
  const char* usage_;
  int next_ = 1;  // the argument Next() reads
  std::string option_;
  std::string value_;
};

}  // namespace aurora::bench
