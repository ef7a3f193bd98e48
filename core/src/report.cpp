#include "genlab/core/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <set>
#include <sstream>
#include <boost/math/distributions/students_t.hpp>

#include "genlab/core/claims.hpp"
#include "genlab/core/error.hpp"
#include "genlab/core/json.hpp"
#include "genlab/core/registration.hpp"
#include "genlab/core/safetensors.hpp"
#include "genlab/core/util/files.hpp"
#include "genlab/core/util/json.hpp"
#include "genlab/core/workspace.hpp"
#include "genlab/genlab_util.h"

namespace genlab {
namespace fs = std::filesystem;

// Boost.Math's Student-t quantile: exact for every df, where a 3-decimal table and a 1/df tail were not.
double t_quantile_975(size_t df) {
  return df == 0 ? NAN : boost::math::quantile(boost::math::students_t(static_cast<double>(df)), 0.975);
}

Stats summarize(const std::vector<double>& values) {
  Stats s;
  double sum = 0;
  for (double v : values) {
    if (!std::isfinite(v)) {
      ++s.not_finite;
      continue;
    }
    ++s.n;
    sum += v;
  }
  if (s.n == 0) return s;
  s.mean = sum / static_cast<double>(s.n);
  if (s.n < 2) return s;
  double squares = 0;
  for (double v : values)
    if (std::isfinite(v)) squares += (v - s.mean) * (v - s.mean);
  s.std = std::sqrt(squares / static_cast<double>(s.n - 1));
  s.half_width = t_quantile_975(s.n - 1) * s.std / std::sqrt(static_cast<double>(s.n));
  return s;
}

namespace {

// The run's name without "-s<seed>": the label its seeds share.
std::string group_label(const RunPlan& r) {
  const std::string seed = "-s" + std::to_string(r.seed);
  const size_t prefix = r.model.name.size() + 1 + r.dataset.name.size();
  if (r.name.compare(prefix, seed.size(), seed) == 0) {
    const size_t end = prefix + seed.size();
    if (end == r.name.size() || r.name[end] == '-') return r.name.substr(0, prefix) + r.name.substr(end);
  }
  return r.name;
}

std::string number_text(double v, int digits = 4) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::ostringstream out;
  out << std::setprecision(digits) << v;
  return out.str();
}

// "mean ± half-width (n)" or "NaN" when no seed gave a number.
std::string stats_text(const Stats& s) {
  if (s.n == 0) return s.not_finite ? "NaN" : "";
  std::string text = number_text(s.mean);
  if (s.n > 1) text += " ± " + number_text(s.half_width, 2);
  if (s.not_finite) text += " (" + std::to_string(s.not_finite) + " NaN)";
  return text;
}

bool better(const std::string& direction, double a, double b) {
  return direction == "higher" ? a > b : a < b;
}

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string base64(const std::string& bytes) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += alphabet[(v >> shift) & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= uint8_t(bytes[i + 1]) << 8;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

constexpr size_t run_metrics_limit = 1u << 20;

// The metric columns of some groups, per-class entries left out.
std::vector<std::string> metric_columns(const std::vector<const RunGroup*>& groups) {
  std::vector<std::string> columns;
  for (const auto* g : groups)
    for (const auto& run : g->runs)
      for (const auto& [key, value] : run.metrics)
        if (key.find(".recall_class_") == std::string::npos && key.find(".share_class_") == std::string::npos &&
            std::find(columns.begin(), columns.end(), key) == columns.end())
          columns.push_back(key);
  // In the manifest's order of metrics, then the host's costs.
  auto rank = [&](const std::string& key) {
    const std::string metric = key.substr(0, key.find('.'));
    for (const auto* g : groups)
      for (const auto& run : g->runs)
        for (size_t i = 0; i < run.plan->metrics.size(); ++i)
          if (run.plan->metrics[i].name == metric) return i;
    return run_metrics_limit;
  };
  std::stable_sort(columns.begin(), columns.end(), [&](const std::string& a, const std::string& b) { return rank(a) < rank(b); });
  return columns;
}

// The columns whose rows hold values of more than one convention, and a tag per convention.
std::map<std::string, std::map<std::string, int>> mixed_conventions(const std::vector<const RunGroup*>& groups,
                                                                    const std::vector<std::string>& columns) {
  std::map<std::string, std::map<std::string, int>> out;
  for (const auto& c : columns) {
    std::map<std::string, int> tags;
    for (const auto* g : groups)
      if (g->stats.count(c)) tags.emplace(g->convention(c), 0);
    if (tags.size() < 2) continue;
    int next = 1;
    for (auto& [convention, tag] : tags) tag = next++;
    out[c] = std::move(tags);
  }
  return out;
}

// The quality metric of a dataset's chart: report.quality if they have it, else the first
// metric that has a direction and is not a cost.
std::string quality_metric(const Experiment& e, const std::vector<const RunGroup*>& groups) {
  const auto columns = metric_columns(groups);
  if (!e.report.quality.empty() && std::find(columns.begin(), columns.end(), e.report.quality) != columns.end())
    return e.report.quality;
  for (const auto& c : columns) {
    if (c.rfind("cost.", 0) == 0 || c.rfind("classifier.", 0) == 0 || c.find("classifier_accuracy") != std::string::npos)
      continue;
    for (const auto* g : groups)
      if (auto it = g->directions.find(c); it != g->directions.end() && it->second != "none") return c;
  }
  return "";
}

// The first `limit` rows of the first output of a samples file, as a PNG grid (images) or
// a scatter plot (2-D points); empty if the outputs are neither.
std::string sample_png(const fs::path& samples, const fs::path& png, int64_t limit) {
  if (!fs::exists(samples)) return "";
  SafetensorsContents contents = read_safetensors(samples);
  if (contents.tensors->count == 0) return "";
  DLManagedTensor* first = contents.tensors->tensors[0];
  const DLTensor& t = first->dl_tensor;
  const bool image = t.ndim == 4 && (t.shape[1] == 1 || t.shape[1] == 3);
  const bool points = t.ndim == 2 && t.shape[1] == 2;
  if (!image || !genlab_util_is_cpu_compact(&t, genlab_util_dtype_float32())) {
    if (!points) return "";
  }
  DLManagedTensor view = *first;
  std::vector<int64_t> shape(t.shape, t.shape + t.ndim);
  if (image) shape[0] = std::min(shape[0], limit);
  view.dl_tensor.shape = shape.data();
  view.deleter = nullptr;
  DLManagedTensor* views[] = {&view};
  const char* names[] = {contents.tensors->names[0]};
  const genlab_tensor_map map{GENLAB_TENSOR_MAP_STRUCT_SIZE, 1, names, views, nullptr};
  fs::create_directories(png.parent_path());
  write_samples_png(map, png);
  return read_file(png);
}

// Up to `limit` text samples of a samples file's "text" output (uint8 [N, L], zero-padded).
std::vector<std::string> sample_texts(const fs::path& samples, size_t limit) {
  std::vector<std::string> out;
  if (!fs::exists(samples)) return out;
  SafetensorsContents contents = read_safetensors(samples);
  const long at = genlab_util_tensor_map_find(contents.tensors.get(), "text");
  if (at < 0) return out;
  const DLTensor& t = contents.tensors->tensors[at]->dl_tensor;
  if (t.ndim != 2 || t.dtype.code != kDLUInt || t.dtype.bits != 8) return out;
  const auto* bytes = static_cast<const char*>(t.data) + t.byte_offset;
  for (int64_t i = 0; i < t.shape[0] && out.size() < limit; ++i) {
    std::string s(bytes + i * t.shape[1], static_cast<size_t>(t.shape[1]));
    s.resize(std::strlen(s.c_str()));
    out.push_back(s);
  }
  return out;
}

// The first loss of each logged step, thinned to at most `points` steps.
std::vector<std::pair<int64_t, double>> loss_curve(const fs::path& losses, size_t points, std::string& name) {
  std::vector<std::pair<int64_t, double>> all;
  std::ifstream in(losses);
  std::string line;
  while (std::getline(in, line)) {
    try {
      const JsonValue v = parse_json(line, losses.string());
      if (v.object.size() < 2 || v.object[0].first != "step" || v.object[1].second.type != JsonValue::Type::Number)
        continue;
      name = v.object[1].first;
      all.emplace_back(v.object[0].second.integer, v.object[1].second.number);
    } catch (const HostError&) {
      break;  // a torn last line of an interrupted run
    }
  }
  if (all.size() <= points) return all;
  // Mean over windows, so the curve shows the trend rather than one noisy batch.
  std::vector<std::pair<int64_t, double>> thinned;
  const size_t window = (all.size() + points - 1) / points;
  for (size_t i = 0; i < all.size(); i += window) {
    double sum = 0;
    size_t n = 0;
    for (size_t j = i; j < std::min(all.size(), i + window); ++j, ++n) sum += all[j].second;
    thinned.emplace_back(all[std::min(all.size() - 1, i + window - 1)].first, sum / static_cast<double>(n));
  }
  return thinned;
}

std::string json_number(double v) { return std::isfinite(v) ? number_text(v, 8) : "null"; }

}  // namespace

std::vector<RunGroup> group_runs(const Experiment& e) {
  std::vector<RunGroup> groups;
  for (const auto& r : e.runs) {
    RunOutcome o;
    o.plan = &r;
    o.run_dir = e.folder() / "runs" / r.folder_name();
    o.eval_dir = o.run_dir / r.eval_folder_name();
    if (const auto done = read_toml(done_file(o.eval_dir, NodeKind::Evaluate))) {
      o.state = "finished";
      if (const toml::table* metrics = (*done)["metrics"].as_table())
        for (const auto& [k, v] : *metrics) o.metrics[std::string(k.str())] = v.is_number() ? v.value_or(0.0) : NAN;
      if (const toml::table* directions = (*done)["directions"].as_table())
        for (const auto& [k, v] : *directions) o.directions[std::string(k.str())] = v.value_or(std::string("none"));
      if (const toml::table* conventions = (*done)["conventions"].as_table())
        for (const auto& [k, v] : *conventions) o.conventions[std::string(k.str())] = v.value_or(std::string());
      std::ifstream log(log_file(o.eval_dir, NodeKind::Evaluate));
      std::string line;
      while (std::getline(log, line))
        if (const size_t at = line.find("] warning "); at != std::string::npos) o.warnings.push_back(line.substr(at + 10));
    } else {
      o.state = "not run";
      for (NodeKind kind : {NodeKind::Train, NodeKind::Evaluate}) {
        const fs::path dir = kind == NodeKind::Train ? o.run_dir : o.eval_dir;
        if (const auto state = read_toml(state_file(dir, kind))) {
          const std::string s = (*state)["state"].value_or(std::string());
          if (s == "failed" || s == "cancelled" || s == "running") {
            o.state = std::string(node_kind_name(kind)) + " " + s;
            o.reason = (*state)["reason"].value_or(std::string());
            break;
          }
        }
      }
    }
    const std::string label = group_label(r);
    auto it = std::find_if(groups.begin(), groups.end(), [&](const RunGroup& g) { return g.label == label; });
    if (it == groups.end()) {
      RunGroup g;
      g.label = label;
      g.model = r.model.name;
      g.model_plugin = r.model.plugin_name;
      g.dataset = r.dataset.name;
      const auto& modalities = r.dataset.plugin->description().modalities;
      g.modality = modalities.empty() ? "" : modalities.front();
      groups.push_back(std::move(g));
      it = groups.end() - 1;
    }
    for (const auto& [k, d] : o.directions) it->directions[k] = d;
    for (const auto& [k, c] : o.conventions) {
      std::string& group_convention = it->conventions[k];
      if (group_convention.empty()) group_convention = c;
      else if (group_convention != c && group_convention.find(c) == std::string::npos) group_convention += " | " + c;
    }
    it->runs.push_back(std::move(o));
  }
  for (auto& g : groups) {
    std::map<std::string, std::vector<double>> values;
    for (const auto& run : g.runs)
      for (const auto& [k, v] : run.metrics) values[k].push_back(v);
    for (const auto& [k, v] : values) g.stats[k] = summarize(v);
  }
  return groups;
}

fs::path write_report(const Experiment& e) {
  const std::vector<RunGroup> groups = group_runs(e);
  const fs::path folder = e.folder();
  const fs::path assets = folder / "report-assets";
  std::vector<std::string> datasets;
  for (const auto& g : groups)
    if (std::find(datasets.begin(), datasets.end(), g.dataset) == datasets.end()) datasets.push_back(g.dataset);
  auto groups_of = [&](const std::string& dataset) {
    std::vector<const RunGroup*> out;
    for (const auto& g : groups)
      if (g.dataset == dataset) out.push_back(&g);
    return out;
  };

  std::ostringstream md, html, charts;
  size_t chart_count = 0;
  auto add_chart = [&](const std::string& spec) {
    const std::string id = "chart" + std::to_string(chart_count++);
    html << "<div class=\"chart\" id=\"" << id << "\"></div>\n";
    charts << "charts.push(vegaEmbed('#" << id << "', " << spec << ", {actions: false, renderer: 'svg'}));\n";
  };
  char when[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));

