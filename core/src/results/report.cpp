// The report as one document, built from the runs' outcomes and rendered twice: report.md
// and report.html (document.hpp). report.json holds the same figures for tools.
#include "genlab/core/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <sstream>

#include "document.hpp"
#include "genlab/core/claims.hpp"
#include "genlab/core/json.hpp"
#include "genlab/core/workspace.hpp"
#include "genlab/util/error.hpp"
#include "genlab/util/files.hpp"
#include "genlab/util/json.hpp"
#include "report_data.hpp"
#include "search_report.hpp"
#include "statistics.hpp"

namespace genlab {
namespace fs = std::filesystem;

namespace {

using doc::bold;
using doc::code;
using doc::html_only;
using doc::markdown_only;
using doc::raw_html;
using doc::small;
using doc::strong;
using doc::text;

void add_introduction(doc::Document& d, const Experiment& e) {
  char when[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  d.add({doc::Heading{1, {text(e.report.title)}}});
  // Markdown gives the manifest's line a paragraph of its own.
  d.add({doc::Paragraph{
      {text("Manifest "), code(e.file.string()), text(", written " + std::string(when) + "."),
       markdown_only(text("\n\n")), html_only(text(" ")),
       text("Each cell is the mean over seeds ± the half-width of its 95% Student-t interval (mean ± t"),
       markdown_only(text("(0.975, n-1)")), raw_html("<sub>0.975, n-1</sub>"), text(" s/√n; "),
       markdown_only(text("no interval")), html_only(text("none")),
       text(" for one seed). NaN means a metric gave no number. ↓ lower is better, ↑ higher is better; "
            "the best mean of a column is in bold (ranked only among rows whose values share a "
            "convention: † marks a column that mixes them).")}}});
}

// ------------------------------------------------------------------------------ claims

// Markdown's table of claims: id, claim, verdict, and why (every check's reason).
doc::Table claims_markdown_table(const std::vector<ClaimResult>& results) {
  doc::Table t{{"#", "claim", "verdict", "why"}};
  for (const auto& r : results)
    t.rows.push_back({r.claim->id, r.claim->text, doc::Inline{bold(verdict_name(r.verdict))}, r.reason});
  return t;
}

// HTML's, with the experiment under each claim and its checks as a list.
doc::Table claims_html_table(const std::vector<ClaimResult>& results) {
  doc::Table t{{"#", "claim", "verdict", "checks"}};
  t.html_class = "claims";
  t.wide = true;
  for (const auto& c : results) {
    doc::Inline claim{text(c.claim->text)};
    if (!c.claim->experiment.empty()) claim.insert(claim.end(), {raw_html("<br>"), small(c.claim->experiment)});
    const char* tone = c.verdict == Verdict::supported ? "yes" : c.verdict == Verdict::not_supported ? "no" : "open";
    doc::Inline checks{raw_html("<ul>")};
    for (const auto& check : c.checks)
      checks.insert(checks.end(), {raw_html("<li>"), bold(verdict_name(check.verdict)), text(": " + check.reason),
                                   raw_html("</li>")});
    checks.push_back(raw_html("</ul>"));
    t.rows.push_back({c.claim->id, claim, {{text(verdict_name(c.verdict))}, std::string("verdict-") + tone}, checks});
  }
  return t;
}

// The claims the experiment tests, judged first: they are what such a report is read for.
void add_claims(doc::Document& d, const std::vector<ClaimResult>& claims) {
  if (claims.empty()) return;
  d.add({doc::Heading{2, {text("Claims")}}});
  doc::Inline about{
      text("Each claim is judged by its checks: a statistic of a metric over the runs of a cell, with its 95% "
           "interval, against another cell's or a bar. Intervals apart on the expected side: ")};
  for (const auto& [verdict, then] : {std::pair<const char*, const char*>{"supported", "; apart on the other side: "},
                                      {"not supported", "; overlapping, or too few runs for an interval: "},
                                      {"inconclusive", "."}})
    about.insert(about.end(), {markdown_only(text(verdict)), html_only(bold(verdict)), text(then)});
  d.add({doc::Paragraph{about}});
  d.add(doc::Format::markdown, {claims_markdown_table(claims)});
  d.add(doc::Format::html, {claims_html_table(claims)});
}

// The feature networks, and what their FIDs are (and are not) comparable with.
void add_feature_networks(doc::Document& d, const Experiment& e) {
  if (e.feature_runs.empty()) return;
  d.add({doc::Heading{2, {text("Feature networks")}}});
  d.add(
      {doc::Paragraph{{text("FID, KID, precision/recall, density/coverage and class coverage are computed on the "
                            "penultimate layer of a small classifier genlab trained on each dataset's training split, "
                            "not on Inception-v3: "),
                       strong("these FIDs compare the models of this report with each other; they are not comparable "
                              "with published Inception-based FIDs.")}}});
  doc::Table t{{"feature network", "dataset", "steps", "test accuracy"}};
  for (const auto& net : e.feature_runs) {
    const fs::path eval_dir = e.feature_folder(net) / net.eval_folder_name();
    std::string accuracy = "not evaluated";
    if (const auto done = read_toml(done_file(eval_dir, NodeKind::Evaluate)))
      accuracy = number_text(100 * (*done)["metrics"]["classifier.accuracy"].value_or(NAN)) + "% (" +
                 std::to_string((*done)["samples"].value_or(int64_t{0})) + " " + net.settings.eval_split + " images)";
    t.rows.push_back({net.name, net.dataset.name, std::to_string(net.settings.budget.steps), accuracy});
  }
  d.add({t});
}

// ------------------------------------------------------------------------ per dataset

// A row per model over its seeds, mean ± 95% interval in each of `columns`, the best bold.
// The full table (`wide`, every value by its full name) or the headline (short titles).
doc::Table metrics_table(const DatasetGroups& ds, const std::vector<std::string>& columns, bool wide) {
  doc::Table t{{"model", "seeds"}};
  t.wide = wide;
  for (const auto& c : columns) {
    const std::string d = ds.direction(c);
    t.header.push_back(wide ? c + (d == "lower" ? " ↓" : d == "higher" ? " ↑" : "") : headline_title(ds, c));
  }
  for (const auto* g : ds.groups) {
    size_t finished = 0;
    for (const auto& r : g->runs) finished += r.state == "finished";
    std::vector<doc::Cell> row{doc::Inline{text(g->label + " "), small("(" + g->model_plugin + ")")},
                               std::to_string(finished) + "/" + std::to_string(g->runs.size())};
    for (const auto& c : columns) {
      const auto it = g->stats.find(c);
      std::string figure = it == g->stats.end() ? "" : stats_text(it->second);
      if (!figure.empty() && ds.mixed.count(c)) figure += " †" + std::to_string(ds.mixed.at(c).at(g->convention(c)));
      row.emplace_back(doc::Inline{ds.best(*g, c) ? bold(figure) : text(figure)}, figure == "NaN" ? "nan" : "");
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

void add_convention_notes(doc::Document& d, const DatasetGroups& ds) {
  for (const auto& [column, tags] : ds.mixed) {
    std::string note = "Column " + column + " holds values of different conventions, each ranked only against its own:";
    for (const auto& [convention, tag] : tags)
      note +=
          " †" + std::to_string(tag) + " " + (convention.empty() ? std::string("(none recorded)") : convention) + ";";
    note.back() = '.';
    d.add({doc::Paragraph{{text(note)}, "note"}});
  }
}

// The width a PNG is shown at: small images (8x8 digits) are drawn larger, pixels kept sharp
// by the style sheet.
uint32_t shown_width(const std::string& png) {
  const uint32_t width = png.size() > 24 ? (uint32_t(uint8_t(png[16])) << 24 | uint32_t(uint8_t(png[17])) << 16 |
                                            uint32_t(uint8_t(png[18])) << 8 | uint8_t(png[19]))
                                         : 0;
  return width == 0 ? 0 : std::min<uint32_t>(400, width * std::max<uint32_t>(1, 300 / width));
}

// Samples: a grid per image model, text per language model (the first finished seed).
void add_samples(doc::Document& d, const RunGroup& g, const fs::path& folder) {
  const auto run =
      std::find_if(g.runs.begin(), g.runs.end(), [](const RunOutcome& r) { return r.state == "finished"; });
  if (run == g.runs.end()) return;
  const fs::path samples = run->eval_dir / "samples.safetensors";
  const fs::path png = folder / "report-assets" / (g.label + ".png");
  const std::string seed = std::to_string(run->plan->seed);
  std::string bytes;
  try {
    bytes = samples_file_png(samples, 64);
    if (!bytes.empty()) {
      fs::create_directories(png.parent_path());
      write_file_atomic(png, bytes, Durability::AtomicOnly);
    }
  } catch (const HostError& err) {
    d.add(doc::Format::markdown,
          {doc::Paragraph{{text("(samples of " + g.label + " not drawn: " + err.what() + ")")}}});
  }
  if (!bytes.empty())
    d.add({doc::Figure{g.label, "samples of seed " + seed, "samples of " + g.label, fs::relative(png, folder).string(),
                       bytes, shown_width(bytes)}});
  const auto texts = sample_texts(samples, 3);
  if (texts.empty()) return;
  d.add(doc::Format::markdown, {doc::Paragraph{{bold(g.label), text(", text samples of seed " + seed + ":")}}});
  d.add(doc::Format::html, {doc::Heading{3, {text(g.label + ", text samples of seed " + seed)}}});
  for (const auto& t : texts) d.add({doc::Pre{t, "sample"}});
}

// Training loss over steps, one line per run.
void add_loss_chart(doc::Document& d, const DatasetGroups& ds) {
  std::ostringstream values;
  std::string loss_name;
  for (const auto* g : ds.groups)
    for (const auto& run : g->runs)
      for (const auto& [step, value] : loss_curve(run.run_dir / "losses.jsonl", 200, loss_name))
        values << (values.tellp() > 0 ? "," : "") << "{\"model\":" << json_quote(g->label)
               << ",\"seed\":" << json_quote(std::to_string(run.plan->seed)) << ",\"step\":" << step
               << ",\"loss\":" << json_number(value) << "}";
  if (values.tellp() == 0) return;
  d.add(doc::Format::html, {doc::Heading{3, {text("Training loss, " + ds.dataset)}}});
  // One panel per model, each with its own y scale: the families' losses are not
  // on one scale (an ELBO in nats beside a GAN's logistic losses).
  d.add({doc::Chart{
      "{\"$schema\":\"https://vega.github.io/schema/vega-lite/v5.json\","
      "\"data\":{\"values\":[" +
          values.str() +
          "]},\"facet\":{\"field\":\"model\",\"type\":\"nominal\","
          "\"title\":null},\"columns\":3,\"resolve\":{\"scale\":{\"y\":\"independent\",\"x\":\"independent\"}},"
          "\"spec\":{\"width\":280,\"height\":160,\"mark\":\"line\",\"encoding\":{"
          "\"x\":{\"field\":\"step\",\"type\":\"quantitative\"},"
          "\"y\":{\"field\":\"loss\",\"type\":\"quantitative\",\"title\":\"first loss\",\"scale\":{\"zero\":false}},"
          "\"color\":{\"field\":\"seed\",\"type\":\"nominal\"}}}}",
      {}}});
}

// Quality against sampling speed, one point per run.
void add_quality_chart(doc::Document& d, const Experiment& e, const DatasetGroups& ds) {
  const std::string quality = quality_metric(e, ds.groups);
  std::ostringstream points;
  for (const auto* g : ds.groups)
    for (const auto& run : g->runs) {
      const auto q = run.metrics.find(quality), speed = run.metrics.find("cost.samples_per_second");
      if (q == run.metrics.end() || speed == run.metrics.end() || !std::isfinite(q->second) || !(speed->second > 0))
        continue;
      points << (points.tellp() > 0 ? "," : "") << "{\"model\":" << json_quote(g->label)
             << ",\"seed\":" << run.plan->seed << ",\"quality\":" << json_number(q->second)
             << ",\"samples_per_second\":" << json_number(speed->second) << "}";
    }
  if (points.tellp() == 0) return;
  const std::string better_side = ds.direction(quality) == "lower" ? "lower is better" : "higher is better";
  d.add(doc::Format::html, {doc::Heading{3, {text(quality + " against sampling speed, " + ds.dataset)}}});
  d.add({doc::Chart{
      "{\"$schema\":\"https://vega.github.io/schema/vega-lite/v5.json\",\"width\":560,\"height\":260,"
      "\"data\":{\"values\":[" +
          points.str() +
          "]},\"mark\":{\"type\":\"point\",\"filled\":true,\"size\":80},"
          "\"encoding\":{\"x\":{\"field\":\"samples_per_second\",\"type\":\"quantitative\",\"scale\":{\"type\":\"log\"},"
          "\"title\":\"samples per second (log)\"},\"y\":{\"field\":\"quality\",\"type\":\"quantitative\",\"title\":" +
          json_quote(quality + " (" + better_side + ")") +
          ",\"scale\":{\"zero\":false}},\"color\":{\"field\":\"model\",\"type\":\"nominal\"},"
          "\"tooltip\":[{\"field\":\"model\"},{\"field\":\"seed\"},{\"field\":\"quality\"},"
          "{\"field\":\"samples_per_second\"}]}}",
      {text("Quality against sampling speed (" + quality + ", " + better_side +
            ", against samples/s): in report.html.")}}});
}

void add_dataset(doc::Document& d, const Experiment& e, const std::vector<RunGroup>& groups,
                 const std::string& dataset) {
  const DatasetGroups ds(groups, dataset);
  d.add({doc::Heading{2, {text(dataset)}}});
  d.add({metrics_table(ds, headline_columns(e, ds), false)});
  d.add({doc::Heading{3, {text("All values, " + dataset)}}});
  d.add({metrics_table(ds, ds.columns, true)});
  add_convention_notes(d, ds);
  for (const auto* g : ds.groups) add_samples(d, *g, e.folder());
  add_loss_chart(d, ds);
  add_quality_chart(d, e, ds);
}

// ---------------------------------------------------------------------- what went wrong

void add_list(doc::Document& d, const std::string& heading, const std::vector<std::string>& lines) {
  if (lines.empty()) return;
  doc::List list;
  for (const auto& line : lines) list.items.push_back({text(line)});
  d.add({doc::Heading{2, {text(heading)}}});
  d.add({list});
}

void add_problems(doc::Document& d, const std::vector<RunGroup>& groups) {
  // What evaluations warned of, once per group and message (e.g. too few samples for a
  // stable FID, with the number needed).
  std::vector<std::string> warnings;
  for (const auto& g : groups)
    for (const auto& run : g.runs)
      for (const auto& w : run.warnings) {
        const std::string line = g.label + ": " + w;
        if (std::find(warnings.begin(), warnings.end(), line) == warnings.end()) warnings.push_back(line);
      }
  add_list(d, "Warnings", warnings);
  // Runs that did not finish, with why: an item a line (a reason may have several).
  std::vector<std::string> problems;
  for (const auto& g : groups)
    for (const auto& run : g.runs)
      if (run.state != "finished") {
        std::istringstream lines(run.plan->name + ": " + run.state + (run.reason.empty() ? "" : ": " + run.reason));
        for (std::string line; std::getline(lines, line);) problems.push_back(line);
      }
  add_list(d, "Runs without results", problems);
}

// --------------------------------------------------------------------------- the page

const char* const style_sheet =
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0;font-size:90%}td,th{border:1px solid #ccc;padding:3px 8px;"
    "text-align:right}td:first-child,th:first-child{text-align:left;white-space:nowrap}.wide{overflow-x:auto}"
    "th{background:#f3f3f3}.nan{color:#b00}"
    "figure{display:inline-block;margin:0.5em}img{image-rendering:pixelated;max-width:400px}"
    "pre.sample{background:#f7f7f7;padding:0.5em;white-space:pre-wrap}"
    "table.claims td{text-align:left;vertical-align:top}table.claims ul{margin:0;padding-left:1.2em}"
    ".verdict-yes{background:#e3f4e3}.verdict-no{background:#f8e0e0}.verdict-open{background:#f4f1e0}";

// The page around the document: the style sheet and the charting libraries, inlined so that
// the page opens offline. Without the libraries, a note in `d` says where they belong.
doc::HtmlPage html_page(doc::Document& d) {
  const char* env = std::getenv("GENLAB_DATA");
  const fs::path vega_dir = fs::path(env && *env ? env : "data") / "vega";
  doc::HtmlPage page{style_sheet, "", true};
  for (const char* name : {"vega.min.js", "vega-lite.min.js", "vega-embed.min.js"}) {
    if (!fs::exists(vega_dir / name)) {
      page.draw_charts = false;
      break;
    }
    std::string library = read_file(vega_dir / name);
    // A "</script" inside the code would end the inline script early.
    for (size_t at = library.find("</script"); at != std::string::npos; at = library.find("</script", at + 2))
      library.replace(at, 2, "<\\/");
    page.head += "<script>\n" + library + "\n</script>\n";
  }
  if (!page.draw_charts && d.charts() > 0)
    d.add(doc::Format::html,
          {doc::Paragraph{{text("The charts need Vega, Vega-Lite and vega-embed in " + vega_dir.string() + " ("),
                           code("bash scripts/fetch-data.sh vega"), text("); write the report again with "),
                           code("genlab report"), text(".")},
                          "nan"}});
  return page;
}

// ------------------------------------------------------------------------- report.json

toml::table estimate_table(const std::string& cell, const Estimate& est) {
  toml::table t{{"cell", cell}, {"runs", static_cast<int64_t>(est.n)}};
  if (std::isfinite(est.value)) t.insert("value", est.value);
  if (est.valid()) {
    t.insert("ci95_low", est.low);
    t.insert("ci95_high", est.high);
  } else {
    t.insert("missing", est.why);
  }
  return t;
}

// The same figures for tools: per group and metric, the statistics over seeds.
toml::table group_table(const RunGroup& g) {
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
  for (const auto& run : g.runs)
    seeds.push_back(toml::table{{"run", run.plan->name}, {"seed", run.plan->seed}, {"state", run.state}});
  return toml::table{{"group", g.label},     {"model", g.model},         {"model_plugin", g.model_plugin},
                     {"dataset", g.dataset}, {"runs", std::move(seeds)}, {"metrics", std::move(metrics)}};
}

toml::array to_array(const std::vector<std::string>& names) {
  toml::array out;
  for (const auto& n : names) out.push_back(n);
  return out;
}

toml::table claim_table(const ClaimResult& c) {
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
  return toml::table{{"id", c.claim->id},
                     {"text", c.claim->text},
                     {"experiment", c.claim->experiment},
                     {"verdict", verdict_name(c.verdict)},
                     {"reason", c.reason},
                     {"checks", std::move(checks)}};
}

// report.json: per group and metric the statistics over seeds, and the claims' verdicts.
void write_report_json(const Experiment& e, const std::vector<RunGroup>& groups,
                       const std::vector<ClaimResult>& claims) {
  toml::array groups_out, claims_out;
  for (const auto& g : groups) groups_out.push_back(group_table(g));
  for (const auto& c : claims) claims_out.push_back(claim_table(c));
  write_file_atomic(e.folder() / "report.json",
                    to_json(toml::table{{"experiment", e.name},
                                        {"interval", "95% Student-t: mean +- t(0.975, n-1) * std / sqrt(n)"},
                                        {"headline", to_array(e.report.headline)},
                                        {"groups", std::move(groups_out)},
                                        {"claims", std::move(claims_out)}}) +
                        "\n",
                    Durability::AtomicOnly);
}

}  // namespace

std::string claims_markdown(const std::vector<ClaimResult>& results) {
  doc::Document d;
  d.add({claims_markdown_table(results)});
  return doc::render_markdown(d);
}

fs::path write_report(const Experiment& e) {
  const std::vector<RunGroup> groups = group_runs(e);
  const std::vector<ClaimResult> claims = judge_claims(e.claims, groups);
  doc::Document d;
  d.title = e.report.title;
  add_introduction(d, e);
  add_claims(d, claims);
  add_search(d, e);
  add_feature_networks(d, e);
  for (const auto& dataset : datasets_of(groups)) add_dataset(d, e, groups, dataset);
  add_problems(d, groups);
  const doc::HtmlPage page = html_page(d);

  const fs::path folder = e.folder();
  fs::create_directories(folder);
  write_report_json(e, groups, claims);
  write_file_atomic(folder / "report.md", doc::render_markdown(d), Durability::AtomicOnly);
  write_file_atomic(folder / "report.html", doc::render_html(d, page), Durability::AtomicOnly);
  return folder / "report.html";
}

}  // namespace genlab
