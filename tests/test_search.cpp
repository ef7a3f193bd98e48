// [search]: distributions drawn per trial (reproducible by seed, stable as trials are
// added), ASHA's promotions on synthetic values, a search run through the scheduler
// (the steps it spends, a promoted trial trained exactly as one never paused, a search
// extended without repeating a trial), and what validate refuses.
#include "catch.hpp"

#include <cmath>
#include <algorithm>
#include <fstream>
#include <set>

#include "experiment_dir.hpp"
#include "genlab/core/experiment.hpp"
#include "genlab/core/search.hpp"
#include "support.hpp"

using genlab::asha_promotions;
using genlab::TrialProgress;
using genlab::test::Contains;
using genlab::test::ExperimentDir;
using genlab::test::kRingGmmMmd;
using genlab::test::read_text;
using genlab::test::run_genlab;
namespace fs = std::filesystem;

namespace {

const std::string kSearched = std::string(kRingGmmMmd) +
                              "lr = {log_uniform = [0.001, 0.3]}\n"
                              "components = {int_uniform = [1, 12]}\n"
                              "init_scale = {choice = [0.5, 1.0, 2.0]}\n";

// An ASHA search of the GMM on the ring: `trials` trials, rungs at 30 and 90 of 270 steps.
std::string asha_manifest(int trials, const std::string& strategy = "asha") {
  return "steps = 270\nbatch_size = 64\n" + kSearched +
         "[evaluation]\nsamples = 128\nevery = 30\nduring = [\"mmd\"]\nduring_samples = 64\n"
         "[search]\ntrials = " +
         std::to_string(trials) + "\nseed = 1\nstrategy = \"" + strategy +
         "\"\nmetric = \"mmd.mmd2\"\nmin_steps = 30\neta = 3\n";
}

std::vector<std::string> run_names(const genlab::Experiment& e) {
  std::vector<std::string> names;
  for (const auto& r : e.runs) names.push_back(r.name);
  return names;
}

// The trial folders of an experiment that hold `file`.
std::set<std::string> trials_with(const ExperimentDir& e, const std::string& file) {
  std::set<std::string> out;
  for (const auto& d : fs::directory_iterator(e.folder() / "runs"))
    if (fs::exists(d.path() / file))
      out.insert(d.path().filename().string().substr(0, d.path().filename().string().find("--")));
  return out;
}

std::string validate_error(const std::string& body) {
  ExperimentDir e(body);
  const auto r = run_genlab("validate " + e.manifest.string());
  CHECK(r.exit_code != 0);
  return r.output;
}

}  // namespace

TEST_CASE("ASHA promotes the best 1/eta of the trials that reached a rung, each once", "[search]") {
  // Nine trials at the first rung of two: the best three (lowest) go on.
  std::vector<TrialProgress> trials;
  for (double v : {0.9, 0.1, 0.5, 0.7, 0.3, 0.8, 0.2, 0.6, 0.4}) trials.push_back({{v}, false});
  CHECK(asha_promotions(trials, 2, 3, true) == std::vector<size_t>{1, 6, 4});
  CHECK(asha_promotions(trials, 2, 3, false) == std::vector<size_t>{0, 5, 3});
  // A trial already sent on (busy) is not promoted twice; the others keep their places.
  trials[1].busy = true;
  CHECK(asha_promotions(trials, 2, 3, true) == std::vector<size_t>{6, 4});
  // Asynchronous: with two of nine reached, floor(2/3) = 0 promote; with three, the best one.
  std::vector<TrialProgress> early = {{{0.5}, false}, {{0.4}, false}};
  CHECK(asha_promotions(early, 2, 3, true).empty());
  early.push_back({{0.6}, false});
  CHECK(asha_promotions(early, 2, 3, true) == std::vector<size_t>{1});
  // The second rung ranks those that reached it; a NaN ranks last.
  std::vector<TrialProgress> second = {{{0.1, NAN}, false}, {{0.2, 0.5}, false}, {{0.3, 0.7}, false},
                                       {{0.9}, true},       {{0.8}, true},       {{0.7}, true}};
  CHECK(asha_promotions(second, 2, 3, true) == std::vector<size_t>{1});
  // A trial that reached every rung below the end goes to the end once promoted; one
  // without values has reached nothing.
  CHECK(asha_promotions({{{}, false}, {{}, false}, {{}, false}}, 2, 3, true).empty());
}

