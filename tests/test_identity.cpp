// What a second `genlab run` reuses: identities cover everything that decides a result, a
// changed manifest recomputes exactly what the change decides (a metric added is computed
// alone on the saved samples), `validate` says what will be reused and why, and unlike
// numbers (likelihoods of different conventions) are never ranked together.
#include "catch.hpp"

#include <filesystem>
#include <regex>
#include <string>

#include "genlab/core/workspace.hpp"
#include "manifest_builder.hpp"
#include "support.hpp"

using genlab::test::Contains;
using genlab::test::ManifestBuilder;
using genlab::test::read_text;
using genlab::test::run_genlab;
using genlab::test::TempDir;
namespace fs = std::filesystem;

namespace {

// A manifest whose body is rewritten between runs; its workspace is inside its folder.
struct Manifest {
  TempDir dir;
  fs::path file = dir.path() / "m.toml";
  void write(const std::string& body) const {
    dir.write("m.toml", "[experiment]\nname = \"exp\"\nworkspace = \"" + (dir.path() / "ws").string() +
                            "\"\nplugin_paths = [\"" GENLAB_TEST_PLUGIN_DIR "\"]\n" + body);
  }
  fs::path runs() const { return dir.path() / "ws" / "exp" / "runs"; }
  // The done file of the newest evaluation of the only run.
  toml::table newest_evaluation() const {
    fs::path newest;
    fs::file_time_type when = fs::file_time_type::min();
    for (const auto& run : fs::directory_iterator(runs()))
      for (const auto& e : fs::directory_iterator(run.path())) {
        const fs::path done = genlab::done_file(e.path(), genlab::NodeKind::Evaluate);
        if (e.is_directory() && fs::exists(done) && fs::last_write_time(done) >= when)
          newest = done, when = fs::last_write_time(done);
      }
    auto t = genlab::read_toml(newest);
    REQUIRE(t);
    return *t;
  }
  std::string run() const {
    const auto r = run_genlab("run --quiet " + file.string());
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    return r.output;
  }
};

std::string names(const toml::table& t, const char* key) {
  std::string out;
  if (const toml::array* a = t[key].as_array())
    for (const auto& v : *a) out += (out.empty() ? "" : ",") + v.value_or(std::string());
  return out;
}

const std::string kSettings = "steps = 20\nbatch_size = 16\n";
const std::string kData = "[datasets.ring]\nplugin = \"example-toy2d\"\ntrain_size = 256\ntest_size = 64\n";
const std::string kEvaluation = "[evaluation]\nsamples = 64\n";
const std::string kModel = "[models.gmm]\nplugin = \"example-gmm\"\ncomponents = 4\n";
const std::string kMmd = "[metrics.mmd]\nplugin = \"example-mmd\"\nbandwidth = 0.3\n";
const std::string kNll = "[metrics.nll]\nplugin = \"likelihood\"\n";

}  // namespace

TEST_CASE("a second run after each kind of change recomputes exactly what the change decides", "[identity][cli]") {
  Manifest m;
  const std::string base = kSettings + kData + kEvaluation + kModel + kMmd;
  m.write(base);
  CHECK_THAT(m.run(), Contains("3 node(s): 3 ok (0 already done)"));
  const auto versions = [&] {
    return run_genlab("registry list --workspace " + (m.dir.path() / "ws").string()).output;
  };
  const std::string registered = versions();

  SECTION("report-only and executor-only keys change nothing, and make no registry version") {
    m.write(base + "[report]\ntitle = \"another title\"\n[executor]\nkind = \"local\"\npoll_seconds = 2\n");
    CHECK_THAT(m.run(), Contains("3 ok (3 already done)"));
    CHECK(versions() == registered);
  }
  SECTION("a metric added is computed alone, on the samples already drawn") {
    m.write(base + kNll);
    const auto plan = run_genlab("validate " + m.file.string());
    CHECK_THAT(plan.output, Contains("train: reuse (finished earlier)") &&
                                Contains("evaluate: metrics (samples of eval-") &&
                                Contains("reused: mmd; computed: nll (new)"));
    CHECK_THAT(m.run(), Contains("3 ok (2 already done)"));
    const toml::table result = m.newest_evaluation();
    CHECK(names(result, "computed") == "nll");
    CHECK(names(result, "reused") == "mmd");
    CHECK_THAT(result["samples_from"].value_or(std::string()), Contains("eval-"));
    CHECK(result["metrics"]["nll.nll_nats"].is_number());
    // The likelihood says what its number means: the model's score convention.
    CHECK(result["conventions"]["nll.nll_nats"].value_or(std::string()) == "likelihood 1.0.0; scores: continuous");
    // The report and the registry hold the new metric; running again changes nothing.
    CHECK_THAT(read_text(m.dir.path() / "ws" / "exp" / "report.json"), Contains("nll.nll_nats"));
    const std::string with_nll = versions();
    CHECK(with_nll != registered);
    CHECK_THAT(m.run(), Contains("3 ok (3 already done)"));
    CHECK(versions() == with_nll);
  }
  SECTION("a metric's parameter changed recomputes that metric alone") {
    m.write(kSettings + kData + kEvaluation + kModel + "[metrics.mmd]\nplugin = \"example-mmd\"\nbandwidth = 0.5\n");
    CHECK_THAT(run_genlab("validate " + m.file.string()).output, Contains("computed: mmd (changed)"));
    CHECK_THAT(m.run(), Contains("3 ok (2 already done)"));
    CHECK(names(m.newest_evaluation(), "computed") == "mmd");
  }
  SECTION("an evaluation setting draws new samples and computes every metric") {
    m.write(kSettings + kData + "[evaluation]\nsamples = 32\n" + kModel + kMmd);
    CHECK_THAT(run_genlab("validate " + m.file.string()).output,
               Contains("evaluate: evaluate (new samples: settings.eval_samples: 64 -> 32)"));
    CHECK_THAT(m.run(), Contains("3 ok (2 already done)"));
    const toml::table result = m.newest_evaluation();
    CHECK(names(result, "computed") == "mmd");
    CHECK(result["samples_from"].value_or(std::string("?")).empty());
    CHECK(result["samples"].value_or(int64_t{0}) == 32);
  }
  SECTION("a model parameter trains anew, and validate names the change") {
    m.write(kSettings + kData + kEvaluation + "[models.gmm]\nplugin = \"example-gmm\"\ncomponents = 3\n" + kMmd);
    CHECK_THAT(run_genlab("validate " + m.file.string()).output,
               Contains("train: train (model.params.components: 4 -> 3)"));
    CHECK_THAT(m.run(), Contains("3 ok (1 already done)"));  // the data is prepared already
  }
  SECTION("a dataset parameter prepares, trains and evaluates anew") {
    m.write(kSettings + "[datasets.ring]\nplugin = \"example-toy2d\"\ntrain_size = 128\ntest_size = 64\n" +
            kEvaluation + kModel + kMmd);
    CHECK_THAT(run_genlab("validate " + m.file.string()).output,
               Contains("train: train (dataset.params.train_size: 256 -> 128)"));
    CHECK_THAT(m.run(), Contains("3 ok (0 already done)"));
  }
}

