// [search]: parameters given as distributions, drawn once per trial; each trial is a run
// with its own identity, so a second `genlab run` reuses finished trials. The strategy
// (random, or ASHA's successive halving) is the scheduler's (core/src/run/asha.cpp).
#include <cmath>
#include <cstring>

#include "genlab/util/error.hpp"
#include "genlab/util/sha256.hpp"
#include "manifest_parts.hpp"

namespace genlab {

std::vector<int64_t> SearchSettings::rungs(int64_t steps) const {
  std::vector<int64_t> out;
  if (asha())
    for (int64_t r = min_steps; r > 0 && r < steps; r *= eta) out.push_back(r);
  out.push_back(steps);
  return out;
}

namespace manifest {
namespace {

const std::vector<std::string> kDistributions = {"uniform", "log_uniform", "int_uniform", "choice"};

// The distribution's kind (its one key) and its array (nullptr when not an array).
const toml::array* distribution_of(const toml::node& node, std::string& kind) {
  const auto entry = node.as_table()->begin();
  kind = std::string(entry->first.str());
  return entry->second.as_array();
}

double number(const toml::node& n) {
  return n.is_integer() ? static_cast<double>(n.as_integer()->get()) : n.as_floating_point()->get();
}

// A uniform draw in [0, 1) that depends on the search's seed, the parameter and the trial
// only: adding trials, or reordering the manifest, leaves every drawn value as it was.
double unit_draw(int64_t seed, const std::string& key, int64_t trial) {
  const std::string digest = sha256_hex(std::to_string(seed) + "\n" + key + "\n" + std::to_string(trial));
  const uint64_t bits = std::stoull(digest.substr(0, 16), nullptr, 16);
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

// Four significant digits, so that a run's name shows the exact value it trained with.
double rounded(double v) {
  if (v == 0 || !std::isfinite(v)) return v;
  const double scale = std::pow(10.0, 3 - static_cast<int>(std::floor(std::log10(std::abs(v)))));
  return std::round(v * scale) / scale;
}

}  // namespace

bool is_distribution(const toml::node& node) {
  const toml::table* t = node.as_table();
  return t != nullptr && t->size() == 1 &&
         std::find(kDistributions.begin(), kDistributions.end(), std::string(t->begin()->first.str())) !=
             kDistributions.end();
}

std::vector<toml::table> distribution_values(const toml::node& node, const fs::path& file, const std::string& key) {
  std::string kind;
  const toml::array* a = distribution_of(node, kind);
  const std::string name = "'" + key + "." + kind + "'";
  if (a == nullptr) throw HostError(where(node.source(), file) + ": expected " + name + " to be an array");
  std::vector<toml::table> out;
  if (kind == "choice") {
    if (a->empty()) throw HostError(where(node.source(), file) + ": expected " + name + " to hold at least one value");
    for (const auto& v : *a) out.push_back(toml::table{{"v", v}});
    return out;
  }
  const bool integral = kind == "int_uniform";
  if (a->size() != 2 || !(*a)[0].is_number() || !(*a)[1].is_number() ||
      (integral && (!(*a)[0].is_integer() || !(*a)[1].is_integer())))
    throw HostError(where(node.source(), file) + ": expected " + name + " to be [a, b], two " +
                    (integral ? "integers" : "numbers"));
  const double lo = number((*a)[0]), hi = number((*a)[1]);
  if (!std::isfinite(lo) || !std::isfinite(hi))
    throw HostError(where(node.source(), file) + ": expected " + name + " bounds to be finite numbers");
  if (lo > hi)
    throw HostError(where(node.source(), file) + ": " + name + " = [" + short_number(lo) + ", " + short_number(hi) +
                    "] has a > b; expected a <= b");
  if (kind == "log_uniform" && lo <= 0)
    throw HostError(where(node.source(), file) + ": " + name + " = [" + short_number(lo) + ", " + short_number(hi) +
                    "] needs a > 0 (it draws the logarithm uniformly)");
  for (const auto& v : *a) {
    if (integral) out.push_back(toml::table{{"v", v}});
    else out.push_back(toml::table{{"v", number(v)}});  // drawn values are real numbers
  }
  return out;
}

toml::table draw(const toml::node& node, int64_t seed, const std::string& key, int64_t trial) {
  std::string kind;
  const toml::array& a = *distribution_of(node, kind);
  const double u = unit_draw(seed, key, trial);
  if (kind == "choice") return toml::table{{"v", a[std::min(a.size() - 1, static_cast<size_t>(u * a.size()))]}};
  const double lo = number(a[0]), hi = number(a[1]);
  if (kind == "int_uniform") {
    const auto low = a[0].as_integer()->get(), high = a[1].as_integer()->get();
    const auto span = static_cast<double>(high - low) + 1;
    return toml::table{{"v", low + std::min(high - low, static_cast<int64_t>(u * span))}};
  }
  if (kind == "log_uniform")
    return toml::table{{"v", rounded(std::exp(std::log(lo) + u * (std::log(hi) - std::log(lo))))}};
  return toml::table{{"v", rounded(lo + u * (hi - lo))}};
}

SearchSettings read_search_section(const toml::table& root, const fs::path& file) {
  SearchSettings s;
  const toml::node* node = root.get("search");
  if (node == nullptr) return s;
  const toml::table* table = node->as_table();
  if (table == nullptr) throw HostError(where(node->source(), file) + ": expected [search] to be a table");
  static const std::vector<std::string> known = {"trials", "seed",      "strategy", "metric",
                                                 "goal",   "min_steps", "eta",      "budget"};
  auto positive = [&](const toml::node& v, const std::string& what, int64_t at_least, int64_t at_most) {
    const int64_t n = manifest_value<int64_t>(v, file, what, "an integer");
    if (n < at_least || n > at_most)
      throw HostError(where(v.source(), file) + ": expected " + what + " from " + std::to_string(at_least) + " to " +
                      std::to_string(at_most) + ", got " + std::to_string(n));
    return n;
  };
  for (const auto& [k, v] : *table) {
    const std::string key(k.str());
    const std::string what = "search." + key;
    if (key == "trials") {
      s.trials = positive(v, what, 1, 10000);
    } else if (key == "budget") {
      // Each model of a comparison gets the same tuning effort: a number of trials, or the
      // training CPU seconds after which no new trial begins (trials then caps them).
      const toml::table* b = v.as_table();
      if (b == nullptr || b->empty())
        throw HostError(where(v.source(), file) +
                        ": expected search.budget = { trials = N } or { cpu_seconds = S }, each model's tuning effort");
      for (const auto& [bk, bv] : *b) {
        const std::string budget_key(bk.str());
        if (budget_key == "trials") {
          s.trials = positive(bv, "search.budget.trials", 1, 10000);
        } else if (budget_key == "cpu_seconds") {
          s.cpu_seconds = manifest_value<double>(bv, file, "search.budget.cpu_seconds", "a number of seconds");
          if (!(s.cpu_seconds > 0) || !std::isfinite(s.cpu_seconds))
            throw HostError(where(bv.source(), file) + ": expected search.budget.cpu_seconds > 0, got " +
                            short_number(s.cpu_seconds));
        } else {
          throw HostError(where(bk.source(), file) + ": unknown key 'search.budget." + budget_key +
                          "'; expected trials or cpu_seconds");
        }
      }
    } else if (key == "seed") {
      s.seed = manifest_value<int64_t>(v, file, what, "an integer");
    } else if (key == "strategy") {
      s.strategy = manifest_value<std::string>(v, file, what, "a string");
      if (s.strategy != "random" && s.strategy != "asha")
        throw HostError(where(v.source(), file) + ": expected search.strategy \"random\" or \"asha\", got \"" +
                        printable(s.strategy) + "\"");
    } else if (key == "metric") {
      s.metric = manifest_value<std::string>(v, file, what, "a metric value (\"mmd.mmd2\")");
    } else if (key == "goal") {
      s.goal = manifest_value<std::string>(v, file, what, "a string");
      if (s.goal != "min" && s.goal != "max")
        throw HostError(where(v.source(), file) + ": expected search.goal \"min\" or \"max\", got \"" +
                        printable(s.goal) + "\"");
    } else if (key == "min_steps") {
      s.min_steps = positive(v, what, 1, int64_t{1} << 40);
    } else if (key == "eta") {
      s.eta = positive(v, what, 2, 100);
    } else {
      throw HostError(where(k.source(), file) + ": unknown key '" + what + "'" + did_you_mean(key, known) +
                      "; expected one of " + join_names(known));
    }
  }
  if (s.trials == 0 && s.cpu_seconds > 0) s.trials = 100;  // a CPU budget: at most 100 trials unless said
  if (s.trials == 0)
    throw HostError(where(node->source(), file) +
                    ": [search] needs trials = N, or budget = { trials = N } or { cpu_seconds = S }");
  return s;
}

void check_search(const SearchSettings& s, const toml::table& root, const RunSettings& base, const fs::path& file,
                  bool any_distribution) {
  const toml::node* node = root.get("search");
  if (node == nullptr) return;
  const std::string at = where(node->source(), file);
  if (!any_distribution)
    throw HostError(at +
                    ": [search] has nothing to search: give a model's or dataset's parameter as a "
                    "distribution, e.g. lr = {log_uniform = [1e-4, 1e-2]}");
  if (!s.asha()) return;
  if (s.metric.empty())
    throw HostError(at +
                    ": search.strategy = \"asha\" ranks the trials at each rung by a metric of the evaluation "
                    "during training: set search.metric (e.g. \"mmd.mmd2\")");
  const std::string metric = s.metric.substr(0, s.metric.find('.'));
  const auto& during = base.eval_during;
  if (s.metric.find('.') == std::string::npos || std::find(during.begin(), during.end(), metric) == during.end())
    throw HostError(where((*node->as_table())["metric"].node()->source(), file) + ": search.metric = \"" +
                    printable(s.metric) + "\" is not computed by the evaluation during training" +
                    (during.empty() ? std::string(" (evaluation.during is empty)")
                                    : " (evaluation.during = [" + join_names(during) + "])") +
                    "; expected \"METRIC.VALUE\" of a metric in evaluation.during, with evaluation.every set");
  if (base.budget.steps <= 0 || base.budget.epochs > 0 || base.budget.seconds > 0)
    throw HostError(at +
                    ": search.strategy = \"asha\" stops and continues trials at step counts: give "
                    "experiment.steps, and neither epochs nor max_seconds");
  if (s.min_steps == 0)
    throw HostError(at +
                    ": search.strategy = \"asha\" needs min_steps, the steps of its first rung (e.g. a tenth of "
                    "experiment.steps)");
  if (s.min_steps >= base.budget.steps)
    throw HostError(where((*node->as_table())["min_steps"].node()->source(), file) +
                    ": search.min_steps = " + std::to_string(s.min_steps) +
                    " leaves no rung below experiment.steps = " + std::to_string(base.budget.steps) +
                    "; expected fewer steps than that");
}

}  // namespace manifest
}  // namespace genlab
