#include "genlab/core/claims.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "genlab/core/discovery.hpp"
#include "genlab/util/error.hpp"
#include "genlab/core/experiment.hpp"
#include "genlab/core/report.hpp"
#include "statistics.hpp"

namespace genlab {
namespace fs = std::filesystem;

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::supported: return "supported";
    case Verdict::not_supported: return "not supported";
    case Verdict::inconclusive: return "inconclusive";
  }
  return "?";
}

const char* statistic_name(Statistic s) {
  switch (s) {
    case Statistic::mean: return "mean";
    case Statistic::std: return "std";
    case Statistic::cv: return "cv";
    case Statistic::failure_rate: return "failure_rate";
  }
  return "?";
}

// --------------------------------------------------------------------------- verdicts

Verdict judge(const Estimate& a, const Estimate& b, bool expect_higher, double factor) {
  if (!a.valid() || !b.valid()) return Verdict::inconclusive;
  const double b_low = std::min(b.low * factor, b.high * factor), b_high = std::max(b.low * factor, b.high * factor);
  const bool above = a.low > b_high, below = a.high < b_low;
  if (expect_higher ? above : below) return Verdict::supported;
  if (expect_higher ? below : above) return Verdict::not_supported;
  return Verdict::inconclusive;
}

Verdict combine(const std::vector<Verdict>& verdicts, bool all) {
  if (verdicts.empty()) return Verdict::inconclusive;
  const auto count = [&](Verdict v) { return static_cast<size_t>(std::count(verdicts.begin(), verdicts.end(), v)); };
  const Verdict decisive = all ? Verdict::not_supported : Verdict::supported;
  const Verdict unanimous = all ? Verdict::supported : Verdict::not_supported;
  if (count(decisive) > 0) return decisive;
  if (count(unanimous) == verdicts.size()) return unanimous;
  return Verdict::inconclusive;
}

// ---------------------------------------------------------------------------- reading

