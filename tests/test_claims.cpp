// Claims: the intervals, the verdict rules on synthetic figures (a clear win, a clear loss,
// overlapping intervals), [[claims]] errors, judging runs as found on disk, and the
// manifest's scales and models' `datasets`.
#include "catch.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <string>

#include "genlab/core/claims.hpp"
#include "genlab/util/error.hpp"
#include "genlab/core/experiment.hpp"
#include "genlab/core/report.hpp"
#include "support.hpp"

using genlab::test::Contains;
using genlab::test::TempDir;
using namespace genlab;
namespace fs = std::filesystem;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const HostError& e) {
    return e.what();
  }
  return "(no error)";
}

// A manifest beside the test plugins: a GMM on the toy ring at two sizes, three seeds.
struct ClaimsManifest {
  TempDir dir;
  fs::path path;
  explicit ClaimsManifest(const std::string& claims, const std::string& more = "", const std::string& top = "") {
    path = dir.write("m.toml", top + "[experiment]\nplugin_paths = [\"" GENLAB_TEST_PLUGIN_DIR "\"]\nworkspace = \"" +
                                   (dir.path() / "ws").string() +
                                   "\"\nseeds = [1, 2, 3]\nsteps = 5\n"
                                   "[datasets.ring]\nplugin = \"example-toy2d\"\ntrain_size = {sweep = [64, 256]}\n"
                                   "[models.gmm]\nplugin = \"example-gmm\"\n"
                                   "[models.big]\nplugin = \"example-gmm\"\ncomponents = 16\n"
                                   "[metrics.mmd]\nplugin = \"example-mmd\"\n" +
                                   more + claims);
  }
};

const char* kOneClaim = R"(
[[claims]]
id = 1
text = "More components fit the ring better."
[[claims.checks]]
metric = "mmd.mmd2"
a = { model = "big", dataset = "ring", train_size = 256 }
expect = "lower"
b = { model = "gmm", dataset = "ring", train_size = 256 }
)";

}  // namespace

TEST_CASE("claim intervals: Student-t for means, chi-square for spreads, Wilson for rates", "[claims]") {
  const Estimate mean = mean_estimate({1.0, 2.0, 3.0});
  CHECK(mean.value == Approx(2.0));
  CHECK(mean.high - mean.value == Approx(4.303 / std::sqrt(3.0)).epsilon(1e-4));
  CHECK(mean.n == 3);
  // s = 1, df = 2: [sqrt(2 / 7.3778), sqrt(2 / 0.050636)].
  const Estimate spread = std_estimate({1.0, 2.0, 3.0});
  CHECK(spread.value == Approx(1.0));
  CHECK(spread.low == Approx(std::sqrt(2 / 7.3778)).epsilon(1e-4));
  CHECK(spread.high == Approx(std::sqrt(2 / 0.050636)).epsilon(1e-4));
  // The coefficient of variation divides the std's interval by |mean|.
  const Estimate cv = cv_estimate({-1.0, -2.0, -3.0});
  CHECK(cv.value == Approx(0.5));
  CHECK(cv.low == Approx(spread.low / 2));
  // Wilson: 0 of 3 is [0, 0.561], 3 of 3 is [0.439, 1].
  const Estimate none = rate_estimate(0, 3);
  CHECK(none.low == 0);
  CHECK(none.high == Approx(0.5615).epsilon(1e-3));
  const Estimate all = rate_estimate(3, 3);
  CHECK(all.low == Approx(0.4385).epsilon(1e-3));
  CHECK(all.high == 1);
  // The chi-square quantiles against published tables (df 1, 2, 11, 30).
  CHECK(chi_square_025(1) == Approx(0.000982).epsilon(2e-3));
  CHECK(chi_square_975(1) == Approx(5.0239).epsilon(1e-4));
  CHECK(chi_square_025(2) == Approx(0.0506).epsilon(1e-3));
  CHECK(chi_square_975(2) == Approx(7.3778).epsilon(1e-4));
  CHECK(chi_square_975(11) == Approx(21.920).epsilon(1e-4));
  CHECK(chi_square_025(11) == Approx(3.816).epsilon(1e-3));
  CHECK(chi_square_975(30) == Approx(46.979).epsilon(1e-4));
  CHECK(chi_square_025(30) == Approx(16.791).epsilon(1e-4));
  // Too few runs give no interval, and say why.
  CHECK_FALSE(mean_estimate({4.0}).valid());
  CHECK_THAT(mean_estimate({4.0, NAN}).why, Contains("1 finished run(s)"));
  CHECK_FALSE(rate_estimate(0, 0).valid());
  CHECK_FALSE(cv_estimate({0.0, 0.0}).valid());
}

