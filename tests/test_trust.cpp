// Trust boundaries of the host (docs/security.md): names never leave the workspace, numbers
// are finite and bounded, an interrupted run's checkpoint is never thrown away by accident,
// a checkpoint is checked before it is resumed, and damaged run files mend or stay local.
#include "catch.hpp"

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "genlab/core/safetensors.hpp"
#include "genlab/core/workspace.hpp"
#include "genlab/genlab_util.h"
#include "support.hpp"

using genlab::test::Contains;
using genlab::test::read_text;
using genlab::test::run_genlab;
using genlab::test::TempDir;
namespace fs = std::filesystem;

namespace {

const std::string kRing =
    "[datasets.ring]\nplugin = \"example-toy2d\"\ntrain_size = 128\ntest_size = 32\n"
    "[evaluation]\nsamples = 32\n[models.gmm]\nplugin = \"example-gmm\"\ncomponents = 2\n";

// A manifest in dir/inner/m.toml whose workspace is dir/inner/ws: a name that climbs two
// folders up lands in dir, which the test watches.
struct Nested {
  TempDir dir;
  fs::path inner = dir.path() / "inner";
  fs::path write(const std::string& experiment_keys, const std::string& rest = kRing) const {
    return dir.write("inner/m.toml", "[experiment]\nbatch_size = 16\nworkspace = \"" + (inner / "ws").string() +
                                         "\"\nplugin_paths = [\"" GENLAB_TEST_PLUGIN_DIR "\"]\n" + experiment_keys +
                                         rest);
  }
  // Every path under dir but inner/ws, for a before/after comparison.
  std::set<std::string> outside() const {
    std::set<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir.path()))
      if (e.path().string().rfind((inner / "ws").string(), 0) != 0) out.insert(e.path().string());
    return out;
  }
};

fs::path only_run(const fs::path& workspace) {
  for (const auto& e : fs::directory_iterator(workspace / "exp" / "runs")) return e.path();
  FAIL("no run folder");
  return {};
}

}  // namespace

TEST_CASE("a name that would leave the workspace is refused, and nothing outside it is written", "[trust][cli]") {
  Nested n;
  n.write("name = \"exp\"\n");
  const std::set<std::string> before = n.outside();
  for (const std::string name : {"../../x", "/tmp/genlab-x", "", ".", "..", "a\\nb", "a/b", ".hidden"}) {
    const fs::path file = n.write("name = \"" + name + "\"\n");
    for (const std::string command : {"validate ", "run --quiet "}) {
      const auto r = run_genlab(command + file.string());
      INFO(command << name << ": " << r.output);
      CHECK(r.exit_code == 1);
      CHECK_THAT(r.output, Contains("invalid experiment.name"));
    }
  }
  // From the command line too.
  const fs::path file = n.write("name = \"exp\"\n");
  const auto set = run_genlab("run --quiet --set 'experiment.name=\"../../x\"' " + file.string());
  CHECK(set.exit_code == 1);
  CHECK_THAT(set.output, Contains("--set: invalid experiment.name \"../../x\": it starts with '.'"));
  // Model, dataset and metric names become folders and keys: the same rule.
  for (const std::string section : {"models", "datasets", "metrics"}) {
    const fs::path bad = n.write("name = \"exp\"\n", kRing + "[" + section + ".\"../up\"]\nplugin = \"example-gmm\"\n");
    const auto r = run_genlab("validate " + bad.string());
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Contains("invalid " + section + " name \"../up\""));
  }
  CHECK(n.outside() == before);
}

