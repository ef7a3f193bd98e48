// The headline of each dataset: a row per model, at most 8 columns (the model, its main
// quality metrics, its likelihood, samples/s and train seconds), what `genlab run` prints at
// its end and what the report shows first; the full table stays in summary.md and below the
// headline in the report. Also the grouping of a dataset's runs that both use.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "genlab/core/report.hpp"
#include "report_data.hpp"
#include "statistics.hpp"

namespace genlab {

DatasetGroups::DatasetGroups(const std::vector<RunGroup>& all, const std::string& name)
    : dataset(name), groups(groups_of(all, name)) {
  columns = metric_columns(groups);
  mixed = mixed_conventions(groups, columns);
}

std::string DatasetGroups::direction(const std::string& column) const {
  for (const auto* g : groups)
    if (auto it = g->directions.find(column); it != g->directions.end()) return it->second;
  return "none";
}

bool DatasetGroups::best(const RunGroup& g, const std::string& column) const {
  const auto it = g.stats.find(column);
  const std::string d = direction(column);
  size_t peers = 0;
  for (const auto* other : groups)
    peers += other->convention(column) == g.convention(column) && other->stats.count(column);
  bool best = it != g.stats.end() && it->second.n > 0 && d != "none" && peers > 1;
  for (const auto* other : groups) {
    const auto o = other->stats.find(column);
    if (best && other->convention(column) == g.convention(column) && o != other->stats.end() && o->second.n > 0 &&
        better(d, o->second.mean, it->second.mean))
      best = false;
  }
  return best;
}

namespace {

constexpr size_t kHeadlineMetrics = 5;  // with the model and two costs: 8 columns
const char* const kCosts[] = {"cost.samples_per_second", "cost.train_seconds"};

std::string value_name(const std::string& column) {
  const size_t dot = column.find('.');
  return dot == std::string::npos ? column : column.substr(dot + 1);
}
std::string metric_name(const std::string& column) { return column.substr(0, column.find('.')); }

}  // namespace

std::vector<std::string> headline_columns(const Experiment& e, const DatasetGroups& ds) {
  std::vector<std::string> out;
  auto present = [&](const std::string& c) {
    return std::find(ds.columns.begin(), ds.columns.end(), c) != ds.columns.end();
  };
  for (const auto& c : e.report.headline)  // those of report.headline this dataset has
    if (present(c) && out.size() < kHeadlineMetrics) out.push_back(c);
  if (out.empty()) {
    // The likelihood, in bits (per dimension or token), keeps a place of its own.
    const auto likelihood = std::find_if(ds.columns.begin(), ds.columns.end(), [&](const std::string& c) {
      return value_name(c).rfind("bits_per_", 0) == 0 && ds.direction(c) != "none";
    });
    const size_t quality_places = kHeadlineMetrics - (likelihood != ds.columns.end() ? 1 : 0);
    // ds.columns are by metric name (the plan's order), each metric's values in the order
    // its plugin gave them: the first with a direction stands for its metric (fid.fid,
    // kid.kid, precision_recall.precision, density_coverage.density, ...).
    std::vector<std::string> taken;
    if (likelihood != ds.columns.end()) taken.push_back(metric_name(*likelihood));
    for (const auto& c : ds.columns) {
      if (out.size() == quality_places) break;
      const std::string metric = metric_name(c);
      if (metric == "cost" || std::find(taken.begin(), taken.end(), metric) != taken.end() || ds.direction(c) == "none")
        continue;
      taken.push_back(metric);
      out.push_back(c);
    }
    if (likelihood != ds.columns.end()) out.push_back(*likelihood);
  }
  for (const char* cost : kCosts)
    if (present(cost)) out.push_back(cost);
  return out;
}

std::string headline_title(const DatasetGroups& ds, const std::string& column) {
  std::string title = value_name(column);
  if (column == "cost.samples_per_second") title = "samples/s";
  else if (column == "cost.train_seconds") title = "train s";
  else if (title.rfind("bits_per_", 0) == 0) title = "bits/" + title.substr(9);
  // Two metrics' values of one name (two FIDs) keep their metric's name.
  for (const auto& other : ds.columns)
    if (other != column && value_name(other) == value_name(column) && metric_name(column) != "cost") {
      title = column;
      break;
    }
  const std::string d = ds.direction(column);
  return title + (d == "lower" ? " ↓" : d == "higher" ? " ↑" : "");
}

namespace {

// Columns of text, each as wide as its widest cell; UTF-8 aware (the arrows and ±).
size_t display_width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}
std::string pad(const std::string& s, size_t width) {
  return s + std::string(width - std::min(width, display_width(s)), ' ');
}
std::string cut(const std::string& s, size_t width) {
  if (display_width(s) <= width) return s;
  std::string out;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80 && display_width(out) + 1 == width) break;
    out += static_cast<char>(c);
  }
  return out + "…";
}