TEST_CASE("verdicts on synthetic figures: a clear win, a clear loss, overlapping intervals", "[claims]") {
  const Estimate low = mean_estimate({10.0, 10.5, 11.0});
  const Estimate high = mean_estimate({20.0, 20.5, 21.0});
  const Estimate wide = mean_estimate({5.0, 15.0, 25.0});
  SECTION("a clear win is supported, whichever way the claim points") {
    CHECK(judge(low, high, /*expect_higher=*/false, 1) == Verdict::supported);
    CHECK(judge(high, low, /*expect_higher=*/true, 1) == Verdict::supported);
  }
  SECTION("a clear loss is not supported") {
    CHECK(judge(high, low, false, 1) == Verdict::not_supported);
    CHECK(judge(low, high, true, 1) == Verdict::not_supported);
  }
  SECTION("overlapping intervals are inconclusive, even with different means") {
    CHECK(judge(low, wide, false, 1) == Verdict::inconclusive);
    CHECK(judge(wide, high, true, 1) == Verdict::inconclusive);
  }
  SECTION("a factor scales the other side: 'twice as much'") {
    CHECK(judge(high, low, true, 1.5) == Verdict::supported);      // 20.5 > 1.5 x 10.5
    CHECK(judge(high, low, true, 3) == Verdict::not_supported);    // 20.5 < 3 x 10.5
    CHECK(judge(low, high, false, 0.5) == Verdict::inconclusive);  // [9.26, 11.74] against [9.63, 10.87]
  }
  SECTION("a bar is an interval of width zero") {
    CHECK(judge(low, Estimate::exactly(30), false, 1) == Verdict::supported);
    CHECK(judge(low, Estimate::exactly(5), false, 1) == Verdict::not_supported);
    CHECK(judge(low, Estimate::exactly(10.5), false, 1) == Verdict::inconclusive);
  }
  SECTION("no interval on either side is inconclusive") {
    CHECK(judge(mean_estimate({1.0}), high, false, 1) == Verdict::inconclusive);
    CHECK(judge(low, mean_estimate({NAN, NAN}), false, 1) == Verdict::inconclusive);
  }
  SECTION("rates: 0 of 10 failures against 10 of 10") {
    CHECK(judge(rate_estimate(0, 10), rate_estimate(10, 10), false, 1) == Verdict::supported);
    CHECK(judge(rate_estimate(0, 3), rate_estimate(1, 3), false, 1) == Verdict::inconclusive);
  }
}

TEST_CASE("a claim's checks combine: all must hold, or any one", "[claims]") {
  using V = Verdict;
  CHECK(combine({V::supported, V::supported}, true) == V::supported);
  CHECK(combine({V::supported, V::inconclusive}, true) == V::inconclusive);
  CHECK(combine({V::supported, V::not_supported, V::inconclusive}, true) == V::not_supported);
  CHECK(combine({V::not_supported, V::inconclusive}, false) == V::inconclusive);
  CHECK(combine({V::not_supported, V::supported}, false) == V::supported);
  CHECK(combine({V::not_supported, V::not_supported}, false) == V::not_supported);
  CHECK(combine({}, true) == V::inconclusive);
}