TEST_CASE("non-finite and out-of-range numbers are refused before anything runs", "[trust][manifest]") {
  Nested n;
  const std::string ok = "name = \"exp\"\n";
  struct Case {
    std::string keys, rest, message;
  };
  const Case cases[] = {
      {ok, kRing + "[models.gmm2]\nplugin = \"example-gmm\"\ncomponents = 2\nlr = {range = [0.1, nan, 0.1]}\n",
       "range' bounds and step to be finite numbers"},
      {ok, kRing + "[models.gmm2]\nplugin = \"example-gmm\"\nlr = {range = [0.1, 0.5, nan]}\n", "to be finite numbers"},
      {ok + "epochs = inf\n", kRing, "expected experiment.epochs to be a finite number"},
      {ok + "checkpoint_every = inf\n", kRing, "expected 'experiment.checkpoint_every' to be an integer"},
      {ok + "checkpoint_every = 1e300\n", kRing, "expected 'experiment.checkpoint_every' to be an integer"},
      {ok + "max_seconds = nan\n", kRing, "expected experiment.max_seconds to be a finite number"},
      {ok + "processes = 4294967296\n", kRing, "expected experiment.processes in [1, 256]"},
      {ok + "threads = 100000\n", kRing, "expected experiment.threads in [1, 1024]"},
      {ok + "threads = 2147483648\n", kRing, "expected experiment.threads in [1, 1024]"},
      {ok, kRing + "[models.gmm2]\nplugin = \"example-gmm\"\nlr = nan\n", "to be a finite number, got nan"},
  };
  for (const auto& c : cases) {
    const fs::path file = n.write(c.keys, c.rest);
    const auto r = run_genlab("validate " + file.string());
    INFO(c.keys << c.rest << "\n-> " << r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Contains(c.message));
  }
  const fs::path file = n.write(ok);
  const auto threads = run_genlab("run --quiet --threads -5 " + file.string());
  CHECK(threads.exit_code == 2);
  CHECK_THAT(threads.output, Contains("--threads must be in [0, 1024]"));
}

TEST_CASE("an interrupted run is resumed or refused, never restarted from scratch by accident",
          "[trust][resume][cli]") {
  Nested n;
  const fs::path file = n.write("name = \"exp\"\nsteps = 40\ncheckpoint_every = 10\n");
  REQUIRE(run_genlab("run --quiet " + file.string()).exit_code == 0);
  const fs::path run = only_run(n.inner / "ws");
  // As a kill -9 leaves it: a checkpoint, no done file.
  fs::remove(genlab::done_file(run, genlab::NodeKind::Train));
  const std::string checkpoint = read_text(genlab::checkpoint_file(run));
  const auto refused = run_genlab("run --quiet " + file.string());
  INFO(refused.output);
  CHECK(refused.exit_code == 2);
  CHECK_THAT(refused.output, Contains("interrupted and keep a checkpoint (gmm-ring-s0)") && Contains("--resume") &&
                                 Contains("--restart"));
  CHECK(read_text(genlab::checkpoint_file(run)) == checkpoint);  // untouched
  CHECK_THAT(run_genlab("validate " + file.string()).output, Contains("train: resume (interrupted"));
  SECTION("--resume continues it") {
    const auto r = run_genlab("run --quiet --resume " + file.string());
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK_THAT(read_text(run / "train.log"), Contains("from its checkpoint at step 40"));
  }
  SECTION("--restart trains it again from step 0") {
    const auto r = run_genlab("run --quiet --restart " + file.string());
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK_THAT(read_text(run / "losses.jsonl"), Contains("{\"step\":0,"));
    CHECK_THAT(read_text(run / "train.log"), !Contains("from its checkpoint"));
  }
}

TEST_CASE("a checkpoint is checked before it is resumed", "[trust][resume][cli]") {
  Nested n;
  const fs::path file = n.write("name = \"exp\"\nsteps = 20\n");
  REQUIRE(run_genlab("run --quiet " + file.string()).exit_code == 0);
  const fs::path run = only_run(n.inner / "ws");
  const fs::path checkpoint = genlab::checkpoint_file(run);
  fs::remove(genlab::done_file(run, genlab::NodeKind::Train));
  const std::string original = read_text(checkpoint);
  auto resume_fails_with = [&](const std::string& message) {
    const auto r = run_genlab("run --quiet --resume " + file.string());
    INFO(r.output << read_text(run / "train.log"));
    CHECK(r.exit_code == 1);
    CHECK_THAT(read_text(run / "train.log"), Contains(message));
  };
  SECTION("a tensor value changed") {
    std::string bytes = original;
    bytes[bytes.size() - 3] ^= 0x40;  // in the data of the last tensor
    std::ofstream(checkpoint, std::ios::binary) << bytes;
    resume_fails_with("differ from the sha256 recorded when it was written");
  }
  SECTION("a step outside the run's budget, written with a valid digest") {
    auto contents = genlab::decode_safetensors(original, "checkpoint");
    for (const char* step : {"-5", "21", "12abc"}) {
      contents.metadata["step"] = step;
      genlab::write_safetensors(checkpoint, *contents.tensors, contents.metadata);
      resume_fails_with(std::string(step) == "12abc" ? "checkpoint metadata 'step' is \"12abc\", not a number"
                                                     : "outside the run's budget [0, 20]");
    }
  }
  SECTION("a tensor of another shape, or one the model does not have") {
    auto contents = genlab::decode_safetensors(original, "checkpoint");
    genlab::TensorMapPtr extra(genlab_util_tensor_map_new(contents.tensors->count + 1));
    for (size_t i = 0; i < contents.tensors->count; ++i) {
      genlab_util_tensor_map_set(extra.get(), i, contents.tensors->names[i], contents.tensors->tensors[i]);
      contents.tensors->tensors[i] = nullptr;  // moved
    }
    const int64_t empty = 0;
    genlab_util_tensor_map_set(extra.get(), contents.tensors->count, "stray",
                               genlab_util_cpu_tensor_new(genlab_util_dtype_int64(), 1, &empty));
    genlab::write_safetensors(checkpoint, *extra, contents.metadata);
    resume_fails_with("checkpoint tensor 'stray' is not part of plugin 'example-gmm''s state");
  }
}