  md << "# " << e.report.title << "\n\nManifest `" << e.file.string() << "`, written " << when << ".\n\n"
     << "Each cell is the mean over seeds ± the half-width of its 95% Student-t interval "
     << "(mean ± t(0.975, n-1) s/√n; no interval for one seed). NaN means a metric gave no number. "
     << "↓ lower is better, ↑ higher is better; the best mean of a column is in bold (ranked only among rows whose values share a convention: † marks a column that mixes them).\n";
  html << "<h1>" << html_escape(e.report.title) << "</h1>\n<p>Manifest <code>" << html_escape(e.file.string())
       << "</code>, written " << when << ". Each cell is the mean over seeds ± the half-width of its 95% Student-t "
       << "interval (mean ± t<sub>0.975, n-1</sub> s/√n; none for one seed). NaN means a metric gave no number. "
       << "↓ lower is better, ↑ higher is better; the best mean of a column is in bold (ranked only among rows whose values share a convention: † marks a column that mixes them).</p>\n";

  // The claims the experiment tests, judged first: they are what such a report is read for.
  const std::vector<ClaimResult> claims = judge_claims(e.claims, groups);
  if (!claims.empty()) {
    md << "\n## Claims\n\nEach claim is judged by its checks: a statistic of a metric over the runs of a cell, "
          "with its 95% interval, against another cell's or a bar. Intervals apart on the expected side: supported; "
          "apart on the other side: not supported; overlapping, or too few runs for an interval: inconclusive.\n\n"
       << claims_markdown(claims);
    html << "<h2>Claims</h2>\n<p>Each claim is judged by its checks: a statistic of a metric over the runs of a cell, "
            "with its 95% interval, against another cell's or a bar. Intervals apart on the expected side: "
            "<b>supported</b>; apart on the other side: <b>not supported</b>; overlapping, or too few runs for an "
            "interval: <b>inconclusive</b>.</p>\n<div class=\"wide\"><table class=\"claims\"><tr><th>#</th><th>claim</th>"
            "<th>verdict</th><th>checks</th></tr>\n";
    for (const auto& c : claims) {
      html << "<tr><td>" << html_escape(c.claim->id) << "</td><td>" << html_escape(c.claim->text);
      if (!c.claim->experiment.empty()) html << "<br><small>" << html_escape(c.claim->experiment) << "</small>";
      html << "</td><td class=\"verdict-" << (c.verdict == Verdict::supported ? "yes" : c.verdict == Verdict::not_supported ? "no" : "open")
           << "\">" << verdict_name(c.verdict) << "</td><td><ul>";
      for (const auto& check : c.checks)
        html << "<li><b>" << verdict_name(check.verdict) << "</b>: " << html_escape(check.reason) << "</li>";
      html << "</ul></td></tr>\n";
    }
    html << "</table></div>\n";
  }