TEST_CASE("claims are judged on the runs' figures, cell by cell", "[claims]") {
  ClaimsManifest m(std::string(kOneClaim) + R"(
[[claims]]
id = "rate"
text = "The small GMM never fails."
combine = "any"
[[claims.checks]]
metric = "mmd.mmd2"
statistic = "failure_rate"
fails_above = 0.5
a = { model = "gmm", dataset = "ring", train_size = 64 }
expect = "lower"
bar = 0.9
)");
  const Experiment e = load_experiment(m.path);
  REQUIRE(e.claims.size() == 2);
  CHECK(e.claims[0].checks[0].a.label() == "big on ring (train_size=256)");

  // Figures as the runs' folders would hold them: big clearly below gmm at 256 points.
  std::vector<RunGroup> groups;
  for (const auto& run : e.runs) {
    const std::string label =
        run.model.name + "/" + std::to_string(run.dataset.params["train_size"].value_or(int64_t{0}));
    auto group = std::find_if(groups.begin(), groups.end(), [&](const RunGroup& g) { return g.label == label; });
    if (group == groups.end())
      group = groups.insert(groups.end(), RunGroup{label, run.model.name, "", run.dataset.name, "", {}, {}, {}});
    RunOutcome outcome;
    outcome.plan = &run;
    outcome.state = "finished";
    const double base = run.model.name == "big" ? 0.01 : 0.05;
    outcome.metrics["mmd.mmd2"] = base + 0.001 * static_cast<double>(run.seed);
    // The small-data GMM: one run failed, one gave NaN, one passed.
    if (run.model.name == "gmm" && run.dataset.params["train_size"].value_or(int64_t{0}) == 64) {
      if (run.seed == 1) outcome.state = "train failed";  // as group_runs names a crashed step
      if (run.seed == 2) outcome.metrics["mmd.mmd2"] = NAN;
    }
    group->runs.push_back(outcome);
  }
  const auto results = judge_claims(e.claims, groups);
  REQUIRE(results.size() == 2);
  CHECK(results[0].verdict == Verdict::supported);
  CHECK(results[0].checks[0].a.n == 3);
  CHECK(results[0].checks[0].a.value == Approx(0.012));
  CHECK(results[0].checks[0].b.value == Approx(0.052));
  CHECK_THAT(results[0].reason, Contains("expected big on ring (train_size=256) < gmm on ring (train_size=256)") &&
                                    Contains("holds, intervals apart"));
  // 2 of 3 failed (a failed run, a NaN): [0.21, 0.94] is not below 0.9.
  CHECK(results[1].checks[0].a.value == Approx(2.0 / 3));
  CHECK(results[1].verdict == Verdict::inconclusive);
  CHECK_THAT(results[1].reason, Contains("failure_rate of mmd.mmd2") && Contains("intervals overlap"));
  // A failed evaluation fails too; a run still running (or cancelled) is no evidence either way.
  for (auto& g : groups)
    for (auto& run : g.runs) {
      if (run.plan->model.name != "gmm") continue;
      if (run.plan->seed == 3) run.state = "evaluate failed";
      if (run.state == "train failed") run.state = "train running";
    }
  const auto later = judge_claims(e.claims, groups);
  CHECK(later[1].checks[0].a.value == Approx(1.0));  // the NaN and the failed evaluation, of 2
  CHECK(later[1].checks[0].a.n == 2);
  CHECK(later[0].checks[0].b.n == 2);  // gmm at 256 points: 2 finished evaluations
  // A value name the metric does not have is said so, not taken for missing runs.
  std::vector<Claim> misspelt = {e.claims[0]};
  misspelt[0].checks[0].metric = "mmd.mdm2";
  CHECK_THAT(judge_claims(misspelt, groups)[0].reason, Contains("no run reports 'mmd.mdm2' (they report mmd.mmd2)"));
  // With a factor, a clear miss is not "the opposite": 0.012 is below 0.052 but above 0.1 x 0.052.
  std::vector<Claim> tenfold = {e.claims[0]};
  tenfold[0].checks[0].factor = 0.1;
  const auto missed = judge_claims(tenfold, groups);
  CHECK(missed[0].verdict == Verdict::not_supported);
  CHECK_THAT(missed[0].reason, Contains("a is above 0.1 × b, intervals apart"));
  // A cell whose runs record a convention for the metric beside runs (older evaluations)
  // that record none for it: not comparable, so not judged. Where no run records one, as
  // above, nothing changes.
  std::vector<RunGroup> mixed = groups;
  for (auto& g : mixed)
    for (auto& run : g.runs) {
      run.conventions["other.value"] = "recorded";  // every run records conventions
      if (run.plan->model.name == "big" && run.plan->seed > 1) run.conventions["mmd.mmd2"] = "counted anew";
    }
  const auto unlike = judge_claims({e.claims[0]}, mixed);
  CHECK(unlike[0].verdict == Verdict::inconclusive);
  CHECK_THAT(unlike[0].reason, Contains("not comparable") && Contains("counted anew | none recorded"));
  const std::string table = claims_markdown(results);
  CHECK_THAT(table, Contains("| 1 | More components fit the ring better. | **supported** |") &&
                        Contains("| rate | The small GMM never fails. | **inconclusive** |"));
}