namespace {

std::string value_text(const toml::node& node) {
  if (const auto* s = node.as_string()) return s->get();
  std::ostringstream out;
  node.visit([&](const auto& v) { out << v; });
  return out.str();
}

Cell read_cell(const toml::node& node, const fs::path& file, const std::string& key) {
  const toml::table* t = node.as_table();
  if (t == nullptr)
    throw HostError(manifest_position(node.source(), file) + ": expected '" + key +
                    "' to be a cell of runs, e.g. { model = \"vae\", dataset = \"digits\", subset = 100 }");
  Cell c;
  c.position = manifest_position(node.source(), file);
  for (const auto& [k, v] : *t) {
    const std::string name(k.str());
    if (name == "model") c.model = manifest_value<std::string>(v, file, key + ".model", "a model name");
    else if (name == "dataset") c.dataset = manifest_value<std::string>(v, file, key + ".dataset", "a dataset name");
    else if (v.is_value()) c.params.insert(name, v);
    else
      throw HostError(manifest_position(v.source(), file) + ": expected '" + key + "." + name +
                      "' to be a parameter's value (a number, string or boolean)");
  }
  if (c.model.empty() || c.dataset.empty())
    throw HostError(c.position + ": expected '" + key +
                    "' to name a model and a dataset: { model = ..., dataset = ... }");
  return c;
}

Check read_check(const toml::node& node, const fs::path& file, const std::string& key) {
  const toml::table* t = node.as_table();
  if (t == nullptr) throw HostError(manifest_position(node.source(), file) + ": expected '" + key + "' to be a table");
  static const std::vector<std::string> known = {"metric", "statistic", "a",           "b",          "bar",
                                                 "expect", "factor",    "fails_below", "fails_above"};
  Check c;
  c.position = manifest_position(node.source(), file);
  bool has_expect = false;
  for (const auto& [k, v] : *t) {
    const std::string name(k.str()), path = key + "." + name;
    if (name == "metric") c.metric = manifest_value<std::string>(v, file, path, "a metric such as \"fid.fid\"");
    else if (name == "statistic") {
      const std::string s = manifest_value<std::string>(v, file, path, "a string");
      std::vector<std::string> statistics;
      bool known_statistic = false;
      for (Statistic candidate : {Statistic::mean, Statistic::std, Statistic::cv, Statistic::failure_rate}) {
        statistics.push_back(statistic_name(candidate));
        if (s == statistics.back()) {
          c.statistic = candidate;
          known_statistic = true;
        }
      }
      if (!known_statistic)
        throw HostError(manifest_position(v.source(), file) + ": unknown statistic '" + s + "'" +
                        did_you_mean(s, statistics) + "; expected one of " + join_names(statistics));
    } else if (name == "a") c.a = read_cell(v, file, path);
    else if (name == "b") c.b = read_cell(v, file, path);
    else if (name == "bar") {
      c.bar = manifest_value<double>(v, file, path, "a number");
      if (!std::isfinite(c.bar))
        throw HostError(manifest_position(v.source(), file) + ": expected '" + path + "' to be a finite number");
    } else if (name == "expect") {
      const std::string e = manifest_value<std::string>(v, file, path, "\"higher\" or \"lower\"");
      if (e != "higher" && e != "lower")
        throw HostError(manifest_position(v.source(), file) + ": expected '" + path +
                        "' to be \"higher\" or \"lower\", got \"" + e + "\"");
      c.expect_higher = e == "higher";
      has_expect = true;
    } else if (name == "factor") {
      c.factor = manifest_value<double>(v, file, path, "a number");
      if (!(c.factor > 0)) throw HostError(manifest_position(v.source(), file) + ": expected '" + path + "' > 0");
    } else if (name == "fails_below") c.fails_below = manifest_value<double>(v, file, path, "a number");
    else if (name == "fails_above") c.fails_above = manifest_value<double>(v, file, path, "a number");
    else
      throw HostError(manifest_position(k.source(), file) + ": unknown key '" + path + "'" + did_you_mean(name, known) +
                      "; expected one of " + join_names(known));
  }
  if (c.metric.empty()) throw HostError(c.position + ": " + key + " has no 'metric'");
  if (c.a.model.empty()) throw HostError(c.position + ": " + key + " has no cell 'a' = { model = ..., dataset = ... }");
  if (!has_expect)
    throw HostError(c.position + ": " + key + " has no 'expect' (\"higher\" or \"lower\": a against b or the bar)");
  if (c.b.has_value() == std::isfinite(c.bar))
    throw HostError(c.position + ": " + key +
                    " needs exactly one of 'b' (a cell to compare with) and 'bar' (a number)");
  if ((c.fails_below || c.fails_above) && c.statistic != Statistic::failure_rate)
    throw HostError(c.position + ": " + key + ": fails_below / fails_above apply to statistic = \"failure_rate\" only");
  return c;
}

}  // namespace