  // The feature networks, and what their FIDs are (and are not) comparable with.
  if (!e.feature_runs.empty()) {
    md << "\n## Feature networks\n\nFID, KID, precision/recall, density/coverage and class coverage are computed on "
          "the penultimate layer of a small classifier genlab trained on each dataset's training split, not on "
          "Inception-v3: **these FIDs compare the models of this report with each other; they are not comparable with "
          "published Inception-based FIDs.**\n\n| feature network | dataset | steps | test accuracy |\n|---|---|---|---|\n";
    html << "<h2>Feature networks</h2>\n<p>FID, KID, precision/recall, density/coverage and class coverage are "
            "computed on the penultimate layer of a small classifier genlab trained on each dataset's training split, "
            "not on Inception-v3: <strong>these FIDs compare the models of this report with each other; they are not "
            "comparable with published Inception-based FIDs.</strong></p>\n<table><tr><th>feature network</th>"
            "<th>dataset</th><th>steps</th><th>test accuracy</th></tr>\n";
    for (const auto& net : e.feature_runs) {
      const fs::path eval_dir = e.feature_folder(net) / net.eval_folder_name();
      std::string accuracy = "not evaluated";
      if (const auto done = read_toml(done_file(eval_dir, NodeKind::Evaluate)))
        accuracy = number_text(100 * (*done)["metrics"]["classifier.accuracy"].value_or(NAN)) + "% (" +
                   std::to_string((*done)["samples"].value_or(int64_t{0})) + " " + net.settings.eval_split + " images)";
      md << "| " << net.name << " | " << net.dataset.name << " | " << net.settings.budget.steps << " | " << accuracy
         << " |\n";
      html << "<tr><td>" << html_escape(net.name) << "</td><td>" << html_escape(net.dataset.name) << "</td><td>"
           << net.settings.budget.steps << "</td><td>" << html_escape(accuracy) << "</td></tr>\n";
    }
    html << "</table>\n";
  }