TEST_CASE("the data a dataset reads is part of the run's identity", "[identity][cli]") {
  // digits-csv reads the file named by its `path`: the same path holding other rows is other
  // data, and its runs get other identities (so nothing trained on the old rows is reused).
  TempDir dir;
  const fs::path data = dir.path() / "digits.csv.gz";
  fs::copy_file(genlab::test::source_dir() / "data" / "digits" / "digits.csv.gz", data);
  const fs::path file = ManifestBuilder(dir)
                            .set("experiment.steps", 2)
                            .set("experiment.batch_size", 16)
                            .set("features.enabled", false)
                            .set("evaluation.samples", 16)
                            .dataset("d", "digits-csv", toml::table{{"path", data.string()}})
                            .model("vae", "vae", toml::table{{"hidden", 8}})
                            .write();
  auto run_id = [&] {
    const auto plan = run_genlab("validate --json " + file.string());
    INFO(plan.output);
    REQUIRE(plan.exit_code == 0);
    std::smatch id;
    REQUIRE(std::regex_search(plan.output, id, std::regex("\"id\" : \"([0-9a-f]{64})\"")));
    return id[1].str();
  };
  const std::string before = run_id();
  CHECK(run_id() == before);  // stable while the file is
  const std::string bytes = read_text(data);
  fs::remove(data);
  dir.write("digits.csv.gz", bytes.substr(0, bytes.size() - 1) + "x");
  CHECK(run_id() != before);
}

TEST_CASE("likelihoods of different conventions are never ranked together", "[identity][conventions][cli]") {
  // A Bernoulli VAE and a Gaussian mixture (a continuous density) both give "nats" on the
  // digits: compare splits the column, the report bolds neither against the other.
  TempDir dir;
  const fs::path file = dir.write(
      "m.toml", "[experiment]\nname = \"exp\"\nsteps = 5\nbatch_size = 32\nworkspace = \"" +
                    (dir.path() / "ws").string() + "\"\nplugin_paths = [\"" GENLAB_TEST_PLUGIN_DIR "\"]\n" +
                    "[features]\nenabled = false\n[evaluation]\nsamples = 64\n"
                    "[datasets.digits]\nplugin = \"digits-csv\"\n"
                    "[models.vae]\nplugin = \"vae\"\nhidden = 16\nlatent = 2\n"
                    "[models.vae_gauss]\nplugin = \"vae\"\nhidden = 16\nlatent = 2\nlikelihood = \"gaussian\"\n"
                    "[models.gmm]\nplugin = \"example-gmm\"\ncomponents = 2\n"
                    "[metrics.nll]\nplugin = \"likelihood\"\n");
  const auto r = run_genlab("run --quiet " + file.string());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto compare = run_genlab("compare " + file.string() + " --metric nll_nats");
  INFO(compare.output);
  REQUIRE(compare.exit_code == 0);
  CHECK_THAT(compare.output,
             Contains("[likelihood 1.0.0; scores: bernoulli; not ranked against the other 1 convention(s)]"));
  CHECK_THAT(compare.output,
             Contains("[likelihood 1.0.0; scores: continuous; not ranked against the other 1 convention(s)]"));
  // The two continuous densities rank against each other, the Bernoulli one alone.
  CHECK(std::regex_search(
      compare.output,
      std::regex("scores: continuous[^\\n]*\\n  1\\. (gmm|vae_gauss)-digits[^\\n]*\\n  2\\. (gmm|vae_gauss)-digits")));
  CHECK(std::regex_search(compare.output, std::regex("scores: bernoulli[^\\n]*\\n  1\\. vae-digits[^\\n]*\\n[^ ]")));
  const std::string md = read_text(dir.path() / "ws" / "exp" / "report.md");
  INFO(md);
  CHECK_THAT(md, Contains("Column nll.nll_nats holds values of different conventions") &&
                     Contains("likelihood 1.0.0; scores: bernoulli") &&
                     Contains("likelihood 1.0.0; scores: continuous"));
  // The Bernoulli row has no peer of its convention: never bold.
  CHECK(std::regex_search(md, std::regex("\\| vae-digits \\(vae\\) \\| 1/1 \\|[^|]*\\|")));
  CHECK_FALSE(std::regex_search(md, std::regex("\\| vae-digits \\(vae\\) \\| 1/1 \\| \\*\\*")));
}