std::vector<Claim> read_claims(const toml::node& node, const fs::path& file) {
  const toml::array* array = node.as_array();
  if (array == nullptr)
    throw HostError(manifest_position(node.source(), file) + ": expected [[claims]] entries (an array of tables)");
  std::vector<Claim> claims;
  static const std::vector<std::string> known = {"id", "text", "experiment", "combine", "checks"};
  for (size_t i = 0; i < array->size(); ++i) {
    const toml::node& entry = *array->get(i);
    const toml::table* t = entry.as_table();
    const std::string key = "claims[" + std::to_string(i) + "]";
    if (t == nullptr) throw HostError(manifest_position(entry.source(), file) + ": expected " + key + " to be a table");
    Claim c;
    c.position = manifest_position(entry.source(), file);
    for (const auto& [k, v] : *t) {
      const std::string name(k.str()), path = key + "." + name;
      if (name == "id")
        c.id = v.is_integer() ? std::to_string(v.as_integer()->get())
                              : manifest_value<std::string>(v, file, path, "a string or integer");
      else if (name == "text") c.text = manifest_value<std::string>(v, file, path, "a string");
      else if (name == "experiment") c.experiment = manifest_value<std::string>(v, file, path, "a string");
      else if (name == "combine") {
        const std::string how = manifest_value<std::string>(v, file, path, "\"all\" or \"any\"");
        if (how != "all" && how != "any")
          throw HostError(manifest_position(v.source(), file) + ": expected '" + path +
                          "' to be \"all\" or \"any\", got \"" + how + "\"");
        c.all = how == "all";
      } else if (name == "checks") {
        const toml::array* checks = v.as_array();
        if (checks == nullptr)
          throw HostError(manifest_position(v.source(), file) + ": expected '" + path +
                          "' to be [[claims.checks]] tables");
        for (size_t j = 0; j < checks->size(); ++j)
          c.checks.push_back(read_check(*checks->get(j), file, path + "[" + std::to_string(j) + "]"));
      } else {
        throw HostError(manifest_position(k.source(), file) + ": unknown key '" + path + "'" +
                        did_you_mean(name, known) + "; expected one of " + join_names(known));
      }
    }
    if (c.id.empty() || c.text.empty()) throw HostError(c.position + ": " + key + " needs an 'id' and a 'text'");
    if (c.checks.empty())
      throw HostError(c.position + ": claim " + c.id + " has no [[claims.checks]]: nothing would test it");
    for (const auto& other : claims)
      if (other.id == c.id)
        throw HostError(c.position + ": claim id " + c.id + " is used twice (first at " + other.position + ")");
    claims.push_back(std::move(c));
  }
  return claims;
}

// ------------------------------------------------------------------------ judging

namespace {

bool same_value(const toml::node& want, const toml::node* have) {
  if (have == nullptr) return false;
  if (want.is_number() && have->is_number()) return want.value<double>() == have->value<double>();
  return value_text(want) == value_text(*have);
}

}  // namespace

bool cell_holds(const Cell& cell, const RunPlan& run) {
  if (run.model.name != cell.model || run.dataset.name != cell.dataset) return false;
  for (const auto& [k, v] : cell.params) {
    const toml::node* have = run.dataset.params.get(k.str());
    if (have == nullptr) have = run.model.params.get(k.str());
    if (!same_value(v, have)) return false;
  }
  return true;
}

namespace {

std::string number(double v) { return number_text(v, 3); }

// "vae on digits: 0.41 [0.38, 0.44] (3 runs)"
std::string estimate_text(const std::string& who, const Estimate& e) {
  if (!e.valid()) return who + ": " + (e.why.empty() ? "no figure" : e.why);
  return who + ": " + number(e.value) + " [" + number(e.low) + ", " + number(e.high) + "] (" + std::to_string(e.n) +
         " runs)";
}

Estimate estimate(const Check& check, const Cell& cell, const std::vector<RunGroup>& groups) {
  std::vector<double> values;
  size_t ended = 0, failed = 0, reporting = 0;
  std::vector<std::string> reported;  // what the cell's runs do report, for a misspelt metric
  std::string convention;
  std::set<std::string> conventions_seen;
  for (const auto& group : groups)
    for (const auto& run : group.runs) {
      if (!cell_holds(cell, *run.plan)) continue;
      // A run that records no convention for the metric (an evaluation older than them)
      // beside one that does: the cell mixes conventions too.
      const auto c = run.conventions.find(check.metric);
      const std::string mine = c == run.conventions.end() ? "none recorded" : c->second;
      if (!run.conventions.empty() || c != run.conventions.end()) conventions_seen.insert(mine);
      // A run ends finished or "<step> failed"; one not run, running or cancelled is no evidence.
      const bool finished = run.state == "finished";
      const bool crashed = run.state.size() > 7 && run.state.compare(run.state.size() - 7, 7, " failed") == 0;
      if (!finished && !crashed) continue;
      ++ended;
      const auto found = finished ? run.metrics.find(check.metric) : run.metrics.end();
      if (finished && found == run.metrics.end() && reported.empty())
        for (const auto& [key, value] : run.metrics)
          if (key.compare(0, check.metric.find('.') + 1, check.metric, 0, check.metric.find('.') + 1) == 0)
            reported.push_back(key);
      reporting += found != run.metrics.end();
      const double v = found != run.metrics.end() ? found->second : NAN;
      if (check.statistic != Statistic::failure_rate) {
        if (finished) values.push_back(v);
        continue;
      }
      failed += !std::isfinite(v) || (check.fails_below && v < *check.fails_below) ||
                (check.fails_above && v > *check.fails_above);
    }
  if (reporting == 0 && !reported.empty()) {  // a value name the metric does not have
    Estimate none;
    none.why = "no run reports '" + check.metric + "' (they report " + join_names(reported) + ")";
    return none;
  }
  Estimate out;
  switch (check.statistic) {
    case Statistic::mean: out = mean_estimate(values); break;
    case Statistic::std: out = std_estimate(values); break;
    case Statistic::cv: out = cv_estimate(values); break;
    case Statistic::failure_rate: out = rate_estimate(failed, ended); break;
  }
  // "none recorded" alone is no convention (metrics and costs that record none).
  if (!(conventions_seen.size() == 1 && *conventions_seen.begin() == "none recorded"))
    for (const auto& c : conventions_seen) convention += (convention.empty() ? "" : " | ") + c;
  out.convention = convention;
  return out;
}

}  // namespace

