// Shared helpers of the host tests: where the built plugins are, temp folders, and running
// the genlab executable as a user would.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

extern char** environ;

namespace genlab::test {

namespace fs = std::filesystem;

inline fs::path test_plugin(const std::string& name) { return fs::path(GENLAB_TEST_PLUGIN_DIR) / name; }
inline fs::path builtin_plugin(const std::string& name) { return fs::path(GENLAB_BUILTIN_PLUGIN_DIR) / name; }
inline fs::path source_dir() { return fs::path(GENLAB_SOURCE_DIR); }

// The library file inside a built plugin folder (libgenlab_<name>.so).
inline fs::path library_of(const fs::path& folder) {
  return folder / ("libgenlab_" + folder.filename().string() + ".so");
}

// A fresh folder under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("genlab-test-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path write(const std::string& name, const std::string& text) const {
    const fs::path file = path_ / name;
    fs::create_directories(file.parent_path());
    std::ofstream(file) << text;
    return file;
  }

 private:
  fs::path path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `genlab ARGS` through the shell, capturing both streams.
inline CommandResult run_genlab(const std::string& args, const std::string& env = "") {
  const std::string command = env + (env.empty() ? "" : " ") + "'" GENLAB_EXECUTABLE "' " + args + " 2>&1";
  CommandResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

// Starts `genlab ARGS` in the background, both streams into `output`; returns its pid
// (for tests that kill it).
inline pid_t spawn_genlab(const std::vector<std::string>& args, const fs::path& output) {
  std::vector<std::string> all = {GENLAB_EXECUTABLE};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

}  // namespace genlab::test

namespace genlab::test {

inline std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace genlab::test
