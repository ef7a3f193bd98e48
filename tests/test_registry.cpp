// The model registry: numbering, aliases and their history, lineage, artifacts checked by
// hash, names that cannot escape, concurrent writers, and the orphan a crash leaves.
#include "catch.hpp"

#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>

#include "genlab/core/safetensors.hpp"
#include "genlab/genlab_util.h"
#include "genlab/registry/registry.hpp"
#include "registry_support.hpp"
#include "support.hpp"

using namespace genlab::registry;
using genlab::test::Contains;
using genlab::test::error_of;
using genlab::test::request;
using genlab::test::TempDir;
namespace fs = std::filesystem;

TEST_CASE("versions are numbered per model, and registering a run again returns its version", "[registry]") {
  TempDir dir;
  Registry reg(dir.path());
  CHECK(reg.store().schema_version() == 2);
  const Version first = reg.register_version(request(dir, "vae", "run-a"));
  const Version second = reg.register_version(request(dir, "vae", "run-b"));
  CHECK(first.version == 1);
  CHECK(second.version == 2);
  CHECK(reg.register_version(request(dir, "vae", "run-a")).version == 1);
  CHECK(reg.register_version(request(dir, "gan", "run-c")).version == 1);
  CHECK(reg.resolve("vae").version == 2);  // a bare name is the latest
  CHECK(reg.resolve("vae:1").run_id == "run-a");
  // Reopening the database keeps everything (the migration runs once).
  Registry again(dir.path());
  CHECK(again.store().versions("vae").size() == 2);
}

TEST_CASE("a version keeps its metrics, NaN as NaN, and its lineage", "[registry]") {
  TempDir dir;
  Registry reg(dir.path());
  const Version v = reg.register_version(request(dir, "vae", "run-a"));
  REQUIRE(v.metrics.size() == 2);
  CHECK(v.metrics[0].name == "broken");
  CHECK(std::isnan(v.metrics[0].value));
  CHECK(v.metrics[1].value == 95.5);
  CHECK(v.plugin.library_sha256 == "abc123");
  CHECK(v.dataset_hash == "d4t4");
  // From a run back to the versions it produced.
  const auto produced = reg.store().versions_of_run("run-a");
  REQUIRE(produced.size() == 1);
  CHECK(produced[0].ref() == "vae:1");
  CHECK(reg.store().run("run-a")->manifest == "/m.toml");
}

TEST_CASE("aliases move, and their history is kept", "[registry][alias]") {
  TempDir dir;
  Registry reg(dir.path());
  reg.register_version(request(dir, "vae", "run-a"));
  reg.register_version(request(dir, "vae", "run-b"));
  reg.set_alias("vae:1", "best");
  CHECK(reg.resolve("vae@best").version == 1);
  reg.set_alias("vae:2", "best");
  CHECK(reg.resolve("vae@best").version == 2);
  const auto history = reg.store().alias_history("vae", "best");
  REQUIRE(history.size() == 2);
  CHECK(history[0].version == 1);
  CHECK(history[1].version == 2);
  CHECK_THAT(error_of([&] { reg.resolve("vae@production"); }), Contains("model 'vae' has no alias 'production'"));
  CHECK_THAT(error_of([&] { reg.resolve("vae:9"); }), Contains("model 'vae' has no version 9"));
  // Deleting a version removes its aliases, recorded as version 0 in their history.
  reg.store().delete_version("vae", 2);
  CHECK_THAT(error_of([&] { reg.resolve("vae@best"); }), Contains("has no alias 'best'"));
  CHECK(reg.store().alias_history("vae", "best").back().version == 0);
}

TEST_CASE("names with path separators or '..' are refused", "[registry][bad-input]") {
  TempDir dir;
  Registry reg(dir.path());
  for (const char* bad : {"../evil", "a/b", "..", ".hidden", "", "x y"})
    CHECK_THAT(error_of([&] { reg.register_version(request(dir, bad, "run-x")); }), Contains("invalid model name"));
  reg.register_version(request(dir, "vae", "run-a"));
  CHECK_THAT(error_of([&] { reg.set_alias("vae:1", "../../etc"); }), Contains("invalid alias"));
  CHECK(reg.store().versions("").size() == 1);  // nothing written by the refusals
}