TEST_CASE("damaged run files mend or stay local to their run", "[trust][cli]") {
  Nested n;
  const fs::path file = n.write("name = \"exp\"\n");
  REQUIRE(run_genlab("run --quiet " + file.string()).exit_code == 0);
  const fs::path run = only_run(n.inner / "ws");
  SECTION("a corrupt run.toml is written again from the manifest") {
    std::ofstream(run / "run.toml") << "garbage = [\n";
    fs::remove(genlab::done_file(run, genlab::NodeKind::Train));
    fs::remove(genlab::checkpoint_file(run));
    const auto r = run_genlab("run --quiet " + file.string());
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK(genlab::read_toml(run / "run.toml").has_value());
  }
  SECTION("a garbage line in one run's losses.jsonl does not stop genlab status") {
    std::ofstream(run / "losses.jsonl", std::ios::app) << "{\"step\":zzz\n";
    fs::remove(genlab::done_file(run, genlab::NodeKind::Train));
    const auto r = run_genlab("status " + (n.inner / "ws").string());
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.output, Contains("gmm-ring-s0"));
  }
}

#include "genlab/core/loader.hpp"
#include "genlab/core/plugin_manifest.hpp"

TEST_CASE("a library that does not load says why: dlerror and what the file is", "[trust][loader]") {
  TempDir dir;
  auto error_of = [](const fs::path& library) {
    try {
      genlab::load_plugin_library_unchecked(library);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("loaded");
  };
  // An ELF header of another class or machine: 16 bytes of e_ident, e_type 3 (shared), e_machine.
  auto elf = [&](const std::string& name, unsigned char bits_class, unsigned machine) {
    std::string bytes(64, '\0');
    const unsigned char ident[] = {0x7f, 'E', 'L', 'F', bits_class, 1, 1};
    std::copy(std::begin(ident), std::end(ident), bytes.begin());
    bytes[16] = 3;
    bytes[18] = static_cast<char>(machine & 0xff);
    bytes[19] = static_cast<char>(machine >> 8);
    return dir.write(name, bytes);
  };
  CHECK_THAT(error_of(dir.write("text.so", "just some text\n")),
             Contains("not an ELF file") && !Contains("Bad file descriptor"));
  CHECK_THAT(error_of(dir.write("empty.so", "")), Contains("the file is empty"));
  CHECK_THAT(error_of(elf("i386.so", 1, 3)), Contains("an ELF file for 32-bit i386"));
  CHECK_THAT(error_of(elf("arm64.so", 2, 183)), Contains("an ELF file for 64-bit aarch64") && Contains("this host is"));
  fs::create_directories(dir.path() / "folder.so");
  CHECK_THAT(error_of(dir.path() / "folder.so"), Contains("a directory, not a library file"));
}

TEST_CASE("a plugin.toml whose name is 30,000 characters is refused without recursion", "[trust][plugin.toml]") {
  const std::string text = "name = \"" + std::string(30000, 'a') +
                           "\"\nkind = \"model\"\nversion = \"1.0.0\"\n"
                           "abi_version = \"1.5\"\nlibrary = \"libx.so\"\n";
  try {
    genlab::parse_plugin_manifest(text, "/tmp");
    FAIL("accepted");
  } catch (const std::exception& e) {
    CHECK_THAT(std::string(e.what()), Contains("at most 128 characters"));
  }
}