TEST_CASE("when nothing more is promoted, ASHA sends on the best at the highest rung, unless one finished",
          "[search]") {
  using genlab::asha_leader;
  // Two trials reached the second rung of six: floor(2/3) = 0 would promote none to the end.
  std::vector<TrialProgress> trials = {{{0.3, 0.2}, false}, {{0.1, 0.4}, false}, {{0.5}, false},
                                       {{0.6}, false},      {{0.7}, false},      {{0.8}, false}};
  CHECK(asha_leader(trials, true) == std::optional<size_t>{0});
  CHECK(asha_leader(trials, false) == std::optional<size_t>{1});
  trials[1].busy = true;  // finished
  CHECK_FALSE(asha_leader(trials, true).has_value());
  CHECK_FALSE(asha_leader({{{}, false}, {{}, false}}, true).has_value());  // none at a rung yet
}

TEST_CASE("a search's trials draw their values from the seed, the parameter and the trial only", "[search]") {
  ExperimentDir three(asha_manifest(3, "random"));
  ExperimentDir five(asha_manifest(5, "random"));
  const genlab::Experiment a = genlab::load_experiment(three.manifest);
  const genlab::Experiment again = genlab::load_experiment(three.manifest);
  const genlab::Experiment b = genlab::load_experiment(five.manifest);
  REQUIRE(a.runs.size() == 3);
  REQUIRE(b.runs.size() == 5);
  CHECK(run_names(a) == run_names(again));
  for (size_t i = 0; i < 3; ++i) {
    CHECK(a.runs[i].name == b.runs[i].name);  // more trials leave the first ones as they were
    CHECK(a.runs[i].id == b.runs[i].id);
    CHECK(a.runs[i].trial == static_cast<int64_t>(i));
    CHECK(a.runs[i].search_group == "gmm-ring-s0");
  }
  const std::vector<std::string> b_names = run_names(b);
  const std::set<std::string> names(b_names.begin(), b_names.end());
  CHECK(names.size() == 5);
  for (const auto& r : b.runs) {
    const double lr = r.model.params["lr"].value_or(0.0);
    const int64_t k = r.model.params["components"].value_or(int64_t{0});
    const double scale = r.model.params["init_scale"].value_or(0.0);
    CHECK(lr >= 0.001);
    CHECK(lr <= 0.3);
    CHECK(k >= 1);
    CHECK(k <= 12);
    CHECK((scale == 0.5 || scale == 1.0 || scale == 2.0));
    CHECK(r.searched["models.gmm.lr"].value_or(0.0) == lr);  // what the report plots
    CHECK_THAT(r.name, Contains("-t" + std::to_string(r.trial) + "-"));
  }
  // Another seed draws other values.
  const genlab::Experiment other = genlab::load_experiment(three.manifest, {"search.seed=2"});
  CHECK(run_names(other) != run_names(a));
}