TEST_CASE("a tampered or truncated artifact is refused by its recorded size and hash", "[registry][bad-input]") {
  TempDir dir;
  Registry reg(dir.path());
  const Version v = reg.register_version(request(dir, "vae", "run-a"));
  const Artifact& a = v.artifacts.at(0);
  CHECK(reg.verified_artifact(a) == dir.path() / a.path);
  const fs::path file = dir.path() / a.path;
  std::string bytes = genlab::test::read_text(file);
  bytes[bytes.size() - 1] ^= 0x55;  // same size, other content
  fs::permissions(file, fs::perms::owner_write, fs::perm_options::add);
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  CHECK_THAT(error_of([&] { reg.verified_artifact(a); }), Contains("differs from the recorded") && Contains(a.sha256));
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes.substr(0, 10);
  CHECK_THAT(error_of([&] { reg.verified_artifact(a); }), Contains("is 10 bytes, the registry recorded"));
}

TEST_CASE("eight processes registering at once lose nothing", "[registry][concurrency]") {
  TempDir dir;
  { Registry create(dir.path()); }
  std::vector<pid_t> children;
  for (int p = 0; p < 8; ++p) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      int code = 0;
      try {
        Registry reg(dir.path());
        for (int i = 0; i < 5; ++i)
          reg.register_version(request(dir, "shared", "run-" + std::to_string(p) + "-" + std::to_string(i),
                                       static_cast<float>(p * 10 + i)));
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child %d: %s\n", p, e.what());
        code = 1;
      }
      std::_Exit(code);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  Registry reg(dir.path());
  const auto versions = reg.store().versions("shared");
  REQUIRE(versions.size() == 40);
  for (size_t i = 0; i < versions.size(); ++i) CHECK(versions[i].version == static_cast<int64_t>(i + 1));
  CHECK(reg.gc(true).empty());
}

TEST_CASE("eight processes making a new registry at once end up with one, and leave nothing beside it",
          "[registry][concurrency]") {
  TempDir dir;
  std::vector<pid_t> children;
  for (int p = 0; p < 8; ++p) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      int code = 0;
      try {
        Registry reg(dir.path() / "ws");
        reg.register_version(request(dir, "shared", "run-" + std::to_string(p), static_cast<float>(p)));
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child %d: %s\n", p, e.what());
        code = 1;
      }
      std::_Exit(code);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  Registry reg(dir.path() / "ws", Registry::Open::Existing);
  CHECK(reg.store().versions("shared").size() == 8);
  for (const auto& entry : fs::directory_iterator(dir.path() / "ws"))
    CHECK(entry.path().filename().string().find(".new-") == std::string::npos);
}

TEST_CASE("a crash between the artifact and the row leaves no row, and gc finds the orphan", "[registry][gc]") {
  TempDir dir;
  { Registry create(dir.path()); }
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    setenv("GENLAB_FAULT_CRASH_BEFORE_REGISTRY_ROWS", "1", 1);
    Registry reg(dir.path());
    reg.register_version(request(dir, "vae", "run-crash"));
    std::_Exit(0);  // not reached
  }
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 86);
  Registry reg(dir.path());
  CHECK(reg.store().versions("").empty());
  CHECK_FALSE(reg.store().run("run-crash").has_value());
  const auto orphans = reg.gc(true);
  REQUIRE(orphans.size() == 1);
  CHECK(fs::exists(orphans[0]));
  CHECK(reg.gc(false).size() == 1);
  CHECK_FALSE(fs::exists(orphans[0]));
  CHECK(reg.gc(true).empty());
}

