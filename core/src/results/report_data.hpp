// What the report and `genlab compare` read from an experiment's folders (the runs' outcomes
// grouped over seeds: group_runs in report.hpp; samples, loss curves), and how they order
// and write it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "genlab/core/report.hpp"
#include "genlab/core/samples.hpp"

namespace genlab {

// The datasets of the groups, in the order their first groups come.
std::vector<std::string> datasets_of(const std::vector<RunGroup>& groups);
// The groups of one dataset.
std::vector<const RunGroup*> groups_of(const std::vector<RunGroup>& groups, const std::string& dataset);

// "mean ± half-width (n)" or "NaN" when no seed gave a number.
std::string stats_text(const Stats& s);
bool better(const std::string& direction, double a, double b);

// The groups of one dataset and their metrics.
struct DatasetGroups {
  std::string dataset;
  std::vector<const RunGroup*> groups;
  std::vector<std::string> columns;                         // metric_columns
  std::map<std::string, std::map<std::string, int>> mixed;  // mixed_conventions

  DatasetGroups(const std::vector<RunGroup>& all, const std::string& dataset);
  std::string direction(const std::string& column) const;
  // Whether `g` has the best mean of a column, among the rows of its convention only.
  bool best(const RunGroup& g, const std::string& column) const;
};

// The headline of a dataset (report.headline, else chosen): at most 5 metrics (the
// first value with a direction of each metric, in the order its plugin gives them, metrics by name,
// the likelihood's bits among them), then samples/s and train seconds.
std::vector<std::string> headline_columns(const Experiment& e, const DatasetGroups& ds);
// A column's short title with its direction: "fid ↓", "bits/token ↓", "samples/s ↑".
std::string headline_title(const DatasetGroups& ds, const std::string& column);

// The metric columns of some groups, per-class entries left out.
std::vector<std::string> metric_columns(const std::vector<const RunGroup*>& groups);
// The columns whose rows hold values of more than one convention, and a tag per convention.
std::map<std::string, std::map<std::string, int>> mixed_conventions(const std::vector<const RunGroup*>& groups,
                                                                    const std::vector<std::string>& columns);
// The quality metric of a dataset's chart ("" when none fits).
std::string quality_metric(const Experiment& e, const std::vector<const RunGroup*>& groups);

// The first loss of each logged step, thinned to at most `points` steps; `name` is set to
// the loss's name.
std::vector<std::pair<int64_t, double>> loss_curve(const std::filesystem::path& losses, size_t points,
                                                   std::string& name);

}  // namespace genlab