  for (const auto& dataset : datasets) {
    const auto gs = groups_of(dataset);
    const auto columns = metric_columns(gs);
    const auto mixed = mixed_conventions(gs, columns);
    md << "\n## " << dataset << "\n\n| model | seeds |";
    html << "<h2>" << html_escape(dataset) << "</h2>\n<div class=\"wide\"><table><tr><th>model</th><th>seeds</th>";
    auto direction_of = [&](const std::string& c) {
      for (const auto* g : gs)
        if (auto it = g->directions.find(c); it != g->directions.end()) return it->second;
      return std::string("none");
    };
    for (const auto& c : columns) {
      const std::string d = direction_of(c);
      const std::string arrow = d == "lower" ? " ↓" : d == "higher" ? " ↑" : "";
      md << " " << c << arrow << " |";
      html << "<th>" << html_escape(c) << arrow << "</th>";
    }
    md << "\n|---|---|";
    for (size_t i = 0; i < columns.size(); ++i) md << "---|";
    md << "\n";
    html << "</tr>\n";
    for (const auto* g : gs) {
      size_t finished = 0;
      for (const auto& r : g->runs) finished += r.state == "finished";
      const std::string seeds = std::to_string(finished) + "/" + std::to_string(g->runs.size());
      md << "| " << g->label << " (" << g->model_plugin << ") | " << seeds << " |";
      html << "<tr><td>" << html_escape(g->label) << " <small>(" << html_escape(g->model_plugin) << ")</small></td><td>"
           << seeds << "</td>";
      for (const auto& c : columns) {
        const auto it = g->stats.find(c);
        const std::string d = direction_of(c);
        // The best of a column among the rows of the same convention only.
        size_t peers = 0;
        for (const auto* other : gs) peers += other->convention(c) == g->convention(c) && other->stats.count(c);
        bool best = it != g->stats.end() && it->second.n > 0 && d != "none" && peers > 1;
        for (const auto* other : gs) {
          const auto o = other->stats.find(c);
          if (best && other->convention(c) == g->convention(c) && o != other->stats.end() && o->second.n > 0 &&
              better(d, o->second.mean, it->second.mean))
            best = false;
        }
        std::string text = it == g->stats.end() ? "" : stats_text(it->second);
        if (!text.empty() && mixed.count(c)) text += " †" + std::to_string(mixed.at(c).at(g->convention(c)));
        md << " " << (best ? "**" + text + "**" : text) << " |";
        html << "<td" << (text == "NaN" ? " class=\"nan\"" : "") << ">" << (best ? "<b>" : "") << html_escape(text)
             << (best ? "</b>" : "") << "</td>";
      }
      md << "\n";
      html << "</tr>\n";
    }
    html << "</table></div>\n";
    for (const auto& [column, tags] : mixed) {
      std::string note = "Column " + column + " holds values of different conventions, each ranked only against its own:";
      for (const auto& [convention, tag] : tags)
        note += " †" + std::to_string(tag) + " " + (convention.empty() ? std::string("(none recorded)") : convention) + ";";
      note.back() = '.';
      md << "\n" << note << "\n";
      html << "<p class=\"note\">" << html_escape(note) << "</p>\n";
    }

    // Samples: a grid per image model, text per language model (the first finished seed).
    for (const auto* g : gs) {
      const auto run = std::find_if(g->runs.begin(), g->runs.end(), [](const RunOutcome& r) { return r.state == "finished"; });
      if (run == g->runs.end()) continue;
      const fs::path samples = run->eval_dir / "samples.safetensors";
      const fs::path png = assets / (g->label + ".png");
      std::string bytes;
      try {
        bytes = sample_png(samples, png, 64);
      } catch (const HostError& err) {
        md << "\n(samples of " << g->label << " not drawn: " << err.what() << ")\n";
      }
      if (!bytes.empty()) {
        md << "\n**" << g->label << "**, samples of seed " << run->plan->seed << ":\n\n![" << g->label << "]("
           << fs::relative(png, folder).string() << ")\n";
        // Small images (8x8 digits) are drawn larger, pixels kept sharp by the style sheet.
        const uint32_t width = bytes.size() > 24 ? (uint32_t(uint8_t(bytes[16])) << 24 | uint32_t(uint8_t(bytes[17])) << 16 |
                                                    uint32_t(uint8_t(bytes[18])) << 8 | uint8_t(bytes[19]))
                                                 : 0;
        const uint32_t shown = width == 0 ? 0 : std::min<uint32_t>(400, width * std::max<uint32_t>(1, 300 / width));
        html << "<figure><img style=\"width:" << shown << "px\" alt=\"samples of " << html_escape(g->label)
             << "\" src=\"data:image/png;base64,"
             << base64(bytes) << "\"><figcaption>" << html_escape(g->label) << ", samples of seed " << run->plan->seed
             << "</figcaption></figure>\n";
      }
      const auto texts = sample_texts(samples, 3);
      if (!texts.empty()) {
        md << "\n**" << g->label << "**, text samples of seed " << run->plan->seed << ":\n";
        html << "<h3>" << html_escape(g->label) << ", text samples of seed " << run->plan->seed << "</h3>\n";
        for (const auto& t : texts) {
          md << "\n```\n" << t << "\n```\n";
          html << "<pre class=\"sample\">" << html_escape(t) << "</pre>\n";
        }
      }
    }

    // Training loss over steps, one line per run.
    std::ostringstream values;
    std::string loss_name;
    for (const auto* g : gs)
      for (const auto& run : g->runs)
        for (const auto& [step, value] : loss_curve(run.run_dir / "losses.jsonl", 200, loss_name))
          values << (values.tellp() > 0 ? "," : "") << "{\"model\":" << json_quote(g->label)
                 << ",\"seed\":" << json_quote(std::to_string(run.plan->seed)) << ",\"step\":" << step
                 << ",\"loss\":" << json_number(value) << "}";
    if (values.tellp() > 0) {
      html << "<h3>Training loss, " << html_escape(dataset) << "</h3>\n";
      // One panel per model, each with its own y scale: the families' losses are not
      // on one scale (an ELBO in nats beside a GAN's logistic losses).
      add_chart("{\"$schema\":\"https://vega.github.io/schema/vega-lite/v5.json\","
                "\"data\":{\"values\":[" + values.str() + "]},\"facet\":{\"field\":\"model\",\"type\":\"nominal\","
                "\"title\":null},\"columns\":3,\"resolve\":{\"scale\":{\"y\":\"independent\",\"x\":\"independent\"}},"
                "\"spec\":{\"width\":280,\"height\":160,\"mark\":\"line\",\"encoding\":{"
                "\"x\":{\"field\":\"step\",\"type\":\"quantitative\"},"
                "\"y\":{\"field\":\"loss\",\"type\":\"quantitative\",\"title\":\"first loss\",\"scale\":{\"zero\":false}},"
                "\"color\":{\"field\":\"seed\",\"type\":\"nominal\"}}}}");
    }

    // Quality against sampling speed, one point per run.
    const std::string quality = quality_metric(e, gs);
    std::ostringstream points;
    for (const auto* g : gs)
      for (const auto& run : g->runs) {
        const auto q = run.metrics.find(quality), speed = run.metrics.find("cost.samples_per_second");
        if (q == run.metrics.end() || speed == run.metrics.end() || !std::isfinite(q->second) || !(speed->second > 0))
          continue;
        points << (points.tellp() > 0 ? "," : "") << "{\"model\":" << json_quote(g->label) << ",\"seed\":" << run.plan->seed
               << ",\"quality\":" << json_number(q->second) << ",\"samples_per_second\":" << json_number(speed->second)
               << "}";
      }
    if (points.tellp() > 0) {
      const std::string d = direction_of(quality);
      html << "<h3>" << html_escape(quality) << " against sampling speed, " << html_escape(dataset) << "</h3>\n";
      md << "\nQuality against sampling speed (" << quality << (d == "lower" ? ", lower is better" : ", higher is better")
         << ", against samples/s): in report.html.\n";
      add_chart("{\"$schema\":\"https://vega.github.io/schema/vega-lite/v5.json\",\"width\":560,\"height\":260,"
                "\"data\":{\"values\":[" + points.str() + "]},\"mark\":{\"type\":\"point\",\"filled\":true,\"size\":80},"
                "\"encoding\":{\"x\":{\"field\":\"samples_per_second\",\"type\":\"quantitative\",\"scale\":{\"type\":\"log\"},"
                "\"title\":\"samples per second (log)\"},\"y\":{\"field\":\"quality\",\"type\":\"quantitative\",\"title\":" +
                json_quote(quality + (d == "lower" ? " (lower is better)" : " (higher is better)")) +
                ",\"scale\":{\"zero\":false}},\"color\":{\"field\":\"model\",\"type\":\"nominal\"},"
                "\"tooltip\":[{\"field\":\"model\"},{\"field\":\"seed\"},{\"field\":\"quality\"},"
                "{\"field\":\"samples_per_second\"}]}}");
    }
  }

