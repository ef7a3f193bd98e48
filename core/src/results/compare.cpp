// The terminal's view of the results: `genlab compare` (groups ranked per metric) and the
// claims' verdicts that `genlab run` and `genlab report` print.
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "genlab/core/claims.hpp"
#include "genlab/core/report.hpp"
#include "report_data.hpp"

namespace genlab {

std::string compare_text(const Experiment& e, const std::string& only) {
  const std::vector<RunGroup> groups = group_runs(e);
  std::ostringstream out;
  for (const auto& dataset : datasets_of(groups)) {
    const std::vector<const RunGroup*> gs = groups_of(groups, dataset);
    for (const auto& metric : metric_columns(gs)) {
      if (!only.empty() && metric.find(only) == std::string::npos) continue;
      std::string direction = "none";
      for (const auto* g : gs)
        if (auto it = g->directions.find(metric); it != g->directions.end()) direction = it->second;
      // Values of different conventions (a Bernoulli likelihood beside a dequantised one)
      // are ranked apart, each under its convention.
      std::map<std::string, std::vector<const RunGroup*>> by_convention;
      for (const auto* g : gs)
        if (auto it = g->stats.find(metric); it != g->stats.end() && (it->second.n > 0 || it->second.not_finite > 0))
          by_convention[g->convention(metric)].push_back(g);
      for (auto& [convention, ranked] : by_convention) {
        std::stable_sort(ranked.begin(), ranked.end(), [&](const RunGroup* a, const RunGroup* b) {
          const Stats &x = a->stats.at(metric), &y = b->stats.at(metric);
          if (x.n == 0 || y.n == 0) return x.n > y.n;  // NaN last
          return direction != "none" && better(direction, x.mean, y.mean);
        });
        out << dataset << "  " << metric
            << (direction == "lower"    ? "  (lower is better)"
                : direction == "higher" ? "  (higher is better)"
                                        : "  (no direction)")
            << (by_convention.size() > 1
                    ? "  [" + (convention.empty() ? std::string("no convention recorded") : convention) +
                          "; not ranked against the other " + std::to_string(by_convention.size() - 1) +
                          " convention(s)]"
                    : std::string())
            << "\n";
        for (size_t i = 0; i < ranked.size(); ++i) {
          const Stats& s = ranked[i]->stats.at(metric);
          // Overlapping intervals: the order between neighbours is not settled by these seeds.
          std::string note;
          if (i > 0) {
            const Stats& prev = ranked[i - 1]->stats.at(metric);
            if (s.n > 1 && prev.n > 1 && std::abs(s.mean - prev.mean) <= s.half_width + prev.half_width)
              note = "  (interval overlaps the one above)";
          }
          out << "  " << (direction == "none" ? std::string("-") : std::to_string(i + 1)) << ". " << std::left
              << std::setw(36) << ranked[i]->label << std::right << " " << stats_text(s) << "  n=" << s.n << note
              << "\n";
        }
      }
    }
  }
  if (out.tellp() == 0)
    return "no finished evaluations" + (only.empty() ? std::string() : " with a metric matching '" + only + "'") + "\n";
  return out.str();
}

std::string claims_text(const Experiment& e) {
  if (e.claims.empty()) return "";
  const std::vector<ClaimResult> results = judge_claims(e.claims, group_runs(e));
  std::ostringstream out;
  out << "claims (details in report.md):\n";
  for (const auto& r : results)
    out << "  " << std::left << std::setw(4) << r.claim->id << std::setw(15) << verdict_name(r.verdict) << r.claim->text
        << "\n";
  return out.str();
}

}  // namespace genlab