TEST_CASE("[[claims]] errors name the place and what was expected", "[claims]") {
  auto error = [](const std::string& claims) {
    ClaimsManifest m(claims);
    return error_of([&] { load_experiment(m.path); });
  };
  const std::string head = "\n[[claims]]\nid = 1\ntext = \"t\"\n[[claims.checks]]\nmetric = \"mmd.mmd2\"\n";
  const std::string cell_a = "a = { model = \"big\", dataset = \"ring\" }\n";
  CHECK_THAT(error(head + cell_a + "b = { model = \"gmm\", dataset = \"ring\" }\n"),
             Contains("m.toml:20:1") && Contains("has no 'expect'"));
  CHECK_THAT(error(head + cell_a + "expect = \"lower\"\nbar = 1\nb = { model = \"gmm\", dataset = \"ring\" }\n"),
             Contains("needs exactly one of 'b'") && Contains("and 'bar'"));
  CHECK_THAT(error(head + cell_a + "expect = \"lower\"\nbar = inf\n"), Contains("to be a finite number"));
  CHECK_THAT(error(head + cell_a + "expect = \"smaller\"\nbar = 1\n"),
             Contains("m.toml:23:10") && Contains("\"higher\" or \"lower\", got \"smaller\""));
  CHECK_THAT(error(head + cell_a + "expect = \"lower\"\nbar = 1\nstatistc = \"std\"\n"),
             Contains("unknown key 'claims[0].checks[0].statistc'") && Contains("did you mean 'statistic'"));
  CHECK_THAT(error(head + cell_a + "expect = \"lower\"\nbar = 1\nstatistic = \"median\"\n"),
             Contains("unknown statistic 'median'") && Contains("mean, std, cv, failure_rate"));
  CHECK_THAT(
      error(head + "a = { model = \"big\", dataset = \"ring\", train_size = 100 }\nexpect = \"lower\"\nbar = 1\n"),
      Contains("m.toml:22:5") && Contains("the cell big on ring (train_size=100) holds no run of the plan"));
  CHECK_THAT(error(head + "a = { model = \"gmm\" }\nexpect = \"lower\"\nbar = 1\n"),
             Contains("expected 'claims[0].checks[0].a' to name a model and a dataset"));
  CHECK_THAT(error("\n[[claims]]\nid = 1\ntext = \"t\"\n[[claims.checks]]\nmetric = \"fid.fid\"\n" + cell_a +
                   "expect = \"lower\"\nbar = 1\n"),
             Contains("checks 'fid.fid' of big on ring") && Contains("does not compute metric 'fid'") &&
                 Contains("define [metrics.fid]"));
  CHECK_THAT(error("\n[[claims]]\nid = 1\ntext = \"t\"\n"), Contains("claim 1 has no [[claims.checks]]"));
  CHECK_THAT(error(head + cell_a + "expect = \"lower\"\nbar = 1\n" + head + cell_a + "expect = \"lower\"\nbar = 1\n"),
             Contains("m.toml:26:1: claim id 1 is used twice (first at") && Contains("m.toml:17:1)"));
  // cost.* needs no [metrics] table: the host measures it for every run.
  ClaimsManifest cost("\n[[claims]]\nid = 1\ntext = \"t\"\n[[claims.checks]]\nmetric = \"cost.train_seconds\"\n" +
                      cell_a + "expect = \"lower\"\nbar = 1\n");
  CHECK(load_experiment(cost.path).claims.size() == 1);
}

