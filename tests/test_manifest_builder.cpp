// The tests' manifest builder: what it writes is what load_experiment reads.
#include "catch.hpp"

#include "genlab/core/experiment.hpp"
#include "manifest_builder.hpp"

using namespace genlab;
using genlab::test::TempDir;

TEST_CASE("the tests' manifest builder writes what load_experiment reads, a path with a quote included",
          "[manifest][support]") {
  TempDir dir;
  const std::filesystem::path workspace = dir.path() / "a \"quoted\" workspace";
  const std::filesystem::path file = genlab::test::ManifestBuilder(dir, "built")
                                         .set("experiment.workspace", workspace.string())
                                         .set("experiment.steps", 7)
                                         .dataset("ring", "example-toy2d", toml::table{{"train_size", 64}})
                                         .model("gmm", "example-gmm", toml::table{{"components", 3}})
                                         .write();
  const Experiment e = load_experiment(file);
  CHECK(e.name == "built");
  CHECK(e.workspace == workspace);
  REQUIRE(e.runs.size() == 1);
  CHECK(e.runs[0].settings.budget.steps == 7);
  CHECK(e.runs[0].dataset.plugin_name == "example-toy2d");
  CHECK(e.runs[0].dataset.params["train_size"].value<int64_t>() == 64);
  CHECK(e.runs[0].model.params["components"].value<int64_t>() == 3);
}