TEST_CASE("an ASHA search stops most trials at a rung, continues the best from their checkpoints, and resumes",
          "[search][scheduler]") {
  ExperimentDir e(asha_manifest(9));
  const auto r = run_genlab("run --quiet " + e.manifest.string());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  // Every trial reached the first rung; at the end of an asynchronous search, the best
  // floor(n/3) of the n trials at each rung went on (a few more may have, promoted while
  // fewer had reached it), and far fewer steps were spent than training all to the end.
  const auto at_30 = trials_with(e, "rung-00000030.toml");
  const auto at_90 = trials_with(e, "rung-00000090.toml");
  const auto finished = trials_with(e, "train.done.toml");
  CHECK(at_30.size() == 9);
  auto best_of = [&](const std::set<std::string>& trials, const char* rung, size_t count) {
    std::vector<std::pair<double, std::string>> ranked;
    for (const auto& d : fs::directory_iterator(e.folder() / "runs")) {
      const std::string name = d.path().filename().string().substr(0, d.path().filename().string().find("--"));
      if (trials.count(name))
        ranked.emplace_back((*genlab::read_toml(d.path() / rung))["values"]["mmd.mmd2"].value_or(NAN), name);
    }
    std::sort(ranked.begin(), ranked.end());
    std::set<std::string> out;
    for (size_t i = 0; i < count && i < ranked.size(); ++i) out.insert(ranked[i].second);
    return out;
  };
  for (const auto& name : best_of(at_30, "rung-00000030.toml", 3)) CHECK(at_90.count(name) == 1);
  for (const auto& name : best_of(at_90, "rung-00000090.toml", at_90.size() / 3)) CHECK(finished.count(name) == 1);
  CHECK(at_90.size() >= 3);
  CHECK(at_90.size() < 9);
  CHECK(finished.size() >= 1);
  CHECK(finished.size() < at_90.size());
  const size_t steps = 9 * 30 + at_90.size() * 60 + finished.size() * 180;
  CHECK_THAT(r.output, Contains("9 trial(s), " + std::to_string(finished.size()) + " trained to the end, " +
                                std::to_string(9 - finished.size()) + " stopped by ASHA; " + std::to_string(steps) +
                                " of 2430 steps"));
  CHECK_THAT(r.output, Contains(std::to_string(2 * (9 - finished.size())) + " stopped by the search"));

  // The best finished trial trained exactly as the same
  // configuration trained without pauses (random search, every trial to the end).
  const genlab::Experiment plan = genlab::load_experiment(e.manifest);
  const auto outcomes = genlab::search_outcomes(plan);
  REQUIRE(outcomes.size() == 1);
  REQUIRE(outcomes[0].best != nullptr);
  const fs::path winner = e.folder() / "runs" / outcomes[0].best->folder_name();
  CHECK(fs::exists(winner / "train.done.toml"));
  CHECK(finished.count(outcomes[0].best->name) == 1);
  // Training CPU seconds add up over the pauses.
  const auto done = genlab::read_toml(winner / "train.done.toml");
  const auto winner_rung = genlab::read_toml(winner / "rung-00000090.toml");
  REQUIRE(done);
  REQUIRE(winner_rung);
  CHECK((*done)["cpu_seconds"].value_or(0.0) > (*winner_rung)["cpu_seconds"].value_or(0.0));

  ExperimentDir plain(asha_manifest(9, "random"));
  REQUIRE(run_genlab("run --quiet " + plain.manifest.string()).exit_code == 0);
  CHECK(read_text(winner / "losses.jsonl") ==
        read_text(plain.folder() / "runs" / outcomes[0].best->folder_name() / "losses.jsonl"));
  CHECK(genlab::test::metric_lines(e.results(outcomes[0].best->name)) ==
        genlab::test::metric_lines(plain.results(outcomes[0].best->name)));

  // The report names the best trial; a third run reuses everything.
  CHECK_THAT(read_text(e.folder() / "report.md"), Contains(outcomes[0].best->name.substr(12)));
  const auto again = run_genlab("run --quiet " + e.manifest.string());
  CHECK_THAT(again.output, !Contains("start  "));
  CHECK_THAT(again.output, Contains("(" + std::to_string(1 + 2 * finished.size()) + " already done, " +
                                    std::to_string(2 * (9 - finished.size())) + " stopped by the search)"));
  // A stopped trial's plan says why.
  const auto validate = run_genlab("validate " + e.manifest.string());
  CHECK_THAT(validate.output, Contains("train: search (stopped by ASHA at rung 1 of 2 (step 30)"));

  // The search extended to twelve trials: the nine are not trained again from the start.
  const auto first_nine = trials_with(e, "rung-00000030.toml");
  std::string twelve = read_text(e.manifest);
  twelve.replace(twelve.find("trials = 9"), 10, "trials = 12");
  std::ofstream(e.manifest, std::ios::trunc) << twelve;
  const auto extended = run_genlab("run --quiet " + e.manifest.string());
  INFO(extended.output);
  REQUIRE(extended.exit_code == 0);
  CHECK(trials_with(e, "rung-00000030.toml").size() == 12);
  for (const auto& name : first_nine) CHECK_THAT(extended.output, !Contains("start  train " + name + " ["));
  CHECK_THAT(extended.output, Contains("search gmm-ring-s0: 12 trial(s)"));
}

