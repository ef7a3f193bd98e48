#include "trials.hpp"

#include <algorithm>
#include <sstream>

#include "genlab/core/workspace.hpp"
#include "genlab/util/error.hpp"

namespace genlab {
namespace fs = std::filesystem;

// A trial of [search], where its folder says it is: finished, stopped at its last rung
// (paused until ASHA promotes it), or to start (towards ASHA's first rung).
void Trials::add(const RunPlan& r, size_t train) {
  Node& n = nodes_[train];
  SearchTrial t;
  t.train = train;
  t.group = r.search_group;
  t.rungs = e_.search.rungs(r.settings.budget.steps);
  const TrialRungs reached = read_trial_rungs(n.result.dir, {t.rungs.begin(), t.rungs.end() - 1}, e_.search.metric);
  t.values = reached.values;
  t.direction = reached.direction;
  if (n.result.state == NodeState::Pending) {
    if (!reached.problem.empty()) {
      n.result.state = NodeState::Failed;
      n.result.reason = reached.problem;
    } else if (!t.values.empty()) {
      n.result.state = NodeState::Paused;
      n.result.reason = rung_text(t, t.values.size() - 1);
    } else {
      n.job.until = t.rungs.size() > 1 ? t.rungs.front() : 0;
    }
  }
  groups_[r.search_group].push_back(list_.size());
  trial_of_[train] = list_.size();
  list_.push_back(std::move(t));
}

// The training CPU seconds a group's trials spent so far, from their folders.
double Trials::group_cpu_seconds(const std::vector<size_t>& members) const {
  double sum = 0;
  for (size_t t : members) {
    const fs::path& dir = nodes_[list_[t].train].result.dir;
    if (const auto done = read_toml(done_file(dir, NodeKind::Train))) {
      sum += (*done)["cpu_seconds"].value_or(0.0);
    } else {
      const auto& rungs = list_[t].rungs;
      sum += read_trial_rungs(dir, {rungs.begin(), rungs.end() - 1}, e_.search.metric).cpu_seconds;
    }
  }
  return sum;
}

// search.budget.cpu_seconds: a trial not begun when its group has spent the budget is
// not begun at all (it and its evaluation end "pruned", saying so).
bool Trials::over_budget(size_t i) {
  const auto it = trial_of_.find(i);
  if (e_.search.cpu_seconds <= 0 || it == trial_of_.end()) return false;
  Node& n = nodes_[i];
  const SearchTrial& t = list_[it->second];
  if (n.promoted || !t.values.empty() || fs::exists(checkpoint_file(n.result.dir))) return false;  // begun
  const auto& members = groups_.at(t.group);
  const double spent = group_cpu_seconds(members);
  if (spent < e_.search.cpu_seconds) return false;
  std::ostringstream why;
  why << "not begun: its search spent its budget (" << spent << " of " << e_.search.cpu_seconds
      << " training CPU seconds)";
  for (size_t node : {i, i + 1}) {  // the training, and the evaluation add_run added after it
    nodes_[node].result.state = NodeState::Pruned;
    nodes_[node].result.reason = why.str();
    write_state_(node);
  }
  event_("skip   " + n.result.label + ": " + why.str());
  return true;
}

std::string Trials::rung_text(const SearchTrial& t, size_t rung) const {
  std::ostringstream out;
  out << "rung " << rung + 1 << " of " << t.rungs.size() - 1 << " (step " << t.rungs[rung] << "): " << e_.search.metric
      << " = " << t.values[rung];
  return out.str();
}

bool Trials::lower_is_better(const std::vector<size_t>& group) const {
  if (!e_.search.goal.empty()) return e_.search.goal == "min";
  for (size_t t : group)
    if (!list_[t].direction.empty() && list_[t].direction != "none") return list_[t].direction == "lower";
  return true;
}

// ASHA's promotions of every group: paused trials sent on to their next rung.
void Trials::promote() {
  for (const auto& [group, members] : groups_) {
    std::vector<TrialProgress> progress;
    for (size_t t : members)
      progress.push_back({list_[t].values, nodes_[list_[t].train].result.state != NodeState::Paused});
    const size_t rungs = list_[members.front()].rungs.size() - 1;
    for (size_t k : asha_promotions(progress, rungs, e_.search.eta, lower_is_better(members)))
      send_on(list_[members[k]], "among the best 1/" + std::to_string(e_.search.eta));
  }
}

// Nothing runs and nothing was promoted: each group without a finished trial sends on the
// best of its highest rung. True when it promoted one.
bool Trials::promote_leaders() {
  bool promoted = false;
  for (const auto& [group, members] : groups_) {
    std::vector<TrialProgress> progress;
    for (size_t t : members)
      progress.push_back({list_[t].values, nodes_[list_[t].train].result.state == NodeState::Finished});
    const auto leader = asha_leader(progress, lower_is_better(members));
    if (!leader) continue;
    SearchTrial& t = list_[members[*leader]];
    if (nodes_[t.train].result.state != NodeState::Paused) continue;
    send_on(t, "the best at the highest rung: no trial of its search went further");
    promoted = true;
  }
  return promoted;
}

// A paused trial promoted to its next rung (or to the end): it resumes from its checkpoint.
void Trials::send_on(SearchTrial& t, const std::string& why) {
  Node& n = nodes_[t.train];
  const size_t next = t.values.size();
  n.job.until = next + 1 < t.rungs.size() ? t.rungs[next] : 0;
  n.result.state = NodeState::Pending;
  n.promoted = true;
  event_("promote " + n.result.label + " to step " + std::to_string(t.rungs[next]) + " (" + rung_text(t, next - 1) +
         ", " + why + ")");
}

// The trials still paused when nothing more can be promoted: the search stops them there.
void Trials::prune() {
  for (const auto& t : list_) {
    Node& train = nodes_[t.train];
    if (train.result.state != NodeState::Paused) continue;
    train.result.state = NodeState::Pruned;
    train.result.reason = "stopped by ASHA at " + rung_text(t, t.values.size() - 1) + ": not among the best 1/" +
                          std::to_string(e_.search.eta) + " there";
    write_state_(t.train);
    Node& evaluate = nodes_[t.train + 1];  // add_run adds a run's evaluation right after its training
    evaluate.result.state = NodeState::Pruned;
    evaluate.result.reason = "its training was " + train.result.reason;
    write_state_(t.train + 1);
  }
}

// A trial that reached a rung: paused there with its value, and the group's promotions.
void Trials::reached_rung(size_t i) {
  Node& n = nodes_[i];
  SearchTrial* it = &list_[trial_of_.at(i)];
  const TrialRungs reached = read_trial_rungs(n.result.dir, {it->rungs.begin(), it->rungs.end() - 1}, e_.search.metric);
  it->values = reached.values;
  it->direction = reached.direction;
  n.promoted = false;
  n.job.until = 0;
  if (!reached.problem.empty() || reached.values.empty()) {
    n.result.state = NodeState::Failed;
    n.result.reason = reached.problem.empty() ? "its rung's file was not written" : reached.problem;
    write_state_(i);
    event_("FAILED " + n.result.label + ": " + n.result.reason);
    return;
  }
  n.result.state = NodeState::Paused;
  n.result.reason = rung_text(*it, it->values.size() - 1);
  write_state_(i);
  event_("rung   " + n.result.label + ": " + n.result.reason);
  promote();
}

void Trials::set_next_rung(size_t i) {
  const auto t = trial_of_.find(i);
  if (t == trial_of_.end()) return;
  const SearchTrial& trial = list_[t->second];
  const size_t next = trial.values.size();
  nodes_[i].job.until = next + 1 < trial.rungs.size() ? trial.rungs[next] : 0;
}

}  // namespace genlab
