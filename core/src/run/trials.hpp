// The trials of [search] as the scheduler runs them (scheduler.cpp owns the nodes): where
// each trial stands in ASHA's rungs, which to promote, which to stop, and whether a CPU
// budget lets a new one begin. docs/search.md says what the user sees; search.hpp holds the
// pure rules (asha_promotions, asha_leader) and the rungs' files.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "genlab/core/executor.hpp"
#include "genlab/core/scheduler.hpp"
#include "genlab/core/search.hpp"

namespace genlab {

using Clock = std::chrono::steady_clock;

// A node of the scheduler's DAG (here because the trials, the display and the scheduler
// all read it).
struct Node {
  NodeResult result;
  std::vector<size_t> deps;
  NodeJob job;
  NodeProgress progress;
  Clock::time_point last_plain_line;
  bool promoted = false;  // a trial of ASHA sent on from a rung: resumes its checkpoint, starts first
};

// A trial of [search]: its train node, the rungs of its run (ASHA's, then its steps; the
// steps alone otherwise) and the metric at those it reached.
struct SearchTrial {
  size_t train = 0;
  std::string group;           // its search group
  std::vector<int64_t> rungs;  // below the end, then the run's steps
  std::vector<double> values;
  std::string direction;
};

class Trials {
 public:
  // `write_state` records a node's state in its folder; `event` tells the user a line.
  Trials(const Experiment& e, std::vector<Node>& nodes, std::function<void(size_t)> write_state,
         std::function<void(const std::string&)> event)
      : e_(e), nodes_(nodes), write_state_(std::move(write_state)), event_(std::move(event)) {}

  // Run `r`'s train node `train` is a trial: where its folder says it stands.
  void add(const RunPlan& r, size_t train);
  // search.budget.cpu_seconds: true (and the trial and its evaluation pruned) when train node
  // `i` is a trial not begun whose group spent its budget.
  bool over_budget(size_t i);
  // ASHA's promotions of every group.
  void promote();
  // Nothing runs and nothing was promoted: the best at each group's highest rung goes on
  // when no trial of the group finished. True when it promoted one.
  bool promote_leaders();
  // The trials still paused: stopped there for good.
  void prune();
  // Train node `i` stopped at its rung.
  void reached_rung(size_t i);
  // Train node `i`, found running (a re-attached Slurm job), runs to its trial's next rung.
  void set_next_rung(size_t i);

 private:
  double group_cpu_seconds(const std::vector<size_t>& members) const;
  std::string rung_text(const SearchTrial& t, size_t rung) const;
  bool lower_is_better(const std::vector<size_t>& group) const;
  void send_on(SearchTrial& t, const std::string& why);

  const Experiment& e_;
  std::vector<Node>& nodes_;
  std::function<void(size_t)> write_state_;
  std::function<void(const std::string&)> event_;
  std::vector<SearchTrial> list_;
  std::map<std::string, std::vector<size_t>> groups_;  // search group -> its trials (in list_)
  std::map<size_t, size_t> trial_of_;                  // a trial's train node -> its index in list_
};

}  // namespace genlab