  // What evaluations warned of, once per group and message (e.g. too few samples for a
  // stable FID, with the number needed).
  std::vector<std::string> warnings;
  for (const auto& g : groups)
    for (const auto& run : g.runs)
      for (const auto& w : run.warnings) {
        const std::string line = g.label + ": " + w;
        if (std::find(warnings.begin(), warnings.end(), line) == warnings.end()) warnings.push_back(line);
      }
  if (!warnings.empty()) {
    md << "\n## Warnings\n\n";
    html << "<h2>Warnings</h2>\n<ul>\n";
    for (const auto& w : warnings) {
      md << "- " << w << "\n";
      html << "<li>" << html_escape(w) << "</li>\n";
    }
    html << "</ul>\n";
  }

  // Runs that did not finish, with why.
  std::ostringstream problems;
  for (const auto& g : groups)
    for (const auto& run : g.runs)
      if (run.state != "finished")
        problems << run.plan->name << ": " << run.state << (run.reason.empty() ? "" : ": " + run.reason) << "\n";
  if (problems.tellp() > 0) {
    md << "\n## Runs without results\n\n";
    html << "<h2>Runs without results</h2>\n<ul>\n";
    std::istringstream lines(problems.str());
    std::string line;
    while (std::getline(lines, line)) {
      md << "- " << line << "\n";
      html << "<li>" << html_escape(line) << "</li>\n";
    }
    html << "</ul>\n";
  }

