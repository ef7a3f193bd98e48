// Claims: statements about model families ("GAN outputs are sharper than VAE outputs") that
// an experiment puts to the test. A claim holds checks; a check compares a statistic of one
// metric over a cell of runs (a model on a dataset, optionally at given parameter values,
// over its seeds) with another cell, or with a fixed bar, and turns their 95% intervals into
// a verdict: apart on the expected side (supported), apart on the other side (not
// supported), overlapping (inconclusive). docs/seed-claims.md states the rules.
#pragma once

#include <cmath>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <toml++/toml.h>

namespace genlab {

struct RunGroup;  // report.hpp

enum class Verdict { supported, not_supported, inconclusive };
const char* verdict_name(Verdict v);  // "supported", "not supported", "inconclusive"

// A statistic and its 95% interval [low, high]; n: the runs behind it. Invalid (NaN) when
// the runs cannot give one, and `why` then says what was missing.
struct Estimate {
  double value = NAN, low = NAN, high = NAN;
  size_t n = 0;
  std::string why;
  std::string convention;  // what the values mean beyond their name (report.hpp); "" none recorded
  bool valid() const { return std::isfinite(low) && std::isfinite(high); }
  static Estimate exactly(double bar) { return {bar, bar, bar, 0, {}, {}}; }
};

// The statistic of a check, over the runs of a cell.
enum class Statistic {
  mean,          // Student-t interval over the seeds
  std,           // sample standard deviation, chi-square interval
  cv,            // std / |mean| (the std's interval over |mean|): spread relative to size
  failure_rate,  // share of the cell's runs that failed (Wilson score interval)
};
const char* statistic_name(Statistic s);

// 95% intervals, exposed for the tests.
Estimate mean_estimate(const std::vector<double>& values);
Estimate std_estimate(const std::vector<double>& values);
Estimate cv_estimate(const std::vector<double>& values);
Estimate rate_estimate(size_t failures, size_t runs);
// Quantiles of chi-square with df degrees of freedom at 0.025 and 0.975.
double chi_square_025(size_t df);
double chi_square_975(size_t df);

// Which runs a cell holds: a model on a dataset, and parameter values of either (a sweep's
// point, e.g. subset = 100), every seed.
struct Cell {
  std::string model, dataset;
  toml::table params;
  std::string position;       // file:line:column, for errors
  std::string label() const;  // "vae on digits (subset=100)"
};

struct Check {
  std::string metric;  // "fid.fid", "cost.samples_per_second"
  Statistic statistic = Statistic::mean;
  Cell a;
  std::optional<Cell> b;  // or the bar
  double bar = NAN;
  bool expect_higher = false;  // a's statistic is expected above b's (times factor) or the bar
  double factor = 1;           // b's interval is scaled by it: "twice as fast" is factor 2
  // failure_rate: besides runs that did not finish or gave NaN, a run fails when its metric
  // is below / above these.
  std::optional<double> fails_below, fails_above;
  std::string position;
};

struct Claim {
  std::string id, text;
  std::string experiment;  // what is run and measured, in words (for the report)
  bool all = true;         // all checks must hold ("all"), or one is enough ("any")
  std::vector<Check> checks;
  std::string position;
};

// The verdict of a statistic of `a` against `b`'s interval scaled by `factor`.
Verdict judge(const Estimate& a, const Estimate& b, bool expect_higher, double factor);
// The claim's verdict from its checks': "all" needs every one supported, and fails when one
// fails; "any" needs one supported, and fails when every one fails.
Verdict combine(const std::vector<Verdict>& verdicts, bool all);

// Reads [[claims]] (file:line:column in every error). Cells are checked against the plan
// by check_claims_cover.
std::vector<Claim> read_claims(const toml::node& node, const std::filesystem::path& file);

struct RunPlan;
// Throws HostError when a cell holds none of `runs`, or a check's metric is not one its runs
// compute (cost.* or a [metrics.NAME] that applies to them).
void check_claims_cover(const std::vector<Claim>& claims, const std::vector<RunPlan>& runs);

struct CheckResult {
  Estimate a, b;
  Verdict verdict = Verdict::inconclusive;
  std::string reason;
};
struct ClaimResult {
  const Claim* claim = nullptr;
  Verdict verdict = Verdict::inconclusive;
  std::string reason;
  std::vector<CheckResult> checks;
};

// Every claim judged on what the runs' folders hold.
std::vector<ClaimResult> judge_claims(const std::vector<Claim>& claims, const std::vector<RunGroup>& groups);

// Whether `run` is one of the runs of `cell`.
bool cell_holds(const Cell& cell, const RunPlan& run);

// The seed groups (seed_group: the report's rows) of the cells of the open checks of open
// claims: where `genlab run --settle` adds seeds.
std::vector<std::string> unsettled_groups(const std::vector<ClaimResult>& results, const std::vector<RunPlan>& runs);

// The seeds per cell at which an open check of means would be decided, were the spread as
// seen so far: the least n whose intervals t(0.975, n-1) s / sqrt(n) no longer overlap.
// 0 when it cannot be told (another statistic, fewer than 2 runs a cell, equal means, or
// more than 1000 seeds).
size_t seeds_to_separate(const Check& check, const CheckResult& result);

// The table of claims as Markdown: id, claim, verdict, reason.
std::string claims_markdown(const std::vector<ClaimResult>& results);

}  // namespace genlab