TEST_CASE("validate refuses a malformed search with its line and column", "[search]") {
  const std::string during = "[evaluation]\nevery = 30\nduring = [\"mmd\"]\n";
  auto manifest = [&](const std::string& lr, const std::string& search) {
    return "steps = 270\n" + std::string(kRingGmmMmd) + "lr = " + lr + "\n" + during + "[search]\n" + search;
  };
  SECTION("a > b") {
    CHECK_THAT(validate_error(manifest("{uniform = [0.3, 0.1]}", "trials = 3\n")),
               Contains("m.toml:16:6: 'models.gmm.lr.uniform' = [0.3, 0.1] has a > b; expected a <= b"));
  }
  SECTION("log_uniform from 0") {
    CHECK_THAT(validate_error(manifest("{log_uniform = [0, 0.1]}", "trials = 3\n")),
               Contains("m.toml:16:6: 'models.gmm.lr.log_uniform' = [0, 0.1] needs a > 0"));
  }
  SECTION("a real distribution for an integer") {
    CHECK_THAT(validate_error("steps = 270\n" + std::string(kRingGmmMmd) + "components = {uniform = [1, 8]}\n" +
                              during + "[search]\ntrials = 3\n"),
               Contains("'models.gmm.components' is an integer; uniform draws real numbers"));
  }
  SECTION("a metric the evaluation during training does not compute") {
    CHECK_THAT(validate_error(manifest("{uniform = [0.01, 0.1]}",
                                       "trials = 3\nstrategy = \"asha\"\nmetric = \"fid.fid\"\nmin_steps = 30\n")),
               Contains("search.metric = \"fid.fid\" is not computed by the evaluation during training"));
  }
  SECTION("a first rung no trial stops at") {
    CHECK_THAT(validate_error(manifest("{uniform = [0.01, 0.1]}",
                                       "trials = 3\nstrategy = \"asha\"\nmetric = \"mmd.mmd2\"\nmin_steps = 270\n")),
               Contains("search.min_steps = 270 leaves no rung below experiment.steps = 270"));
  }
  SECTION("a distribution without [search], and [search] with nothing to search") {
    ExperimentDir e("steps = 270\n" + std::string(kRingGmmMmd) + "lr = {uniform = [0.01, 0.1]}\n");
    CHECK_THAT(run_genlab("validate " + e.manifest.string()).output,
               Contains("models.gmm.lr is a distribution: add [search] with trials = N"));
    CHECK_THAT(validate_error(manifest("0.05", "trials = 3\n")), Contains("[search] has nothing to search"));
  }
  SECTION("a distribution in an override") {
    CHECK_THAT(validate_error("steps = 270\n" + std::string(kRingGmmMmd) +
                              "[[overrides]]\nset = {\"models.gmm.lr\" = {uniform = [0.01, 0.1]}}\n"),
               Contains("to a sweep or a distribution; expected one value"));
  }
}

