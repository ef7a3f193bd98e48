// `genlab plugins check PATH`: the conformance checker a plugin author runs on their build.
// It loads the plugin in a child process (a crash fails the check, not the checker) and
// exercises every call: describe, create/destroy, each call's error path, state round trip,
// DLPack ownership (every deleter called exactly once, borrowed tensors never freed) and
// struct sizes.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace genlab {

struct CheckItem {
  std::string name;
  bool passed = false;
  std::string detail;
};

struct CheckOptions {
  // A dataset plugin to feed a model or metric under test; empty: the first discovered
  // dataset whose modality the plugin serves.
  std::string dataset;
  std::vector<std::filesystem::path> plugin_paths;  // extra roots for finding that dataset
};

// PATH is a plugin folder (with plugin.toml) or a library file.
std::vector<CheckItem> check_plugin(const std::filesystem::path& path, const CheckOptions& options);

}  // namespace genlab