TEST_CASE("scales: one manifest at several sizes, chosen with scale = NAME", "[claims][manifest]") {
  const std::string scales =
      "[scales.full]\n[scales.small]\nexperiment.steps = 2\nexperiment.seeds = [7]\nmodels.big.components = 2\n";
  ClaimsManifest m("", scales, "scale = \"full\"\n");
  SECTION("the file's own scale") {
    const Experiment e = load_experiment(m.path);
    CHECK(e.runs.size() == 12);
    CHECK(e.runs[0].settings.budget.steps == 5);
  }
  SECTION("--set scale=small merges [scales.small] over the manifest") {
    const Experiment e = load_experiment(m.path, {"scale=small"});
    REQUIRE(e.runs.size() == 4);
    CHECK(e.runs[0].seed == 7);
    CHECK(e.runs[0].settings.budget.steps == 2);
    CHECK(e.runs[0].model.params["components"].value_or(int64_t{0}) == 2);
  }
  SECTION("the command line wins over the scale") {
    const Experiment e = load_experiment(m.path, {"scale=small", "experiment.steps=3"});
    CHECK(e.runs[0].settings.budget.steps == 3);
  }
  SECTION("an unknown scale names the known ones") {
    CHECK_THAT(error_of([&] { load_experiment(m.path, {"scale=smal"}); }),
               Contains("scale 'smal' has no [scales.smal] table (did you mean 'small'?); the scales are full, small"));
  }
}

TEST_CASE("a model's `datasets` limits what it trains on", "[claims][manifest]") {
  ClaimsManifest m("",
                   "[datasets.other]\nplugin = \"example-toy2d\"\n[models.only]\nplugin = \"example-gmm\"\n"
                   "datasets = [\"other\"]\n");
  const Experiment e = load_experiment(m.path);
  size_t only = 0;
  for (const auto& r : e.runs)
    if (r.model.name == "only") {
      ++only;
      CHECK(r.dataset.name == "other");
    }
  CHECK(only == 3);  // three seeds on `other`, none on `ring`
  ClaimsManifest bad("", "[models.typo]\nplugin = \"example-gmm\"\ndatasets = [\"rinng\"]\n");
  CHECK_THAT(error_of([&] { load_experiment(bad.path); }),
             Contains("'models.typo.datasets' names 'rinng', which no [datasets.rinng] defines"));
}

TEST_CASE("configs/seed-claims.toml states the 15 claims at every scale", "[claims][manifest]") {
  TempDir dir;
  for (const std::string scale : {"full", "small", "tiny"}) {
    INFO("scale " << scale);
    const Experiment e = load_experiment(genlab::test::source_dir() / "configs" / "seed-claims.toml",
                                         {"scale=" + scale, "experiment.workspace=\"" + dir.path().string() + "\""});
    REQUIRE(e.claims.size() == 15);
    for (size_t i = 0; i < e.claims.size(); ++i) {
      CHECK(e.claims[i].id == std::to_string(i + 1));
      CHECK_FALSE(e.claims[i].experiment.empty());
    }
    CHECK(e.name == (scale == "full" ? "seed-claims" : "seed-claims-" + scale));
  }
}