TEST_CASE(
    "genlab run --settle adds seeds to the cells of an open claim until it is decided, and validate estimates how many",
    "[search][claims][settle]") {
  // Two seeds leave this claim open (t at 1 degree of freedom is 12.7); more decide it.
  const std::string body =
      "steps = 60\nseeds = [0, 1]\n" + std::string(kRingGmmMmd) + "components = {sweep = [2, 8]}\n" + R"([evaluation]
samples = 128
[[claims]]
id = 1
text = "Eight components fit the ring better than two."
experiment = "MMD of the GMM with 8 and with 2 components"
[[claims.checks]]
metric = "mmd.mmd2"
a = { model = "gmm", dataset = "ring", components = 8 }
expect = "lower"
b = { model = "gmm", dataset = "ring", components = 2 }
)";
  ExperimentDir e(body);
  const auto plain = run_genlab("run --quiet " + e.manifest.string());
  REQUIRE(plain.exit_code == 0);
  const auto validate = run_genlab("validate " + e.manifest.string());
  CHECK_THAT(validate.output, Contains("inconclusive at 2 seed(s) so far; at the spread seen, about "));
  CHECK_THAT(validate.output, Contains(" seeds per cell would decide it (genlab run --settle)"));

  const auto settled = run_genlab("run --quiet --settle --max-seeds 8 " + e.manifest.string());
  INFO(settled.output);
  REQUIRE(settled.exit_code == 0);
  CHECK_THAT(settled.output, Contains("settle: claim(s) 1 inconclusive after round 1; adding gmm-ring-components=8 s2, "
                                      "gmm-ring-components=2 s2"));
  CHECK_THAT(settled.output, Contains("settle: every claim decided after round"));
  const auto added = genlab::read_toml(e.folder() / "settle.toml");
  REQUIRE(added);
  const size_t extra = (*added)["seeds"]["gmm-ring-components=8"].as_array()->size();
  CHECK(extra >= 1);
  CHECK(extra <= 6);
  CHECK((*added)["seeds"]["gmm-ring-components=2"].as_array()->size() == extra);
  // Every later plan holds the added seeds: a plain run reuses them all, validate says so.
  const genlab::Experiment plan = genlab::load_experiment(e.manifest);
  CHECK(plan.runs.size() == 4 + 2 * extra);
  const auto again = run_genlab("run --quiet " + e.manifest.string());
  CHECK_THAT(again.output, Contains(std::to_string(1 + 2 * (4 + 2 * extra)) + " already done"));
  CHECK_THAT(again.output, Contains("supported"));
  CHECK_THAT(run_genlab("validate " + e.manifest.string()).output,
             Contains("supported at " + std::to_string(2 + extra) + " seed(s) so far"));

  // The cap: a claim no seed decides (a cell against itself) stops --settle at --max-seeds.
  std::string same = body;
  same.replace(same.rfind("components = 2 }"), 16, "components = 8 }");
  ExperimentDir capped(same);
  const auto stopped = run_genlab("run --quiet --settle --max-seeds 3 " + capped.manifest.string());
  INFO(stopped.output);
  CHECK(stopped.exit_code == 0);
  CHECK_THAT(stopped.output, Contains("adding gmm-ring-components=8 s2"));
  CHECK_THAT(stopped.output, Contains("settle: claim(s) 1 still inconclusive, their cells at --max-seeds 3"));
  CHECK_THAT(run_genlab("run --settle " + capped.manifest.string() + " --max-seeds 1").output,
             Contains("--max-seeds must be in [2, 1000], got 1"));
}

TEST_CASE("search.budget.cpu_seconds begins no trial once a group's training CPU seconds reach it",
          "[search][scheduler]") {
  std::string body = asha_manifest(6, "random");
  body.replace(body.find("trials = 6"), 10, "trials = 6\nbudget = { cpu_seconds = 0.001 }");
  ExperimentDir e(body);
  const auto r = run_genlab("run --quiet " + e.manifest.string());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  // The first trial begins (nothing is spent yet); after it, the budget is spent.
  CHECK(trials_with(e, "train.done.toml").size() == 1);
  CHECK_THAT(r.output, Contains("search gmm-ring-s0: 6 trial(s), 1 trained to the end, 5 not begun"));
  CHECK_THAT(r.output, Contains("not begun: its search spent its budget ("));
  CHECK_THAT(read_text(e.folder() / "report.md"), Contains("| gmm-ring-s0 | 1 of 6 | 1 | 0 |"));
  CHECK_THAT(run_genlab("validate " + e.manifest.string()).output,
             Contains("train: search (not begun: its search spent"));

  std::string zero = asha_manifest(6, "random");
  zero.replace(zero.find("trials = 6"), 10, "budget = { cpu_seconds = 0 }");
  CHECK_THAT(validate_error(zero), Contains("expected search.budget.cpu_seconds > 0, got 0"));
}
