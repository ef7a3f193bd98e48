// `genlab status`: the runs of a workspace, read from their folders (states, progress, time,
// the reason of a failure), whether or not a host is running them.
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

std::string workspace_status(const fs::path& workspace) {
  if (!fs::is_directory(workspace)) throw HostError(workspace.string() + ": no such workspace");
  std::ostringstream out;
  out << std::left << std::setw(44) << "RUN" << std::setw(13) << "TRAIN" << std::setw(13) << "EVALUATE" << std::setw(16)
      << "PROGRESS" << std::setw(10) << "TIME"
      << "REASON\n";
  std::vector<fs::path> experiments;
  for (const auto& entry : fs::directory_iterator(workspace))
    if (fs::is_directory(entry.path() / "runs")) experiments.push_back(entry.path());
  std::sort(experiments.begin(), experiments.end());
  for (const auto& folder : experiments) {
    out << folder.filename().string() << "/\n";
    std::vector<fs::path> runs;
    for (const auto& entry : fs::directory_iterator(folder / "runs")) runs.push_back(entry.path());
    std::sort(runs.begin(), runs.end());
    for (const auto& run : runs) {
      auto state_of = [](const fs::path& dir, NodeKind kind) -> std::pair<std::string, toml::table> {
        if (fs::exists(done_file(dir, kind)))
          return {"finished", read_toml(state_file(dir, kind)).value_or(toml::table{})};
        auto s = read_toml(state_file(dir, kind));
        if (!s) return {"pending", {}};
        std::string state = (*s)["state"].value_or(std::string("?"));
        // A Slurm job runs without a host; a local "running" state whose lock is free
        // belongs to a host that died: interrupted.
        if (auto job = (*s)["slurm_job"].value<std::string>(); job && state == "running") {
          state = "slurm " + *job;
        } else if (state == "running") {
          FolderLock probe(dir);
          if (probe.try_acquire()) state = "interrupted";
        }
        return {state, *s};
      };
      auto [train, train_state] = state_of(run, NodeKind::Train);
      std::string eval = "pending";
      toml::table eval_state;
      for (const auto& entry : fs::directory_iterator(run))
        if (entry.is_directory() && entry.path().filename().string().rfind("eval-", 0) == 0)
          std::tie(eval, eval_state) = state_of(entry.path(), NodeKind::Evaluate);
      std::string progress;
      if (auto done = read_toml(done_file(run, NodeKind::Train))) {
        progress = std::to_string((*done)["steps"].value_or(int64_t{0})) + " steps";
      } else {
        const std::string last = last_lines(run / "losses.jsonl", 1);
        // A torn or garbled last line (a kill -9 mid-write, a hand edit) shows no step, and
        // never stops the listing of the other runs.
        long long step = -1;
        if (last.rfind("{\"step\":", 0) == 0 && std::sscanf(last.c_str() + 8, "%lld", &step) == 1 && step >= 0)
          progress = "step " + std::to_string(step + 1);
      }
      const double seconds = train_state["seconds"].value_or(0.0) + eval_state["seconds"].value_or(0.0);
      std::string reason = train_state["reason"].value_or(eval_state["reason"].value_or(std::string()));
      const std::string name = run.filename().string().substr(0, run.filename().string().rfind("--"));
      out << "  " << std::left << std::setw(42) << name << std::setw(13) << train << std::setw(13) << eval
          << std::setw(16) << progress << std::setw(10) << (seconds > 0 ? format_duration(seconds) : "") << reason
          << "\n";
    }
  }
  return out.str();
}

}  // namespace genlab
