#pragma once
// Command-line options of the `aurora` subcommands: flags > environment (AURORA_<FLAG> with
// dashes as underscores, e.g. AURORA_DATA_DIR) > defaults. Every option is declared with its help
// text, so `--help` documents all of them. Not thread-safe (used from main only).

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace aurora::node {

struct OptionSpec {
  OptionSpec(std::string name, std::string value_name, std::string default_value, std::string help,
             std::optional<std::string> implicit_value = std::nullopt)
      : name(std::move(name)),
        value_name(std::move(value_name)),
        default_value(std::move(default_value)),
        help(std::move(help)),
        implicit_value(std::move(implicit_value)) {}

  std::string name;           // without dashes, e.g. "data-dir"
  std::string value_name;     // "DIR"; empty for a boolean flag
  std::string default_value;  // shown in --help
  std::string help;
  // For a flag whose value may be omitted (e.g. --demo [PATH]): the value when omitted.
  std::optional<std::string> implicit_value;
};

class ParsedOptions {
 public:
  // The effective value (flag, environment or default).
  const std::string& Get(const std::string& name) const;
  bool Has(const std::string& name) const;   // given by flag or environment
  bool Flag(const std::string& name) const;  // boolean flag
  absl::StatusOr<int> GetInt(const std::string& name, int min, int max) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  friend class CommandLine;
  std::map<std::string, std::string> values_;
  std::map<std::string, bool> given_;
  std::vector<std::string> positional_;
};

class CommandLine {
 public:
  CommandLine(std::string command, std::string usage, std::string description,
              std::vector<OptionSpec> options);
  // Parses argv after the subcommand. INVALID_ARGUMENT names an unknown option or a missing
  // value; a --help request returns an empty optional (print Help()).
  absl::StatusOr<std::optional<ParsedOptions>> Parse(const std::vector<std::string>& args) const;
  std::string Help() const;

 private:
  const OptionSpec* Find(const std::string& name) const;
  std::string command_, usage_, description_;
  std::vector<OptionSpec> options_;
};

}  // namespace aurora::node
