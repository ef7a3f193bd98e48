// `genlab status` and the dashboard's run list: the runs of a workspace, read from their
// folders (states, progress, time, the reason of a failure), whether or not a host is
// running them.
#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <sstream>

#include "genlab/core/executor.hpp"
#include "genlab/core/scheduler.hpp"
#include "genlab/util/error.hpp"
#include "genlab/util/files.hpp"

namespace genlab {
namespace fs = std::filesystem;

namespace {

// A node's state and its state file. A Slurm job runs without a host; a local "running"
// state whose lock is free belongs to a host that died: interrupted.
std::pair<std::string, toml::table> node_state(const fs::path& dir, NodeKind kind) {
  if (fs::exists(done_file(dir, kind))) return {"finished", read_toml(state_file(dir, kind)).value_or(toml::table{})};
  auto s = read_toml(state_file(dir, kind));
  if (!s) return {"pending", {}};
  std::string state = (*s)["state"].value_or(std::string("?"));
  if (auto job = (*s)["slurm_job"].value<std::string>(); job && state == "running") {
    state = "slurm " + *job;
  } else if (state == "running") {
    FolderLock probe(dir);
    if (probe.try_acquire()) state = "interrupted";
  }
  return {state, *s};
}

}  // namespace

std::vector<fs::path> experiment_folders(const fs::path& workspace) {
  if (!fs::is_directory(workspace)) throw HostError(workspace.string() + ": no such workspace");
  std::vector<fs::path> experiments;
  for (const auto& entry : fs::directory_iterator(workspace))
    if (fs::is_directory(entry.path() / "runs")) experiments.push_back(entry.path());
  std::sort(experiments.begin(), experiments.end());
  return experiments;
}

RunStatus run_status(const fs::path& run) {
  RunStatus s;
  const std::string folder = run.filename().string();
  s.name = folder.substr(0, folder.rfind("--"));
  toml::table train_state, eval_state;
  std::tie(s.train, train_state) = node_state(run, NodeKind::Train);
  s.evaluate = "pending";
  for (const auto& entry : fs::directory_iterator(run))
    if (entry.is_directory() && entry.path().filename().string().rfind("eval-", 0) == 0)
      std::tie(s.evaluate, eval_state) = node_state(entry.path(), NodeKind::Evaluate);
  if (auto done = read_toml(done_file(run, NodeKind::Train))) {
    s.step = (*done)["steps"].value_or(int64_t{0});
  } else {
    const std::string last = last_lines(run / "losses.jsonl", 1);
    // A torn or garbled last line (a kill -9 mid-write, a hand edit) shows no step, and
    // never stops the listing of the other runs.
    long long step = -1;
    if (last.rfind("{\"step\":", 0) == 0 && std::sscanf(last.c_str() + 8, "%lld", &step) == 1 && step >= 0)
      s.step = step + 1;
  }
  s.seconds = train_state["seconds"].value_or(0.0) + eval_state["seconds"].value_or(0.0);
  s.updated = train_state["updated"].value_or(int64_t{0});
  s.reason = train_state["reason"].value_or(eval_state["reason"].value_or(std::string()));
  s.log_tail = train_state["log_tail"].value_or(eval_state["log_tail"].value_or(std::string()));
  return s;
}

std::string workspace_status(const fs::path& workspace) {
  std::ostringstream out;
  out << std::left << std::setw(44) << "RUN" << std::setw(13) << "TRAIN" << std::setw(13) << "EVALUATE" << std::setw(16)
      << "PROGRESS" << std::setw(10) << "TIME"
      << "REASON\n";
  for (const auto& folder : experiment_folders(workspace)) {
    out << folder.filename().string() << "/\n";
    std::vector<fs::path> runs;
    for (const auto& entry : fs::directory_iterator(folder / "runs")) runs.push_back(entry.path());
    std::sort(runs.begin(), runs.end());
    for (const auto& run : runs) {
      const RunStatus s = run_status(run);
      std::string progress;
      if (s.step >= 0)
        progress = s.train == "finished" ? std::to_string(s.step) + " steps" : "step " + std::to_string(s.step);
      out << "  " << std::left << std::setw(42) << s.name << std::setw(13) << s.train << std::setw(13) << s.evaluate
          << std::setw(16) << progress << std::setw(10) << (s.seconds > 0 ? format_duration(s.seconds) : "") << s.reason
          << "\n";
    }
  }
  return out.str();
}

}  // namespace genlab