TEST_CASE("gc removes the artifacts of deleted versions only", "[registry][gc]") {
  TempDir dir;
  Registry reg(dir.path());
  const Version a = reg.register_version(request(dir, "vae", "run-a", 1.0f));
  const Version b = reg.register_version(request(dir, "vae", "run-b", 2.0f));
  reg.store().delete_version("vae", 1);
  const auto removed = reg.gc(false);
  REQUIRE(removed.size() == 1);
  CHECK(removed[0] == (dir.path() / a.artifacts[0].path).lexically_normal());
  CHECK(fs::exists(dir.path() / b.artifacts[0].path));
}

TEST_CASE("compare shows metrics side by side and only the config keys that differ", "[registry]") {
  TempDir dir;
  Registry reg(dir.path());
  reg.register_version(request(dir, "vae", "run-a"));
  NewVersion other = request(dir, "vae", "run-b");
  other.config = "latent = 32\nlr = 0.001\n";
  other.metrics = {{"nll", 90.25, "lower", "test"}};
  reg.register_version(other);
  const std::string table = reg.compare({"vae:1", "vae:2"});
  CHECK_THAT(table, Contains("| | vae:1 | vae:2 |"));
  CHECK_THAT(table, Contains("| nll (lower is better) | 95.5 | 90.25 |"));
  CHECK_THAT(table, Contains("| latent | 20 | 32 |"));
  CHECK(table.find("| lr |") == std::string::npos);  // equal: left out
  CHECK_THAT(error_of([&] { reg.compare({"vae:1"}); }), Contains("at least two"));
}

TEST_CASE("export writes the checkpoint, the config and a model card", "[registry]") {
  TempDir dir;
  Registry reg(dir.path());
  reg.register_version(request(dir, "vae", "run-a"));
  reg.export_version("vae:1", dir.path() / "out");
  CHECK(fs::exists(dir.path() / "out" / "checkpoint.safetensors"));
  CHECK(genlab::test::read_text(dir.path() / "out" / "config.toml") == "latent = 20\nlr = 0.001\n");
  CHECK_THAT(genlab::test::read_text(dir.path() / "out" / "MODEL_CARD.md"),
             Contains("# vae:1") && Contains("run-a") && Contains("| nll | 95.5 | lower |"));
}

TEST_CASE("an independent reader (Python, standard library only) reads genlab's checkpoints",
          "[registry][safetensors]") {
  if (std::system("python3 -c 'import json, struct' > /dev/null 2>&1") != 0) {
    WARN("python3 is not installed: the independent reader cannot run (scripts/setup.sh installs it)");
    FAIL("python3 missing");
  }
  TempDir dir;
  genlab::TensorMapPtr map(genlab_util_tensor_map_new(2));
  const int64_t shape[2] = {2, 3};
  DLManagedTensor* w = genlab_util_cpu_tensor_new(genlab_util_dtype_float32(), 2, shape);
  static_cast<float*>(w->dl_tensor.data)[0] = -2.5f;
  const int64_t one = 1;
  DLManagedTensor* step = genlab_util_cpu_tensor_new(genlab_util_dtype_int64(), 1, &one);
  static_cast<int64_t*>(step->dl_tensor.data)[0] = 4242;
  genlab_util_tensor_map_set(map.get(), 0, "decoder.weight", w);
  genlab_util_tensor_map_set(map.get(), 1, "adam.step", step);
  const fs::path file = dir.path() / "c.safetensors";
  genlab::write_safetensors(file, *map, {{"plugin", "vae"}, {"step", "7"}});
  const auto out = dir.path() / "out.txt";
  const std::string command = "python3 '" +
                              (genlab::test::source_dir() / "tests" / "tools" / "read_safetensors.py").string() +
                              "' '" + file.string() + "' > '" + out.string() + "' 2>&1";
  const int rc = std::system(command.c_str());
  const std::string text = genlab::test::read_text(out);
  INFO(text);
  CHECK(rc == 0);
  CHECK_THAT(text, Contains("meta plugin=vae") && Contains("meta step=7") &&
                       Contains("tensor decoder.weight F32 [2, 3] -2.5") && Contains("tensor adam.step I64 [1] 4242"));
}

