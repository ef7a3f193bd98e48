// ASHA's promotions, the rungs a trial's folder records, and what each search group ended
// with (search.hpp).
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <map>
#include <numeric>
#include <sstream>

#include "genlab/core/search.hpp"
#include "genlab/core/workspace.hpp"

namespace genlab {
namespace fs = std::filesystem;

std::vector<size_t> asha_promotions(const std::vector<TrialProgress>& trials, size_t rungs, int64_t eta,
                                    bool lower_is_better) {
  std::vector<size_t> promote;
  auto better = [&](size_t a, size_t b, size_t rung) {
    const double x = trials[a].values[rung], y = trials[b].values[rung];
    if (std::isnan(x) != std::isnan(y)) return std::isnan(y);
    if (x != y && !std::isnan(x)) return lower_is_better ? x < y : x > y;
    return a < b;  // ties (and two NaNs): the earlier trial
  };
  for (size_t rung = 0; rung < rungs; ++rung) {
    std::vector<size_t> reached;
    for (size_t i = 0; i < trials.size(); ++i)
      if (trials[i].values.size() > rung) reached.push_back(i);
    std::sort(reached.begin(), reached.end(), [&](size_t a, size_t b) { return better(a, b, rung); });
    const size_t top = reached.size() / static_cast<size_t>(eta);
    for (size_t k = 0; k < top; ++k) {
      const size_t i = reached[k];
      if (!trials[i].busy && trials[i].values.size() == rung + 1) promote.push_back(i);
    }
  }
  return promote;
}

std::optional<size_t> asha_leader(const std::vector<TrialProgress>& trials, bool lower_is_better) {
  size_t top = 0;
  for (const auto& t : trials) {
    if (t.busy) return std::nullopt;
    top = std::max(top, t.values.size());
  }
  if (top == 0) return std::nullopt;
  std::optional<size_t> best;
  for (size_t i = 0; i < trials.size(); ++i) {
    if (trials[i].values.size() != top) continue;
    const double v = trials[i].values[top - 1];
    if (std::isnan(v)) {
      if (!best) best = i;
      continue;
    }
    const double b = best ? trials[*best].values[top - 1] : NAN;
    if (!best || std::isnan(b) || (lower_is_better ? v < b : v > b)) best = i;
  }
  return best;
}

TrialRungs read_trial_rungs(const fs::path& run_dir, const std::vector<int64_t>& rungs, const std::string& metric) {
  TrialRungs out;
  for (int64_t step : rungs) {
    const auto rung = read_toml(rung_file(run_dir, step));
    if (!rung) break;
    const auto value = (*rung)["values"][metric].value<double>();
    if (!value) {
      std::string names;
      if (const toml::table* values = (*rung)["values"].as_table())
        for (const auto& [k, v] : *values) names += (names.empty() ? "" : ", ") + std::string(k.str());
      out.problem = rung_file(run_dir, step).string() + " has no value '" + metric +
                    "' (the evaluation during training gave: " + names + "); set search.metric to one of them";
      break;
    }
    out.steps.push_back(step);
    out.values.push_back(*value);
    out.direction = (*rung)["directions"][metric].value_or(std::string("none"));
    out.cpu_seconds = (*rung)["cpu_seconds"].value_or(0.0);
  }
  return out;
}

std::vector<SearchOutcome> search_outcomes(const Experiment& e) {
  std::vector<SearchOutcome> out;
  std::map<std::string, size_t> index;
  for (const auto& r : e.runs) {
    if (r.trial < 0) continue;
    auto [it, added] = index.emplace(r.search_group, out.size());
    if (added) {
      SearchOutcome g;
      g.group = r.search_group;
      g.model = r.model.name;
      g.dataset = r.dataset.name;
      g.metric = e.search.metric;
      out.push_back(std::move(g));
    }
    SearchOutcome& g = out[it->second];
    const fs::path run_dir = e.folder() / "runs" / r.folder_name();
    g.trials.push_back(&r);
    g.steps_if_all_finished += r.settings.budget.steps;
    const TrialRungs rungs = read_trial_rungs(run_dir, e.search.rungs(r.settings.budget.steps), e.search.metric);
    double value = NAN;
    int64_t reached = 0;
    if (const auto done = read_toml(done_file(run_dir, NodeKind::Train))) {
      ++g.begun;
      ++g.finished;
      reached = (*done)["steps"].value_or(int64_t{0});
      g.steps_spent += reached;
      g.cpu_seconds += (*done)["cpu_seconds"].value_or(0.0);
      const auto eval = read_toml(done_file(run_dir / r.eval_folder_name(), NodeKind::Evaluate));
      if (eval && !g.metric.empty()) {
        value = (*eval)["metrics"][g.metric].value_or(NAN);
        if (g.direction.empty()) g.direction = (*eval)["directions"][g.metric].value_or(std::string());
      }
    } else if (!rungs.steps.empty()) {
      ++g.begun;
      const auto state = read_toml(state_file(run_dir, NodeKind::Train));
      if (state && (*state)["state"].value_or(std::string()) == "pruned") ++g.stopped;
      reached = rungs.steps.back();
      value = rungs.values.back();
      g.steps_spent += reached;
      g.cpu_seconds += rungs.cpu_seconds;
    }
    if (g.direction.empty()) g.direction = rungs.direction;
    g.values.push_back(value);
    g.steps.push_back(reached);
  }
  for (auto& g : out) {
    if (e.search.goal == "min") g.direction = "lower";
    if (e.search.goal == "max") g.direction = "higher";
    for (size_t i = 0; i < g.trials.size(); ++i) {
      const double v = g.values[i];
      if (std::isnan(v) || g.steps[i] != g.trials[i]->settings.budget.steps) continue;  // the finished only
      const bool better = g.best == nullptr || (g.direction == "higher" ? v > g.best_value : v < g.best_value);
      if (better) g.best = g.trials[i], g.best_value = v;
    }
  }
  return out;
}

std::string search_text(const Experiment& e) {
  std::ostringstream text;
  for (const auto& g : search_outcomes(e)) {
    text << "search " << g.group << ": " << g.trials.size() << " trial(s), " << g.finished << " trained to the end";
    if (e.search.asha()) text << ", " << g.stopped << " stopped by ASHA";
    if (g.begun < static_cast<int64_t>(g.trials.size()))
      text << ", " << g.trials.size() - static_cast<size_t>(g.begun) << " not begun";
    text << "; " << g.steps_spent << " of " << g.steps_if_all_finished << " steps, " << std::fixed
         << std::setprecision(1) << g.cpu_seconds << " CPU s";
    if (g.best != nullptr)
      text << "; best " << g.best->name.substr(g.group.size() + 1) << " (" << g.metric << " " << std::setprecision(4)
           << std::defaultfloat << g.best_value << ")";
    text << "\n";
  }
  return text.str();
}

}  // namespace genlab