std::string Cell::label() const {
  std::string text = model + " on " + dataset;
  std::string at;
  for (const auto& [k, v] : params) at += (at.empty() ? "" : ", ") + std::string(k.str()) + "=" + value_text(v);
  return at.empty() ? text : text + " (" + at + ")";
}

void check_claims_cover(const std::vector<Claim>& claims, const std::vector<RunPlan>& runs) {
  for (const auto& claim : claims)
    for (const auto& check : claim.checks) {
      const size_t dot = check.metric.find('.');
      const std::string metric = check.metric.substr(0, dot);
      if (dot == std::string::npos || dot + 1 == check.metric.size())
        throw HostError(check.position + ": claim " + claim.id + " checks metric '" + check.metric +
                        "'; expected <metric>.<value>, e.g. \"fid.fid\" or \"cost.samples_per_second\"");
      for (const Cell* cell : {&check.a, check.b ? &*check.b : nullptr}) {
        if (cell == nullptr) continue;
        std::vector<const RunPlan*> held;
        for (const auto& r : runs)
          if (cell_holds(*cell, r)) held.push_back(&r);
        if (held.empty())
          throw HostError(
              cell->position + ": claim " + claim.id + ": the cell " + cell->label() +
              " holds no run of the plan; expected a model and dataset of the manifest, and parameter values "
              "its runs have");
        if (metric == "cost") continue;  // the host measures costs of every run
        for (const RunPlan* r : held) {
          std::vector<std::string> names;
          for (const auto& m : r->metrics) names.push_back(m.name);
          if (std::find(names.begin(), names.end(), metric) == names.end())
            throw HostError(
                check.position + ": claim " + claim.id + " checks '" + check.metric + "' of " + cell->label() +
                ", but run " + r->name + " does not compute metric '" + metric + "'" + did_you_mean(metric, names) +
                " (it computes " + (names.empty() ? std::string("none") : join_names(names)) +
                " and cost.*); define [metrics." + metric + "], or widen its models / datasets lists to this run");
        }
      }
    }
}