  // The charting libraries, inlined so that the page opens offline.
  const char* env = std::getenv("GENLAB_DATA");
  const fs::path vega_dir = fs::path(env && *env ? env : "data") / "vega";
  std::string libraries;
  bool have_libraries = true;
  for (const char* name : {"vega.min.js", "vega-lite.min.js", "vega-embed.min.js"}) {
    if (!fs::exists(vega_dir / name)) {
      have_libraries = false;
      break;
    }
    std::string code = read_file(vega_dir / name);
    // A "</script" inside the code would end the inline script early.
    for (size_t at = code.find("</script"); at != std::string::npos; at = code.find("</script", at + 2)) code.replace(at, 2, "<\\/");
    libraries += "<script>\n" + code + "\n</script>\n";
  }
  if (!have_libraries && chart_count > 0)
    html << "<p class=\"nan\">The charts need Vega, Vega-Lite and vega-embed in " << html_escape(vega_dir.string())
         << " (<code>bash scripts/fetch-data.sh vega</code>); write the report again with <code>genlab report</code>.</p>\n";

  std::ostringstream page;
  page << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" << html_escape(e.report.title)
       << "</title>\n<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
          "table{border-collapse:collapse;margin:1em 0;font-size:90%}td,th{border:1px solid #ccc;padding:3px 8px;"
          "text-align:right}td:first-child,th:first-child{text-align:left;white-space:nowrap}.wide{overflow-x:auto}th{background:#f3f3f3}.nan{color:#b00}"
          "figure{display:inline-block;margin:0.5em}img{image-rendering:pixelated;max-width:400px}"
          "pre.sample{background:#f7f7f7;padding:0.5em;white-space:pre-wrap}"
          "table.claims td{text-align:left;vertical-align:top}table.claims ul{margin:0;padding-left:1.2em}"
          ".verdict-yes{background:#e3f4e3}.verdict-no{background:#f8e0e0}.verdict-open{background:#f4f1e0}</style>\n"
       << libraries << "</head><body>\n"
       << html.str()
       << "<p id=\"render-status\" data-status=\"pending\"></p>\n<script>\n"
          "// Marks the page rendered (every chart drawn, every image decoded) for tests and readers.\n"
          "const charts = [];\n"
       << (have_libraries ? charts.str() : std::string())
       << "Promise.allSettled(charts).then(results => {\n"
          "  const drawn = results.filter(r => r.status === 'fulfilled').length;\n"
          "  const images = Array.from(document.images);\n"
          "  const shown = images.filter(i => i.complete && i.naturalWidth > 0).length;\n"
          "  const status = document.getElementById('render-status');\n"
          "  status.dataset.status = (drawn === " << chart_count << " && shown === images.length) ? 'ok' : 'failed';\n"
          "  status.textContent = `charts ${drawn}/" << chart_count << ", images ${shown}/${images.length}`;\n"
          "});\n</script>\n</body></html>\n";

