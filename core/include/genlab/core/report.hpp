// The experiment's report: runs grouped over seeds (mean, standard deviation and a 95%
// Student-t interval of every metric), written as report.md and as report.html, one
// self-contained page (tables, sample grids, text samples, Vega-Lite charts of the loss
// curves and of quality against sampling speed, the libraries inlined), and `genlab compare`.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "genlab/core/experiment.hpp"

namespace genlab {

// One metric over the seeds of a group. NaN values are counted apart, never averaged.
struct Stats {
  size_t n = 0;           // finite values
  size_t not_finite = 0;  // NaN or infinite values
  double mean = 0, std = 0;
  double half_width = 0;  // of the 95% t-interval: mean +- half_width (0 when n < 2)
};
Stats summarize(const std::vector<double>& values);
// The 0.975 quantile of Student's t with `df` degrees of freedom (df >= 1).
double t_quantile_975(size_t df);

// One run as found on disk.
struct RunOutcome {
  const RunPlan* plan = nullptr;
  std::filesystem::path run_dir, eval_dir;
  std::string state;   // "finished", "failed", "not run", ...
  std::string reason;  // why it failed
  std::map<std::string, double> metrics;
  std::map<std::string, std::string> directions;  // "lower", "higher", "none"
  // metric -> what its value means beyond its name (the metric's build, the model's score
  // convention, the feature network); values of different conventions are never ranked
  // together. Absent: none recorded (host-measured costs, evaluations older than this).
  std::map<std::string, std::string> conventions;
  std::vector<std::string> warnings;  // what the evaluation warned of (too few samples...)
  std::vector<std::string> order;     // the metrics' keys in the order the plugins gave them
};

// The runs that differ only in their seed.
struct RunGroup {
  std::string label;  // the run name without its seed: <model>-<dataset>[-<sweep>]
  std::string model, model_plugin, dataset, modality;
  std::vector<RunOutcome> runs;
  std::map<std::string, Stats> stats;              // metric -> over finished seeds
  std::map<std::string, std::string> directions;   // metric -> direction
  std::map<std::string, std::string> conventions;  // metric -> its runs' convention (joined if they differ)
  // The convention of `metric` here ("" when none is recorded).
  std::string convention(const std::string& metric) const {
    auto it = conventions.find(metric);
    return it == conventions.end() ? std::string() : it->second;
  }
};

// Groups the experiment's runs over seeds from what their folders hold.
std::vector<RunGroup> group_runs(const Experiment& e);

// Writes report.md, report.html (and the images of report.md in report-assets/) and
// report.json (the statistics per group and metric) in the experiment's folder. Returns the
// path of report.html.
std::filesystem::path write_report(const Experiment& e);

// `genlab compare`: per metric, the groups ranked best first (by direction), with means,
// intervals and seeds. `only` limits it to metrics whose name contains it.
std::string compare_text(const Experiment& e, const std::string& only);

// A dataset's comparison as the report shows it: a row per group, mean ± 95% interval per
// column; the first `headline` columns are the headline's (see headline_text), by short
// titles, then every value by its full name.
struct ComparisonTable {
  struct Row {
    std::string label, model_plugin;
    size_t finished = 0, seeds = 0;
    std::vector<std::string> cells;
    std::vector<bool> best;  // the best mean of its column, among rows of its convention
  };
  std::string dataset;
  std::vector<std::string> columns, titles;
  size_t headline = 0;
  std::vector<Row> rows;
};
std::vector<ComparisonTable> comparison_tables(const Experiment& e, const std::vector<RunGroup>& groups);

// Per dataset, a row per model and at most 8 columns (the main quality metrics, the
// likelihood, samples/s, train seconds: report.headline or chosen), each mean±95% interval,
// in at most `width` characters: what `genlab run` prints at its end.
std::string headline_text(const Experiment& e, size_t width = 120);

// The verdicts of the experiment's [[claims]], one line each ("" when it has none).
std::string claims_text(const Experiment& e);

}  // namespace genlab
