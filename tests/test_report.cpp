// The report: statistics over seeds, the feature network, and a tiny experiment's
// report.html opened in headless Chromium.
#include "catch.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>

#include "genlab/core/experiment.hpp"
#include "genlab/core/report.hpp"
#include "genlab/core/workspace.hpp"
#include "support.hpp"

using genlab::test::Contains;
using genlab::test::run_genlab;
using genlab::test::TempDir;
namespace fs = std::filesystem;

TEST_CASE("summarize gives the mean, the sample std and the Student-t 95% interval", "[report]") {
  // Hand-computed: mean 2, s = 1, t(0.975, 2) = 4.303, half-width 4.303 / sqrt(3).
  const genlab::Stats s = genlab::summarize({1.0, 2.0, 3.0});
  CHECK(s.n == 3);
  CHECK(s.mean == Approx(2.0));
  CHECK(s.std == Approx(1.0));
  CHECK(s.half_width == Approx(4.303 / std::sqrt(3.0)).epsilon(1e-4));
  // NaN is counted apart, never averaged in.
  const genlab::Stats with_nan = genlab::summarize({1.0, NAN, 3.0});
  CHECK(with_nan.n == 2);
  CHECK(with_nan.not_finite == 1);
  CHECK(with_nan.mean == Approx(2.0));
  CHECK(with_nan.half_width == Approx(12.706205 * std::sqrt(2.0) / std::sqrt(2.0)));
  const genlab::Stats one = genlab::summarize({5.0});
  CHECK(one.n == 1);
  CHECK(one.half_width == 0);
  // Published quantiles to 6 decimals; large df approach the normal's 1.96.
  CHECK(genlab::t_quantile_975(3) == Approx(3.182446));
  CHECK(genlab::t_quantile_975(30) == Approx(2.042272));
  CHECK(genlab::t_quantile_975(1000) == Approx(1.962).epsilon(1e-3));
  CHECK(genlab::t_quantile_975(40) > genlab::t_quantile_975(1000));
}

namespace {

// Two families on two modalities, two seeds, a feature network: every part of the report.
std::string tiny_manifest(const fs::path& workspace) {
  return "[experiment]\nname = \"tiny\"\nseeds = [1, 2]\nsteps = 30\nbatch_size = 32\nworkspace = \"" +
         workspace.string() +
         "\"\n"
         "[evaluation]\nsamples = 200\n"
         "[features]\nsteps = 60\nchannels = 8\nfeatures = 32\n"
         "[datasets.digits]\nplugin = \"digits-csv\"\n"
         "[datasets.moby]\nplugin = \"text\"\nblock_size = 16\nsubset = 5000\n"
         "[models.vae]\nplugin = \"vae\"\nhidden = 32\nlatent = 4\n"
         "[models.gpt]\nplugin = \"transformer\"\nn_layer = 1\nn_head = 2\nn_embd = 16\n"
         "[[exclude]]\nmodel = \"vae\"\ndataset = \"moby\"\n"
         "[[exclude]]\nmodel = \"gpt\"\ndataset = \"digits\"\n"
         "[[overrides]]\nwhere = {model = \"gpt\"}\n"
         "set = {\"evaluation.samples\" = 4, \"evaluation.split\" = \"val\", "
         "\"evaluation.generate\" = {prompt = \"Call me\", max_new_tokens = 20}}\n"
         "[metrics.fid]\nplugin = \"fid\"\ndatasets = [\"digits\"]\n"
         "[metrics.kid]\nplugin = \"kid\"\ndatasets = [\"digits\"]\nsubset_size = 500\nsubsets = 10\n"
         "[metrics.classes]\nplugin = \"class-coverage\"\ndatasets = [\"digits\"]\n"
         "[metrics.nll]\nplugin = \"likelihood\"\nmodels = [\"vae\"]\n"
         "[metrics.text]\nplugin = \"likelihood\"\nmodels = [\"gpt\"]\nscore_key = \"nll_per_token\"\n"
         "[report]\nquality = \"fid.fid\"\nheadline = [\"fid.fid\", \"kid.kid\", \"nll.bits_per_dim\"]\n";
}

}  // namespace

