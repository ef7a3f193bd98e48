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

namespace genlab {

// The datasets of the groups, in the order their first groups come.
std::vector<std::string> datasets_of(const std::vector<RunGroup>& groups);
// The groups of one dataset.
std::vector<const RunGroup*> groups_of(const std::vector<RunGroup>& groups, const std::string& dataset);

// "mean ± half-width (n)" or "NaN" when no seed gave a number.
std::string stats_text(const Stats& s);
bool better(const std::string& direction, double a, double b);

// The metric columns of some groups, per-class entries left out.
std::vector<std::string> metric_columns(const std::vector<const RunGroup*>& groups);
// The columns whose rows hold values of more than one convention, and a tag per convention.
std::map<std::string, std::map<std::string, int>> mixed_conventions(const std::vector<const RunGroup*>& groups,
                                                                    const std::vector<std::string>& columns);
// The quality metric of a dataset's chart ("" when none fits).
std::string quality_metric(const Experiment& e, const std::vector<const RunGroup*>& groups);

// The first `limit` rows of the first output of a samples file, as a PNG grid (images) or
// a scatter plot (2-D points); empty if the outputs are neither.
std::string sample_png(const std::filesystem::path& samples, const std::filesystem::path& png, int64_t limit);
// Up to `limit` text samples of a samples file's "text" output (uint8 [N, L], zero-padded).
std::vector<std::string> sample_texts(const std::filesystem::path& samples, size_t limit);
// The first loss of each logged step, thinned to at most `points` steps; `name` is set to
// the loss's name.
std::vector<std::pair<int64_t, double>> loss_curve(const std::filesystem::path& losses, size_t points,
                                                   std::string& name);

}  // namespace genlab
