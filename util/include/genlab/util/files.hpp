// Files that survive a kill -9 at any moment: written to a temporary beside the target,
// flushed to disk, then renamed over it, so a reader sees the old file or the new one,
// never half of one. And an advisory lock per folder, so two hosts never run one run.
#pragma once

#include <filesystem>
#include <string>

namespace genlab {

// Durable: flushed to the disk before the rename (and the rename too), so it survives a
// power cut. Atomic only: survives a kill -9 (the kernel has the bytes) but not a power cut;
// for files that are rewritten anyway (states, summaries), a few ms cheaper each.
enum class Durability { Durable, AtomicOnly };

// Replaces `file` with `contents` atomically. Throws HostError naming the file (the old
// file, if any, is left as it was).
void write_file_atomic(const std::filesystem::path& file, const std::string& contents,
                       Durability durability = Durability::Durable);

// The whole file; throws HostError naming it if it cannot be read.
std::string read_file(const std::filesystem::path& file);

// Why `name` cannot be one component of a path in a workspace ("" when it can): a name
// that becomes a folder or file name (an experiment, model, dataset, metric, alias) holds
// letters, digits, '_', '-' and '.', does not start with '.', and has 1 to 128 characters:
// so never "..", "/", an absolute path, a control character, "" or ".".
std::string path_name_problem(const std::string& name);

// Whether `folder` can be created and written to (creating nothing); the reason when not.
std::string check_writable(const std::filesystem::path& folder);

// An exclusive flock on `folder`/.lock, held while the object lives. try_acquire() is false
// when another process holds it.
class FolderLock {
 public:
  explicit FolderLock(const std::filesystem::path& folder);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;
  bool try_acquire();

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  bool held_ = false;
};

}  // namespace genlab