TEST_CASE("a name that matches nothing is an UnknownNameError listing the names there are", "[registry][names]") {
  TempDir dir;
  Registry reg(dir.path());
  reg.register_version(request(dir, "vae", "run-a"));
  reg.register_version(request(dir, "vae", "run-b"));
  reg.register_version(request(dir, "gan", "run-c"));
  reg.set_alias("vae:1", "best");
  auto unknown = [](const std::function<void()>& body) -> UnknownNameError {
    try {
      body();
    } catch (const UnknownNameError& e) {
      return e;
    }
    FAIL("no UnknownNameError was raised");
    return UnknownNameError("", "", {}, "");
  };
  for (const char* ref : {"vea", "vea:1", "vea@best"}) {
    const auto e = unknown([&] { reg.resolve(ref); });
    CHECK(e.name() == "vea");
    CHECK(e.known() == std::vector<std::string>{"gan", "vae"});
    CHECK_THAT(std::string(e.what()), Contains("no model 'vea' in the registry") && Contains("; it holds gan, vae"));
    CHECK(e.message(" (did you mean 'vae'?)")
              .find("'vea' in the registry " + (dir.path() / "registry.db").string() +
                    " (did you mean 'vae'?); it holds gan, vae") != std::string::npos);
  }
  const auto alias = unknown([&] { reg.resolve("vae@bets"); });
  CHECK(alias.name() == "bets");
  CHECK(alias.known() == std::vector<std::string>{"best"});
  CHECK_THAT(std::string(alias.what()), Contains("model 'vae' has no alias 'bets'; its aliases are best"));
  const auto version = unknown([&] { reg.resolve("vae:9"); });
  CHECK(version.known().empty());  // no did-you-mean between version numbers
  CHECK_THAT(std::string(version.what()), Contains("model 'vae' has no version 9; its versions are vae:1, vae:2"));
  CHECK_THAT(std::string(unknown([&] { reg.require_model("gna"); }).what()), Contains("no model 'gna'"));
  CHECK(reg.model_names() == std::vector<std::string>{"gan", "vae"});
}

TEST_CASE("opening an existing registry refuses a missing folder or database and creates nothing",
          "[registry][names]") {
  TempDir dir;
  CHECK_THAT(error_of([&] { Registry(dir.path() / "nope", Registry::Open::Existing); }),
             Contains("no such workspace folder"));
  CHECK_FALSE(fs::exists(dir.path() / "nope"));
  CHECK_THAT(error_of([&] { Registry(dir.path(), Registry::Open::Existing); }), Contains("no registry here"));
  CHECK_FALSE(fs::exists(dir.path() / "registry.db"));
  { Registry create(dir.path()); }
  Registry existing(dir.path(), Registry::Open::Existing);
  CHECK(existing.model_names().empty());
}

TEST_CASE("the model card of a dataset without parameters has no stray backticks", "[registry][card]") {
  TempDir dir;
  Registry reg(dir.path());
  NewVersion v = request(dir, "vae", "run-a");
  v.dataset_plugin = "digits-csv";
  v.dataset_params = "";
  reg.register_version(v);
  reg.export_version("vae:1", dir.path() / "out");
  const std::string card = genlab::test::read_text(dir.path() / "out" / "MODEL_CARD.md");
  CHECK_THAT(card, Contains("- dataset: digits-csv (data sha256 d4t4...)\n"));
  CHECK(card.find("``") == std::string::npos);
  // With parameters they stay, as code.
  reg.register_version(request(dir, "vae", "run-b"));
  reg.export_version("vae:2", dir.path() / "out2");
  CHECK_THAT(genlab::test::read_text(dir.path() / "out2" / "MODEL_CARD.md"),
             Contains("- dataset: idx-images `path = \"/data/mnist\"` (data sha256 d4t4...)\n"));
}