TEST_CASE("a tiny experiment's report holds every table, image and chart, rendered in Chromium", "[report][cli]") {
  TempDir dir;
  const auto manifest = dir.write("tiny.toml", tiny_manifest(dir.path() / "ws"));
  const auto r = run_genlab("run --quiet --jobs 2 " + manifest.string());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("report: "));
  const fs::path folder = dir.path() / "ws" / "tiny";
  const std::string md = genlab::test::read_text(folder / "report.md");
  INFO(md);
  // The feature network: trained once, its accuracy stated, the FID caveat said.
  CHECK_THAT(md, Contains("| features-digits | digits | 60 |") && Contains("not comparable with published Inception"));
  // One table per dataset, a row per group over its two seeds, with intervals.
  CHECK_THAT(md, Contains("## digits") && Contains("## moby"));
  CHECK_THAT(md, Contains("| vae-digits (vae) | 2/2 |") && Contains("| gpt-moby (transformer) | 2/2 |"));
  CHECK_THAT(md, Contains("fid.fid ↓") && Contains("classes.class_kl ↓") && Contains("nll.bits_per_dim ↓") &&
                     Contains("text.bits_per_token ↓") && Contains("cost.samples_per_second ↑") && Contains(" ± "));
  // The feature network's accuracy is stated with the network, not as a value of a model.
  CHECK_THAT(md, !Contains("classifier_accuracy"));
  // Each dataset opens with its headline by short names, the full table below it: on the
  // digits report.headline's metrics; on Moby-Dick, which has none of them, the main value
  // of each metric (the likelihood in bits per token), and samples/s and train seconds.
  CHECK_THAT(md, Contains("| model | seeds | fid ↓ | kid ↓ | bits/dim ↓ | samples/s ↑ | train s ↓ |") &&
                     Contains("| model | seeds | bits/token ↓ | samples/s ↑ | train s ↓ |") &&
                     Contains("### All values, digits"));
  // The terminal gets the headlines alone, in at most 120 characters a line.
  CHECK_THAT(r.output, Contains("fid ↓") && Contains("bits/token ↓") && Contains("vae-digits (2/2)") &&
                           !Contains("cost.sample_latency_ms"));
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    size_t width = 0;
    for (unsigned char c : line) width += (c & 0xC0) != 0x80;
    INFO(line);
    CHECK(width <= 120);
  }
  CHECK_THAT(md, Contains("![vae-digits](report-assets/vae-digits.png)"));
  CHECK(fs::file_size(folder / "report-assets" / "vae-digits.png") > 100);
  CHECK_THAT(md, Contains("text samples of seed 1") && Contains("Call me"));
  // Too few samples for a stable KID: a warning in the report, with the number needed.
  CHECK_THAT(
      md, Contains("## Warnings") && Contains("vae-digits: [kid] too few samples for a stable KID: N=200; need 500"));
  // report.json: the statistics for tools, with the interval stated.
  const std::string json = genlab::test::read_text(folder / "report.json");
  CHECK_THAT(json, Contains("\"interval\" : \"95% Student-t") && Contains("\"group\" : \"vae-digits\"") &&
                       Contains("\"ci95_low\"") && Contains("\"std\""));
  // The feature network is in the registry with its accuracy.
  const auto registry = run_genlab("registry show features-digits --workspace " + (dir.path() / "ws").string());
  CHECK_THAT(registry.output, Contains("classifier.accuracy"));
  // compare ranks per metric.
  const auto compare = run_genlab("compare " + manifest.string() + " --metric fid");
  CHECK_THAT(compare.output, Contains("digits  fid.fid  (lower is better)") && Contains("1. vae-digits"));

  // Chromium: every chart drawn (loss and quality-vs-speed per dataset that has them) and
  // every image decoded; the page marks itself when it is done.
  const fs::path dom = dir.path() / "dom.html";
  const std::string command =
      "chromium --headless --no-sandbox --disable-gpu --virtual-time-budget=20000 --dump-dom 'file://" +
      (folder / "report.html").string() + "' > '" + dom.string() + "' 2> '" + (dir.path() / "chromium.log").string() +
      "'";
  const int status = std::system(command.c_str());
  INFO("chromium log: " << genlab::test::read_text(dir.path() / "chromium.log"));
  REQUIRE(status == 0);
  const std::string page = genlab::test::read_text(dom);
  CHECK_THAT(page, Contains("data-status=\"ok\"") && Contains("charts 4/4, images 1/1"));
  CHECK_THAT(page, Contains("<svg"));
}

TEST_CASE("a metric that gave NaN is reported as NaN over its seeds, never as a number", "[report]") {
  TempDir dir;
  const auto manifest =
      dir.write("nan.toml", "[experiment]\nname = \"nan\"\nseeds = [1, 2, 3]\nsteps = 5\nworkspace = \"" +
                                (dir.path() / "ws").string() +
                                "\"\n[datasets.ring]\nplugin = \"example-toy2d\"\n"
                                "[models.gmm]\nplugin = \"example-gmm\"\n"
                                "[metrics.mmd]\nplugin = \"example-mmd\"\n");
  const genlab::Experiment e = genlab::load_experiment(manifest);
  REQUIRE(e.runs.size() == 3);
  // What three evaluations wrote: one metric always NaN, one NaN for one seed only.
  for (const auto& r : e.runs) {
    const fs::path eval_dir = e.folder() / "runs" / r.folder_name() / ("eval-" + r.eval_id.substr(0, 12));
    fs::create_directories(eval_dir);
    toml::table metrics{{"mmd.mmd2", std::string("NaN")}};
    if (r.seed == 2) metrics.insert("mmd.mean_distance", std::string("NaN"));
    else metrics.insert("mmd.mean_distance", 0.5 * static_cast<double>(r.seed));
    genlab::write_toml(genlab::done_file(eval_dir, genlab::NodeKind::Evaluate),
                       toml::table{{"metrics", metrics},
                                   {"directions", toml::table{{"mmd.mmd2", "lower"}, {"mmd.mean_distance", "lower"}}}});
  }
  genlab::write_report(e);
  const std::string md = genlab::test::read_text(e.folder() / "report.md");
  INFO(md);
  // Seeds 1 and 3 give 0.5 and 1.5: mean 1, the NaN of seed 2 said beside it.
  CHECK_THAT(md, Contains("| gmm-ring (example-gmm) | 3/3 | 1 ± 6.4 (1 NaN) | NaN |"));
  const std::string json = genlab::test::read_text(e.folder() / "report.json");
  CHECK_THAT(json, Contains("\"not_finite\" : 3"));
  CHECK_THAT(genlab::compare_text(e, "mmd2"), Contains("gmm-ring") && Contains("NaN  n=0"));
}
