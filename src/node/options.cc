#include "node/options.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace aurora::node {
namespace {

std::string EnvName(const std::string& option) {
  return absl::StrCat("AURORA_", absl::AsciiStrToUpper(absl::StrReplaceAll(option, {{"-", "_"}})));
}

}  // namespace

const std::string& ParsedOptions::Get(const std::string& name) const {
  static const std::string kEmpty;
  auto it = values_.find(name);
  return it == values_.end() ? kEmpty : it->second;
}

bool ParsedOptions::Has(const std::string& name) const {
  auto it = given_.find(name);
  return it != given_.end() && it->second;
}

bool ParsedOptions::Flag(const std::string& name) const {
  const std::string& value = Get(name);
  return value == "true" || value == "1" || value == "yes";
}

absl::StatusOr<int> ParsedOptions::GetInt(const std::string& name, int min, int max) const {
  int value = 0;
  if (!absl::SimpleAtoi(Get(name), &value) || value < min || value > max) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, ": expected an integer from ", min,
                                                   " to ", max, ", got \"", Get(name), "\""));
  }
  return value;
}

CommandLine::CommandLine(std::string command, std::string usage, std::string description,
                         std::vector<OptionSpec> options)
    : command_(std::move(command)),
      usage_(std::move(usage)),
      description_(std::move(description)),
      options_(std::move(options)) {}

const OptionSpec* CommandLine::Find(const std::string& name) const {
  for (const auto& option : options_) {
    if (option.name == name) return &option;
  }
  return nullptr;
}

absl::StatusOr<std::optional<ParsedOptions>> CommandLine::Parse(
    const std::vector<std::string>& args) const {
  ParsedOptions parsed;
  for (const auto& option : options_) {
    parsed.values_[option.name] = option.default_value;
    if (const char* env = std::getenv(EnvName(option.name).c_str())) {
      parsed.values_[option.name] = option.value_name.empty() && *env == '\0' ? "true" : env;
      parsed.given_[option.name] = true;
    }
  }
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") return std::optional<ParsedOptions>();
    if (arg.rfind("--", 0) != 0 || arg == "--") {
      parsed.positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    const OptionSpec* spec = Find(name);
    if (spec == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("aurora ", command_, ": unknown option --",
                                                     name, " (see aurora ", command_, " --help)"));
    }
    if (spec->value_name.empty()) {  // boolean
      parsed.values_[name] = has_value ? value : "true";
    } else if (has_value) {
      parsed.values_[name] = value;
    } else if (i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0) {
      parsed.values_[name] = args[++i];
    } else if (spec->implicit_value) {
      parsed.values_[name] = *spec->implicit_value;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("aurora ", command_, ": option --", name,
                                                     " needs a value (", spec->value_name, ")"));
    }
    parsed.given_[name] = true;
  }
  return std::optional<ParsedOptions>(std::move(parsed));
}

std::string CommandLine::Help() const {
  std::string out = absl::StrCat("Usage: aurora ", command_, " ", usage_, "\n\n", description_,
                                 "\n\nOptions (each can also be set in the environment as "
                                 "AURORA_<OPTION>, e.g. AURORA_DATA_DIR):\n");
  for (const auto& option : options_) {
    std::string left = absl::StrCat("  --", option.name);
    if (!option.value_name.empty()) {
      absl::StrAppend(&left, option.implicit_value ? absl::StrCat(" [", option.value_name, "]")
                                                   : absl::StrCat(" ", option.value_name));
    }
    if (left.size() < 34) left.resize(34, ' ');
    absl::StrAppend(&out, left, " ", option.help);
    if (!option.default_value.empty() && !option.value_name.empty()) {
      absl::StrAppend(&out, " (default: ", option.default_value, ")");
    }
    absl::StrAppend(&out, "\n");
  }
  absl::StrAppend(&out, "  --help                             show this help\n");
  return out;
}

}  // namespace aurora::node