TEST_CASE("a version number is never given twice, even after its version is deleted", "[registry][immutable]") {
  TempDir dir;
  Registry reg(dir.path());
  reg.register_version(request(dir, "vae", "run-a"));
  reg.register_version(request(dir, "vae", "run-b"));
  reg.store().delete_version("vae", 2);  // the newest
  CHECK(reg.register_version(request(dir, "vae", "run-c")).version == 3);
  reg.store().delete_version("vae", 1);
  reg.store().delete_version("vae", 3);  // every version of the model
  CHECK(reg.register_version(request(dir, "vae", "run-d")).version == 4);
  Registry again(dir.path());  // the mark is kept in the database
  CHECK(again.register_version(request(dir, "vae", "run-e")).version == 5);
  CHECK(again.register_version(request(dir, "gan", "run-a")).version == 1);  // per model
}

TEST_CASE("a deleted version stays deleted: registering its run again registers nothing", "[registry][immutable]") {
  TempDir dir;
  Registry reg(dir.path());
  reg.register_version(request(dir, "vae", "run-a"));
  reg.register_version(request(dir, "vae", "run-b"));
  reg.store().delete_version("vae", 1);
  CHECK_THAT(error_of([&] { reg.register_version(request(dir, "vae", "run-a")); }),
             Contains("vae:1 was deleted") && Contains("genlab registry restore vae:1"));
  REQUIRE(reg.store().versions("vae").size() == 1);
  CHECK(reg.store().versions("vae")[0].ref() == "vae:2");
  CHECK_THAT(error_of([&] { reg.resolve("vae:1"); }), Contains("model 'vae' has no version 1: it was deleted"));
  try {
    reg.register_version(request(dir, "vae", "run-a"));
  } catch (const DeletedVersionError& e) {
    CHECK(e.ref() == "vae:1");
  }
  const auto deleted = reg.store().deleted_versions("vae");
  REQUIRE(deleted.size() == 1);
  CHECK(deleted[0].ref() == "vae:1");
  CHECK(deleted[0].run_id == "run-a");
  CHECK(deleted[0].eval_id == "eval-run-a");
  CHECK_FALSE(deleted[0].restored);
  // Restoring lets the run be registered again, as a new version that says what it replaces.
  CHECK_THAT(error_of([&] { reg.restore_version("vae:2"); }), Contains("vae:2 is not deleted"));
  CHECK_THAT(error_of([&] { reg.restore_version("vae:7"); }),
             Contains("no deleted version 7; its deleted versions are vae:1"));
  CHECK_THAT(error_of([&] { reg.restore_version("vae"); }), Contains("expected NAME:VERSION"));
  CHECK(reg.restore_version("vae:1").restored);
  const Version again = reg.register_version(request(dir, "vae", "run-a"));
  CHECK(again.version == 3);
  CHECK(again.replaces == 1);
  CHECK(reg.register_version(request(dir, "vae", "run-a")).version == 3);  // idempotent as before
  CHECK_THAT(error_of([&] { reg.resolve("vae:1"); }), Contains("it was deleted") && Contains("then restored"));
  CHECK_THAT(error_of([&] { reg.restore_version("vae:1"); }),
             Contains("vae:1 is already restored: its run is registered again as vae:3"));
  // Deleting the new version refuses the run again, now naming that version.
  reg.store().delete_version("vae", 3);
  CHECK_THAT(error_of([&] { reg.register_version(request(dir, "vae", "run-a")); }), Contains("vae:3 was deleted"));
  CHECK_THAT(error_of([&] { reg.restore_version("vae:1"); }), Contains("registered again as vae:3, deleted too"));
  // A model whose versions are all deleted says so.
  reg.store().delete_version("vae", 2);
  CHECK_THAT(error_of([&] { reg.resolve("vae"); }),
             Contains("model 'vae' has no version left") && Contains("vae:2, vae:3 were deleted"));
}