  // The same figures for tools: per group and metric, the statistics over seeds.
  toml::array groups_out;
  for (const auto& g : groups) {
    toml::table metrics;
    for (const auto& [key, st] : g.stats) {
      toml::table t{{"n", static_cast<int64_t>(st.n)}, {"not_finite", static_cast<int64_t>(st.not_finite)}};
      if (st.n > 0) t.insert("mean", st.mean);
      if (st.n > 1) {
        t.insert("std", st.std);
        t.insert("ci95_low", st.mean - st.half_width);
        t.insert("ci95_high", st.mean + st.half_width);
      }
      const auto d = g.directions.find(key);
      t.insert("direction", d == g.directions.end() ? "none" : d->second);
      metrics.insert(key, std::move(t));
    }
    toml::array seeds;
    for (const auto& run : g.runs) seeds.push_back(toml::table{{"run", run.plan->name}, {"seed", run.plan->seed}, {"state", run.state}});
    groups_out.push_back(toml::table{{"group", g.label}, {"model", g.model}, {"model_plugin", g.model_plugin},
                                     {"dataset", g.dataset}, {"runs", std::move(seeds)}, {"metrics", std::move(metrics)}});
  }
  toml::array claims_out;
  auto estimate_table = [](const std::string& cell, const Estimate& est) {
    toml::table t{{"cell", cell}, {"runs", static_cast<int64_t>(est.n)}};
    if (std::isfinite(est.value)) t.insert("value", est.value);
    if (est.valid()) {
      t.insert("ci95_low", est.low);
      t.insert("ci95_high", est.high);
    } else {
      t.insert("missing", est.why);
    }
    return t;
  };
  for (const auto& c : claims) {
    toml::array checks;
    for (size_t i = 0; i < c.checks.size(); ++i) {
      const Check& spec = c.claim->checks[i];
      const CheckResult& r = c.checks[i];
      toml::table t{{"metric", spec.metric},
                    {"statistic", statistic_name(spec.statistic)},
                    {"expect", spec.expect_higher ? "higher" : "lower"},
                    {"factor", spec.factor},
                    {"a", estimate_table(spec.a.label(), r.a)},
                    {"verdict", verdict_name(r.verdict)},
                    {"reason", r.reason}};
      if (spec.b) t.insert("b", estimate_table(spec.b->label(), r.b));
      else t.insert("bar", spec.bar);
      checks.push_back(std::move(t));
    }
    claims_out.push_back(toml::table{{"id", c.claim->id},
                                     {"text", c.claim->text},
                                     {"experiment", c.claim->experiment},
                                     {"verdict", verdict_name(c.verdict)},
                                     {"reason", c.reason},
                                     {"checks", std::move(checks)}});
  }
  fs::create_directories(folder);
  write_file_atomic(folder / "report.json",
                    to_json(toml::table{{"experiment", e.name},
                                        {"interval", "95% Student-t: mean +- t(0.975, n-1) * std / sqrt(n)"},
                                        {"groups", std::move(groups_out)},
                                        {"claims", std::move(claims_out)}}) +
                        "\n",
                    Durability::AtomicOnly);
  write_file_atomic(folder / "report.md", md.str(), Durability::AtomicOnly);
  write_file_atomic(folder / "report.html", page.str(), Durability::AtomicOnly);
  return folder / "report.html";
}

