#include "common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/text.h"

namespace aurora {

absl::Status WriteFileAtomically(const std::string& path, const std::string& content, mode_t mode) {
  // A temporary name of its own (O_EXCL), so that two writers never share a half-written file.
  const std::string temp = absl::StrCat(path, ".tmp-", NewRandomUuid().substr(0, 8));
  const auto failure = [&](const char* step) {
    const int error = errno;
    ::unlink(temp.c_str());
    return absl::UnavailableError(
        absl::StrCat("cannot write ", path, " (", step, "): ", std::strerror(error)));
  };
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return failure("open");
  if (::fchmod(fd, mode) != 0) {
    ::close(fd);
    return failure("fchmod");
  }
  size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return failure("write");
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    return failure("fsync");
  }
  if (::close(fd) != 0) return failure("close");
  if (std::rename(temp.c_str(), path.c_str()) != 0) return failure("rename");
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    return absl::UnavailableError(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return absl::UnavailableError(absl::StrCat("cannot read ", path));
  return out.str();
}

}  // namespace aurora
