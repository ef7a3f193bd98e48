#include "search_report.hpp"

#include <cmath>
#include <sstream>

#include "genlab/core/search.hpp"
#include "genlab/util/json.hpp"
#include "statistics.hpp"

namespace genlab {

using doc::text;

// A point per trial where it got furthest: its final evaluation, or its last rung.
void add_search(doc::Document& d, const Experiment& e) {
  const std::vector<SearchOutcome> outcomes = search_outcomes(e);
  if (outcomes.empty()) return;
  d.add({doc::Heading{2, {text("Search")}}});
  const std::string how = e.search.asha()
                              ? "ASHA (min_steps " + std::to_string(e.search.min_steps) + ", eta " +
                                    std::to_string(e.search.eta) + ") on " + e.search.metric + " during training"
                              : std::string("random search, every trial trained to the end");
  const std::string budget = e.search.cpu_seconds > 0 ? "no new trial begun once a model's trials had spent " +
                                                            number_text(e.search.cpu_seconds) +
                                                            " training CPU seconds (those begun are finished)"
                                                      : "the same trials for every model";
  d.add({doc::Paragraph{
      {text("At most " + std::to_string(e.search.trials) + " trials per model, seed " + std::to_string(e.search.seed) +
            ", " + how + "; " + budget + ": each family got the same tuning budget.")}}});
  doc::Table t{{"search", "trials begun", "to the end", "stopped", "steps spent", "train CPU s", "best trial",
                e.search.metric.empty() ? "metric" : e.search.metric}};
  std::ostringstream points;
  for (const auto& g : outcomes) {
    std::string best = g.best == nullptr ? "" : g.best->name.substr(g.group.size() + 1);
    t.rows.push_back({g.group, std::to_string(g.begun) + " of " + std::to_string(g.trials.size()),
                      std::to_string(g.finished), std::to_string(g.stopped),
                      std::to_string(g.steps_spent) + " of " + std::to_string(g.steps_if_all_finished),
                      number_text(g.cpu_seconds), best, g.best == nullptr ? "" : number_text(g.best_value)});
    for (size_t i = 0; i < g.trials.size(); ++i)
      for (const auto& [key, value] : g.trials[i]->searched)
        if (value.is_number() && std::isfinite(g.values[i]))
          points << (points.tellp() > 0 ? "," : "") << "{\"search\":" << json_quote(g.group)
                 << ",\"parameter\":" << json_quote(std::string(key.str()))
                 << ",\"value\":" << json_number(value.value_or(0.0)) << ",\"metric\":" << json_number(g.values[i])
                 << ",\"reached\":" << json_quote("step " + std::to_string(g.steps[i]))
                 << ",\"trial\":" << json_quote(g.trials[i]->name.substr(g.group.size() + 1)) << "}";
  }
  d.add({t});
  if (points.tellp() == 0) return;
  d.add(doc::Format::html, {doc::Heading{3, {text(e.search.metric + " against each searched parameter")}}});
  d.add({doc::Chart{
      "{\"$schema\":\"https://vega.github.io/schema/vega-lite/v5.json\",\"data\":{\"values\":[" + points.str() +
          "]},\"facet\":{\"row\":{\"field\":\"search\",\"type\":\"nominal\",\"title\":null},"
          "\"column\":{\"field\":\"parameter\",\"type\":\"nominal\",\"title\":null}},"
          "\"resolve\":{\"scale\":{\"x\":\"independent\"}},"
          "\"spec\":{\"width\":240,\"height\":160,\"mark\":{\"type\":\"point\",\"filled\":true},"
          "\"encoding\":{\"x\":{\"field\":\"value\",\"type\":\"quantitative\",\"scale\":{\"zero\":false}},"
          "\"y\":{\"field\":\"metric\",\"type\":\"quantitative\",\"title\":" +
          json_quote(e.search.metric) +
          ",\"scale\":{\"zero\":false}},\"color\":{\"field\":\"reached\",\"type\":\"nominal\"},"
          "\"tooltip\":[{\"field\":\"trial\"},{\"field\":\"metric\"},{\"field\":\"reached\"}]}}}",
      {text("The metric against each searched parameter, a point per trial: in report.html.")}}});
}

}  // namespace genlab
