#include "genlab/util/files.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "genlab/util/error.hpp"

namespace genlab {
namespace fs = std::filesystem;

void write_file_atomic(const fs::path& file, const std::string& contents, Durability durability) {
  const fs::path temporary = file.string() + ".tmp." + std::to_string(getpid());
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw HostError(file.string() + ": cannot write: " + std::strerror(errno));
  size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string reason = std::strerror(errno);
      ::close(fd);
      ::unlink(temporary.c_str());
      throw HostError(file.string() + ": cannot write: " + reason + " (the previous version is kept)");
    }
    done += static_cast<size_t>(n);
  }
  if ((durability == Durability::Durable && ::fsync(fd) != 0) || ::close(fd) != 0) {
    const std::string reason = std::strerror(errno);
    ::unlink(temporary.c_str());
    throw HostError(file.string() + ": cannot flush: " + reason + " (the previous version is kept)");
  }
  if (::rename(temporary.c_str(), file.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    ::unlink(temporary.c_str());
    throw HostError(file.string() + ": cannot replace: " + reason);
  }
  if (durability == Durability::AtomicOnly) return;
  // The rename itself must reach the disk too.
  const int dir = ::open(file.parent_path().empty() ? "." : file.parent_path().c_str(), O_RDONLY | O_DIRECTORY);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw HostError(file.string() + ": cannot read");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string path_name_problem(const std::string& name) {
  if (name.empty()) return "it is empty";
  if (name.size() > 128) return "it is longer than 128 characters";
  if (name[0] == '.') return "it starts with '.'";
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '_' || c == '-' || c == '.') continue;
    if (c == '/') return "it holds '/'";
    if (u < 0x20 || u == 0x7f) return "it holds a control character";
    return std::string("it holds '") + c + "'";
  }
  return "";
}

std::string check_writable(const fs::path& folder) {
  // Creates nothing: the nearest folder that exists must be a writable directory.
  fs::path probe = fs::absolute(folder);
  std::error_code ec;
  while (!fs::exists(probe, ec) && probe.has_parent_path() && probe != probe.parent_path()) probe = probe.parent_path();
  if (!fs::is_directory(probe, ec)) return probe.string() + " is not a directory";
  // access(W_OK) says yes to root almost everywhere (even /proc): try a file instead.
  const fs::path file = probe / (".genlab-write-test." + std::to_string(getpid()));
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return std::string("cannot write in ") + probe.string() + ": " + std::strerror(errno);
  ::close(fd);
  ::unlink(file.c_str());
  return {};
}

FolderLock::FolderLock(const fs::path& folder) : path_(folder / ".lock") {}

FolderLock::~FolderLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

bool FolderLock::try_acquire() {
  if (held_) return true;
  if (fd_ < 0) fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw HostError(path_.string() + ": cannot open lock file: " + std::strerror(errno));
  held_ = ::flock(fd_, LOCK_EX | LOCK_NB) == 0;
  return held_;
}

}  // namespace genlab
