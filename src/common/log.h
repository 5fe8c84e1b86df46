#pragma once
// Structured logs: one JSON object per line on stderr with time, level, component, message and
// extra fields (e.g. request_id). Never pass tokens, secrets or attribute values.
//
// Thread-safe: each line is written with one call under a mutex.

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace aurora {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

using LogFields = std::initializer_list<std::pair<std::string_view, std::string>>;

// Lines below `level` are dropped. Default kInfo.
void SetLogLevel(LogLevel level);
// Parses "debug" / "info" / "warning" / "error"; false for anything else.
bool ParseLogLevel(std::string_view name, LogLevel* level);

void Log(LogLevel level, std::string_view component, std::string_view message,
         LogFields fields = {});

inline void LogInfo(std::string_view component, std::string_view message, LogFields fields = {}) {
  Log(LogLevel::kInfo, component, message, fields);
}
inline void LogWarning(std::string_view component, std::string_view message,
                       LogFields fields = {}) {
  Log(LogLevel::kWarning, component, message, fields);
}
inline void LogError(std::string_view component, std::string_view message, LogFields fields = {}) {
  Log(LogLevel::kError, component, message, fields);
}

// `text` as a JSON string literal (with quotes), escaping what JSON requires.
std::string JsonQuote(std::string_view text);

}  // namespace aurora