std::vector<ClaimResult> judge_claims(const std::vector<Claim>& claims, const std::vector<RunGroup>& groups) {
  std::vector<ClaimResult> results;
  for (const auto& claim : claims) {
    ClaimResult result;
    result.claim = &claim;
    std::vector<Verdict> verdicts;
    for (const auto& check : claim.checks) {
      CheckResult r;
      r.a = estimate(check, check.a, groups);
      r.b = check.b ? estimate(check, *check.b, groups) : Estimate::exactly(check.bar);
      r.verdict = judge(r.a, r.b, check.expect_higher, check.factor);
      // Unlike numbers (a Bernoulli likelihood against a dequantised one) decide nothing.
      const bool unlike = check.b && check.statistic != Statistic::failure_rate && r.a.convention != r.b.convention;
      if (unlike) r.verdict = Verdict::inconclusive;
      const std::string stat =
          check.statistic == Statistic::mean ? "" : std::string(statistic_name(check.statistic)) + " of ";
      const std::string relation = check.expect_higher ? " > " : " < ";
      const std::string scaled = check.factor == 1 ? "" : number(check.factor) + " × ";
      const std::string against = check.b ? estimate_text(check.b->label(), r.b) : "the bar " + number(check.bar);
      std::string outcome = "intervals overlap";
      if (!r.a.valid() || !r.b.valid()) outcome = "no interval";
      else if (unlike)
        outcome = "not comparable: the values differ in convention (" +
                  (r.a.convention.empty() ? std::string("none recorded") : r.a.convention) + " against " +
                  (r.b.convention.empty() ? std::string("none recorded") : r.b.convention) + ")";
      else if (r.verdict == Verdict::supported) outcome = "holds, intervals apart";
      else if (r.verdict == Verdict::not_supported)
        // With a factor, failing is not the opposite: 2.39 is above 2.31 yet below 1.1 x 2.31.
        outcome =
            (check.factor == 1 ? std::string("the opposite holds")
                               : std::string(check.expect_higher ? "a is below " : "a is above ") + scaled + "b") +
            ", intervals apart";
      r.reason = stat + check.metric + ": expected " + check.a.label() + relation + scaled +
                 (check.b ? check.b->label() : number(check.bar)) + "; " + estimate_text(check.a.label(), r.a) +
                 (check.b ? "; " + against : "") + ": " + outcome;
      verdicts.push_back(r.verdict);
      result.checks.push_back(std::move(r));
    }
    result.verdict = combine(verdicts, claim.all);
    // The reason: the checks that decided it first.
    for (int pass = 0; pass < 2; ++pass)
      for (const auto& r : result.checks)
        if ((r.verdict == result.verdict) == (pass == 0))
          result.reason += (result.reason.empty() ? "" : " | ") + r.reason;
    results.push_back(std::move(result));
  }
  return results;
}

std::vector<std::string> unsettled_groups(const std::vector<ClaimResult>& results, const std::vector<RunPlan>& runs) {
  std::vector<std::string> groups;
  for (const auto& result : results) {
    if (result.verdict != Verdict::inconclusive) continue;
    for (size_t i = 0; i < result.checks.size(); ++i) {
      if (result.checks[i].verdict != Verdict::inconclusive) continue;
      const Check& check = result.claim->checks[i];
      for (const Cell* cell : {&check.a, check.b ? &*check.b : nullptr})
        for (const auto& r : runs)
          if (cell != nullptr && cell_holds(*cell, r) &&
              std::find(groups.begin(), groups.end(), seed_group(r)) == groups.end())
            groups.push_back(seed_group(r));
    }
  }
  return groups;
}

size_t seeds_to_separate(const Check& check, const CheckResult& result) {
  if (check.statistic != Statistic::mean || result.verdict != Verdict::inconclusive) return 0;
  // The sample standard deviation behind an interval of n runs: half = t(n-1) s / sqrt(n).
  auto spread = [](const Estimate& e) {
    if (e.n == 0) return 0.0;  // a bar
    return (e.high - e.low) / 2 * std::sqrt(static_cast<double>(e.n)) / t_quantile_975(e.n - 1);
  };
  const Estimate& a = result.a;
  const Estimate& b = result.b;
  if (!a.valid() || !b.valid() || a.n < 2 || (check.b && b.n < 2)) return 0;
  const double gap = std::abs(a.value - check.factor * b.value);
  const double s = spread(a) + std::abs(check.factor) * spread(b);
  if (!(gap > 0) || !std::isfinite(s)) return 0;
  for (size_t n = std::max<size_t>(2, std::max(a.n, b.n)); n <= 1000; ++n)
    if (t_quantile_975(n - 1) * s / std::sqrt(static_cast<double>(n)) < gap) return n;
  return 0;
}

}  // namespace genlab