// "mean±half" at 3 significant digits (2 for the half-width), "*" on the best.
std::string cell(const DatasetGroups& ds, const RunGroup& g, const std::string& column, bool with_spread) {
  const auto it = g.stats.find(column);
  if (it == g.stats.end()) return "";
  const Stats& s = it->second;
  if (s.n == 0) return s.not_finite ? "NaN" : "";
  std::string text = number_text(s.mean, 3);
  if (with_spread && s.n > 1) text += "±" + number_text(s.half_width, 2);
  return text + (ds.best(g, column) ? "*" : "");
}

}  // namespace

std::vector<ComparisonTable> comparison_tables(const Experiment& e, const std::vector<RunGroup>& groups) {
  std::vector<ComparisonTable> out;
  for (const auto& dataset : datasets_of(groups)) {
    const DatasetGroups ds(groups, dataset);
    ComparisonTable t;
    t.dataset = dataset;
    t.columns = headline_columns(e, ds);
    t.headline = t.columns.size();
    for (const auto& c : ds.columns)
      if (std::find(t.columns.begin(), t.columns.end(), c) == t.columns.end()) t.columns.push_back(c);
    for (size_t i = 0; i < t.columns.size(); ++i) {
      const std::string d = ds.direction(t.columns[i]);
      t.titles.push_back(i < t.headline ? headline_title(ds, t.columns[i])
                                        : t.columns[i] + (d == "lower"    ? " ↓"
                                                          : d == "higher" ? " ↑"
                                                                          : ""));
    }
    for (const auto* g : ds.groups) {
      ComparisonTable::Row row{g->label, g->model_plugin, 0, g->runs.size(), {}, {}};
      for (const auto& r : g->runs) row.finished += r.state == "finished";
      for (const auto& c : t.columns) {
        const auto it = g->stats.find(c);
        row.cells.push_back(it == g->stats.end() ? "" : stats_text(it->second));
        row.best.push_back(ds.best(*g, c));
      }
      t.rows.push_back(std::move(row));
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::string headline_text(const Experiment& e, size_t width) {
  const std::vector<RunGroup> groups = group_runs(e);
  std::ostringstream out;
  for (const auto& dataset : datasets_of(groups)) {
    const DatasetGroups ds(groups, dataset);
    const std::vector<std::string> columns = headline_columns(e, ds);
    // Rows of cells; the spreads go first when the table would not fit, then the model
    // column is cut.
    for (bool with_spread : {true, false}) {
      std::vector<std::vector<std::string>> rows{{"model (seeds ok)"}};
      for (const auto& c : columns) rows[0].push_back(headline_title(ds, c));
      for (const auto* g : ds.groups) {
        size_t finished = 0;
        for (const auto& r : g->runs) finished += r.state == "finished";
        rows.push_back({g->label + " (" + std::to_string(finished) + "/" + std::to_string(g->runs.size()) + ")"});
        for (const auto& c : columns) rows.back().push_back(cell(ds, *g, c, with_spread));
      }
      std::vector<size_t> widths(rows[0].size(), 0);
      for (const auto& row : rows)
        for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], display_width(row[i]));
      size_t total = 0;
      for (size_t w : widths) total += w + 2;
      if (total > width && with_spread) continue;
      if (total > width) widths[0] -= std::min(widths[0] - 8, total - width);
      out << dataset << "\n";
      for (const auto& row : rows) {
        std::string line = " ";
        for (size_t i = 0; i < row.size(); ++i) line += " " + pad(cut(row[i], widths[i]), widths[i]) + " ";
        while (!line.empty() && line.back() == ' ') line.pop_back();
        out << line << "\n";
      }
      break;
    }
  }
  if (out.tellp() > 0) out << "(mean±95% interval over seeds; * best of its column)\n";
  return out.str();
}

}  // namespace genlab
