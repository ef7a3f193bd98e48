// An experiment in a fresh folder, run through the genlab command: its manifest, its run
// folders, their states and results (tests of the scheduler and of evaluation during training).
#pragma once

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>

#include "catch.hpp"
#include "genlab/core/workspace.hpp"
#include "support.hpp"

namespace genlab::test {

namespace fs = std::filesystem;

// A manifest in a fresh folder whose workspace is inside it.
struct ExperimentDir {
  TempDir dir;
  fs::path manifest;
  explicit ExperimentDir(const std::string& body, const std::string& name = "exp") {
    manifest =
        dir.write("m.toml", "[experiment]\nname = \"" + name + "\"\nworkspace = \"" + (dir.path() / "ws").string() +
                                "\"\nplugin_paths = [\"" GENLAB_TEST_PLUGIN_DIR "\"]\n" + body);
  }
  fs::path folder() const { return dir.path() / "ws" / "exp"; }
  // The only run folder whose name starts with `run`.
  fs::path run(const std::string& run) const {
    for (const auto& e : fs::directory_iterator(folder() / "runs"))
      if (e.path().filename().string().rfind(run + "--", 0) == 0) return e.path();
    FAIL("no run folder for " << run);
    return {};
  }
  std::string state(const std::string& run_name, genlab::NodeKind kind) const {
    fs::path dir = run(run_name);
    if (kind == genlab::NodeKind::Evaluate)
      for (const auto& e : fs::directory_iterator(dir))
        if (e.is_directory() && e.path().filename().string().rfind("eval-", 0) == 0) dir = e.path();
    auto t = genlab::read_toml(genlab::state_file(dir, kind));
    return t ? (*t)["state"].value_or(std::string("?")) + ": " + (*t)["reason"].value_or(std::string()) : "no state";
  }
  std::string results(const std::string& run_name) const {
    for (const auto& e : fs::directory_iterator(run(run_name)))
      if (e.is_directory() && fs::exists(e.path() / "results.json")) return read_text(e.path() / "results.json");
    return {};
  }
};

// The metric values of a results.json, without the cost.* timings (which differ run to run).
inline std::string metric_lines(const std::string& results) {
  std::string out;
  std::istringstream in(results);
  std::string line;
  bool in_metrics = false;
  while (std::getline(in, line)) {
    if (line.find("\"metrics\"") != std::string::npos) in_metrics = true;
    else if (in_metrics && line.find('}') != std::string::npos) in_metrics = false;
    else if (in_metrics && line.find("cost.") == std::string::npos) out += line + "\n";
  }
  return out;
}

inline size_t count_lines(const fs::path& file) {
  std::ifstream in(file);
  return static_cast<size_t>(std::count(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), '\n'));
}

// The file `relative` of the experiment's (last) run folder once it has at least `lines`
// lines, waiting up to `seconds` while a run writes it; the path either way.
inline fs::path wait_for_lines(const ExperimentDir& e, const fs::path& relative, size_t lines, int seconds = 60) {
  fs::path file;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    std::error_code ec;
    for (const auto& d : fs::directory_iterator(e.folder() / "runs", ec)) file = d.path() / relative;
    if (!file.empty() && fs::exists(file) && count_lines(file) >= lines) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return file;
}

// 2-D points, a Gaussian mixture and the MMD: the experiment the run tests train.
inline const char* const kRingGmmMmd = R"(
[datasets.ring]
plugin = "example-toy2d"
train_size = 512
test_size = 128
[metrics.mmd]
plugin = "example-mmd"
bandwidth = 0.3
[models.gmm]
plugin = "example-gmm"
)";

}  // namespace genlab::test