std::string compare_text(const Experiment& e, const std::string& only) {
  const std::vector<RunGroup> groups = group_runs(e);
  std::ostringstream out;
  std::vector<std::string> datasets;
  for (const auto& g : groups)
    if (std::find(datasets.begin(), datasets.end(), g.dataset) == datasets.end()) datasets.push_back(g.dataset);
  for (const auto& dataset : datasets) {
    std::vector<const RunGroup*> gs;
    for (const auto& g : groups)
      if (g.dataset == dataset) gs.push_back(&g);
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
            << (direction == "lower" ? "  (lower is better)" : direction == "higher" ? "  (higher is better)" : "  (no direction)")
            << (by_convention.size() > 1 ? "  [" + (convention.empty() ? std::string("no convention recorded") : convention) +
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
              << std::setw(36) << ranked[i]->label << std::right << " " << stats_text(s) << "  n=" << s.n << note << "\n";
        }
      }
    }
  }
  if (out.tellp() == 0) return "no finished evaluations" + (only.empty() ? std::string() : " with a metric matching '" + only + "'") + "\n";
  return out.str();
}

std::string claims_text(const Experiment& e) {
  if (e.claims.empty()) return "";
  const std::vector<ClaimResult> results = judge_claims(e.claims, group_runs(e));
  std::ostringstream out;
  out << "claims (details in report.md):\n";
  for (const auto& r : results)
    out << "  " << std::left << std::setw(4) << r.claim->id << std::setw(15) << verdict_name(r.verdict) << r.claim->text << "\n";
  return out.str();
}

}  // namespace genlab
