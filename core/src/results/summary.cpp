// summary.md and summary.json: one row per run with its train and evaluate states and the
// final metrics, written by `genlab run` when its scheduler is done.
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include "genlab/core/json.hpp"
#include "genlab/core/scheduler.hpp"
#include "genlab/util/error.hpp"
#include "genlab/util/files.hpp"

namespace genlab {
namespace fs = std::filesystem;
namespace {

std::string metric_text(const toml::node& node) {
  if (const auto* d = node.as_floating_point()) {
    std::ostringstream out;
    out << std::setprecision(5) << d->get();
    return out.str();
  }
  if (const auto* i = node.as_integer()) return std::to_string(i->get());
  if (const auto* s = node.as_string()) return s->get();
  return "?";
}

}  // namespace

void write_summary(const Experiment& e, const ScheduleResult& result) {
  struct Row {
    std::string name, train, evaluate, reason;
    const toml::table* metrics = nullptr;
    std::optional<toml::table> done;
  };
  std::vector<Row> rows;
  std::map<std::string, size_t> by_name;
  for (const auto& node : result.nodes) {
    if (node.kind == NodeKind::Prepare) continue;
    const std::string name = node.label.substr(node.label.find(' ') + 1);
    auto [it, inserted] = by_name.emplace(name, rows.size());
    if (inserted) rows.push_back(Row{name, "", "", "", nullptr, std::nullopt});
    Row& row = rows[it->second];
    (node.kind == NodeKind::Train ? row.train : row.evaluate) = node_state_name(node.state);
    if (!node.reason.empty() && row.reason.empty()) row.reason = node.reason;
    if (node.kind == NodeKind::Evaluate && node.state == NodeState::Finished) {
      row.done = read_toml(done_file(node.dir, NodeKind::Evaluate));
      if (row.done) row.metrics = (*row.done)["metrics"].as_table();
    }
  }
  std::vector<std::string> columns;
  for (const auto& row : rows)
    if (row.metrics)
      for (const auto& [k, v] : *row.metrics)
        if (std::find(columns.begin(), columns.end(), std::string(k.str())) == columns.end())
          columns.emplace_back(k.str());
  if (!e.report.sort_by.empty()) {
    auto value = [&](const Row& r) {
      const toml::node* n = r.metrics ? r.metrics->get(e.report.sort_by) : nullptr;
      return n && n->is_number() ? n->value_or(0.0) : INFINITY;
    };
    std::stable_sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) { return value(a) < value(b); });
  }

  toml::array runs;
  std::ostringstream md;
  md << "# " << e.report.title << "\n\nManifest: `" << e.file.string() << "`\n\n| run | train | evaluate |";
  for (const auto& c : columns) md << " " << c << " |";
  md << "\n|---|---|---|";
  for (size_t i = 0; i < columns.size(); ++i) md << "---|";
  md << "\n";
  for (const auto& row : rows) {
    toml::table t{{"run", row.name}, {"train", row.train}, {"evaluate", row.evaluate}};
    if (!row.reason.empty()) t.insert("reason", row.reason);
    if (row.metrics) t.insert("metrics", *row.metrics);
    runs.push_back(std::move(t));
    md << "| " << row.name << " | " << row.train << " | " << row.evaluate << " |";
    for (const auto& c : columns) {
      const toml::node* n = row.metrics ? row.metrics->get(c) : nullptr;
      md << " " << (n ? metric_text(*n) : "") << " |";
    }
    md << "\n";
  }
  for (const auto& row : rows)
    if (!row.reason.empty()) md << "\n- " << row.name << ": " << row.reason;
  md << "\n";
  try {
    fs::create_directories(e.folder());
    write_file_atomic(
        e.folder() / "summary.json",
        to_json(toml::table{{"experiment", e.name}, {"manifest", e.file.string()}, {"runs", std::move(runs)}}) + "\n",
        Durability::AtomicOnly);
    write_file_atomic(e.folder() / "summary.md", md.str(), Durability::AtomicOnly);
  } catch (const HostError& err) {
    std::cerr << "warning: summary not written: " << err.what() << "\n";
  }
}

}  // namespace genlab
